// Records real histories from the dev server — executionSaga, one per way an execution can end, and a
// reconciler pass — for the replay test. Run when a workflow version is released:
//   npm run replay:record -- <version label, e.g. v1> [scenario ...]   (all scenarios when none is named)
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { validate as validateUuid } from 'uuid';
import globalSetup from '../support/global-setup';
import globalTeardown from '../support/global-teardown';
import { apiClient, TERMINAL } from '../support/api-client';
import { startService, waitFor } from '../support/harness';
import { RECONCILE_WORKFLOW_NAME } from '../../domain/saga';
import { closedSagaQuery } from '../../reconciler/closed-sagas';
import { codecKeyring } from '../../config';
import { EncryptionCodec } from '../../payload-codec/encryption-codec';
import { mapHistoryPayloads } from '../support/history-payloads';
import { startWebhookReceiver } from '../support/webhook-receiver';

async function main(): Promise<void> {
  const version = process.argv[2];
  if (!version || !/^v\d+$/.test(version)) throw new Error('usage: npm run replay:record -- v<N> [scenario ...]');
  const only = process.argv.slice(3);
  await globalSetup();
  // `aggressive` gives up after 2 attempts, so the compensated scenario ends quickly.
  // Every saga scenario asks for a completion webhook (since the completion-webhook patch, v3): to a receiver on
  // loopback, which the allow-list opens; it answers 500 once, so each history holds a retried attempt.
  const service = await startService({ CAPACITY_GLOBAL: '4', RETRY_PRESETS_JSON: '{"aggressive":{"maximumAttempts":2},"webhook":{"initialIntervalMs":200,"maximumAttempts":3}}', WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1/32' });
  const api = apiClient(service.api.url, service.adminKey);
  const receiver = await startWebhookReceiver();
  const { json: made } = await api.call('POST', '/webhook-secret', {});
  receiver.useSecret((made as unknown as { secret: string }).secret);
  let hooks = 0;
  const callbackUrl = () => {
    const path = `/replay-${(hooks += 1)}`;
    receiver.script(path, [500, 200]);
    return receiver.url(path);
  };
  const codec = new EncryptionCodec(codecKeyring(service.config));
  const ended = (id: string) => api.waitForStatus(id, (s) => TERMINAL.includes(s), 60_000);
  try {
    const scenarios: Record<string, () => Promise<string>> = {
      completed: async () => (await ended((await api.submit({ language: 'python', script: 'print("hi")', callbackUrl: callbackUrl() })).json.id)).id,
      failed: async () => (await ended((await api.submit({ language: 'bash', script: 'exit 3', callbackUrl: callbackUrl() })).json.id)).id,
      timed_out: async () => (await ended((await api.submit({ language: 'bash', script: 'sleep 30', limits: { wallTimeMs: 500 }, callbackUrl: callbackUrl() })).json.id)).id,
      cancelled: async () => {
        const { json } = await api.submit({ language: 'bash', script: 'sleep 60', limits: { wallTimeMs: 120_000 }, callbackUrl: callbackUrl() });
        await api.waitForStatus(json.id, (s) => s === 'running');
        await api.cancel(json.id, 'recorded for replay');
        return (await ended(json.id)).id;
      },
      // Marking it running fails until retries run out: releaseCapacity compensates, error is recorded.
      // (v1 failed storeResult instead; since the outlast-database-outages patch a finishing step waits an outage out.)
      compensated: async () => {
        await service.db.$executeRawUnsafe(`ALTER TABLE executions ADD CONSTRAINT replay_refuse_running CHECK (status <> 'running') NOT VALID`);
        try {
          return (await ended((await api.submit({ language: 'python', script: 'print("never")', callbackUrl: callbackUrl() })).json.id)).id;
        } finally {
          await service.db.$executeRawUnsafe('ALTER TABLE executions DROP CONSTRAINT replay_refuse_running');
        }
      },
      // A reconciler pass that records the end of a terminated saga.
      reconciler: async () => {
        const { json } = await api.submit({ language: 'bash', script: 'sleep 60', limits: { wallTimeMs: 120_000 } });
        await api.waitForStatus(json.id, (s) => s === 'running');
        await service.temporal.workflow.getHandle(json.id).terminate('recorded for replay');
        const query = closedSagaQuery(service.config.temporal.taskQueue);
        await waitFor('the terminated saga in visibility', async () => ((await service.temporal.workflow.count(query)).count > 0 ? true : undefined));
        const workflowId = `reconcile-replay-${json.id}`;
        const summary = await service.temporal.workflow.execute(RECONCILE_WORKFLOW_NAME, { workflowId, taskQueue: service.config.temporal.taskQueue, args: [{ retryPresets: service.config.retryPresets }] });
        console.log('reconciler pass:', JSON.stringify(summary));
        return workflowId;
      },
    };
    for (const [name, run] of Object.entries(scenarios)) {
      if (only.length > 0 && !only.includes(name)) continue;
      const id = await run();
      const handle = service.temporal.workflow.getHandle(id);
      await waitFor(`workflow ${id} to close`, async () => ((await handle.describe()).status.name !== 'RUNNING' ? true : undefined));
      const file = path.join(__dirname, 'histories', `${version}-${name}.json`);
      // Stored decrypted: a fixture must replay without this run's key (the replay test encrypts a copy itself).
      const history = JSON.parse(historyToJSON(await handle.fetchHistory())) as unknown;
      await mapHistoryPayloads(history, (payloads) => codec.decode(payloads));
      writeFileSync(file, JSON.stringify(history, null, 2));
      // Saga workflow ids are execution ids; the reconciler's are not.
      const row = validateUuid(id) ? await service.db.execution.findUnique({ where: { id } }) : null;
      console.log(`${name}: ${id} ended ${row?.status ?? (await handle.describe()).status.name} → ${path.relative(process.cwd(), file)}`);
    }
    console.log(`webhooks received: ${receiver.received.length}, signatures verified: ${receiver.received.filter((r) => r.verified).length}`);
  } finally {
    await receiver.close();
    await service.stop();
    await globalTeardown();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
