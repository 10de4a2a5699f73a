import { randomUUID } from 'node:crypto';
import { downPart, upPart } from '../../stack';
import { serviceForThisFile, waitFor } from '../support/harness';
import { apiMetrics, holdFault, relayMetrics, readyz, sampleOf } from './fault-tools';
import { expectNothingLost, loadWithFault } from './invariants';

// Postgres and the Temporal server go away under load. A client that retries its POST with the same
// Idempotency-Key (as a client of this API should) loses nothing: every execution it was promised ends once,
// and every event reaches Kafka once.
const ctx = serviceForThisFile({ RELAY_POLL_INTERVAL_MS: '500', SAGA_OUTAGE_PAUSE_MS: '2000' });

/** Submits like a careful client: on any failure, the same request with the same key again, for up to 90 s. */
async function submitWithRetries(): Promise<string> {
  const key = randomUUID();
  const until = Date.now() + 90_000;
  for (;;) {
    const res = await ctx.api
      .call('POST', '/executions', { language: 'bash', script: 'echo "$RANDOM"' }, { 'idempotency-key': key })
      .catch((err: unknown) => ({ status: 0, json: { id: '', error: String(err) } }));
    if ((res.status === 201 || res.status === 200) && res.json.id) return res.json.id;
    if (Date.now() > until) throw new Error(`POST kept failing: ${res.status} ${JSON.stringify(res.json)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

// A step before the run that outlasts its retry preset ends the saga in `error` (the script never ran): a
// terminal state of its own, recorded once with its event — allowed beside `completed`.
const ENDINGS = ['completed', 'error'];

test('Postgres stopped for 30 s under load, then started again: /readyz and the relay’s metrics show it, then every accepted execution ends once and every event reaches Kafka', async () => {
  const seenDuring: Record<string, unknown> = {};
  const run = await loadWithFault(ctx.service, submitWithRetries, {
    count: 16,
    everyMs: 250,
    faultAfterMs: 1_000,
    fault: async () => {
      await downPart('postgres');
      const downAt = Date.now();
      seenDuring.readyz = await waitFor('/readyz to report Postgres down', async () => {
        const r = await readyz(ctx.service.api.url);
        return r.checks.postgres?.ok === false ? r : undefined;
      }, { deadlineMs: 20_000 });
      await waitFor('the relay to report Postgres down', async () => sampleOf(await relayMetrics(ctx.service.relay), 'eo_relay_database_up') === 0, { deadlineMs: 20_000 });
      // The API's own /metrics needs a key checked in Postgres: it cannot answer now (the relay's gauges can).
      seenDuring.apiMetrics = await apiMetrics(ctx.service.api.url, ctx.service.adminKey).then(() => 200, (err: Error) => err.message);
      await holdFault(30_000 - (Date.now() - downAt));
      await upPart('postgres');
    },
  });
  console.log(`seen during the Postgres outage: ${JSON.stringify(seenDuring)}`);
  expect(seenDuring.readyz).toMatchObject({ status: 503, checks: { postgres: { ok: false } } });
  await expectNothingLost(ctx.service, 'Postgres stopped 30 s', run, { endings: ENDINGS, deadlineMs: 180_000 });
  // Back without a restart: ready again, the relay reaches Postgres, the backlog is gone.
  await waitFor('/readyz to be ready again', async () => (await readyz(ctx.service.api.url)).status === 200, { deadlineMs: 30_000 });
  expect(sampleOf(await relayMetrics(ctx.service.relay), 'eo_relay_database_up')).toBe(1);
  const after = await apiMetrics(ctx.service.api.url, ctx.service.adminKey);
  expect([sampleOf(after, 'eo_database_up'), sampleOf(after, 'eo_outbox_events', 'state="pending"'), sampleOf(after, 'eo_outbox_oldest_pending_age_seconds')]).toEqual([1, 0, 0]);
}, 420_000);

test.each([
  ['Postgres', 'postgres'],
  ['the Temporal server', 'temporal'],
] as const)('%s restarted under load: every accepted execution ends once and every event reaches Kafka', async (name, part) => {
  const run = await loadWithFault(ctx.service, submitWithRetries, {
    count: 16,
    everyMs: 250,
    faultAfterMs: 1_000,
    fault: async () => {
      await downPart(part);
      await upPart(part);
    },
  });
  await expectNothingLost(ctx.service, `${name} restarted`, run, { endings: ENDINGS, deadlineMs: 180_000 });
}, 420_000);
