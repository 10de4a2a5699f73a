import { downPart, statusPart, upPart } from '../../stack';
import { serviceForThisFile, waitFor } from '../support/harness';
import { expectNothingLost, loadWithFault } from './invariants';

// Real outages of the real broker under a steady load of executions: they must all end, and every event
// must reach Kafka once the broker is back — nothing lost, nothing out of order, no dead letter.
const OUTAGE_MS = 30_000;
// Few attempts a message: an outage that wrongly spent them would dead-letter events within seconds.
const ctx = serviceForThisFile({ RELAY_POLL_INTERVAL_MS: '500', RELAY_MAX_ATTEMPTS: '3' });

const submit = async () => {
  const { status, json } = await ctx.api.submit({ language: 'bash', script: 'echo "$RANDOM"' });
  expect(status).toBe(201);
  return json.id;
};


test('Kafka stopped for 30 s under load, then started again: every execution ends and every event reaches Kafka, in order, none dead-lettered', async () => {
  const ids = await loadWithFault(submit, {
    count: 24,
    everyMs: 250,
    faultAfterMs: 1_000,
    fault: async () => {
      await downPart('kafka');
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      await upPart('kafka');
    },
  });
  await expectNothingLost(ctx.service, ids);
}, 240_000);

test('Kafka SIGKILLed under load, then started again: every execution ends and every event reaches Kafka, none dead-lettered', async () => {
  const ids = await loadWithFault(submit, {
    count: 24,
    everyMs: 250,
    faultAfterMs: 1_000,
    fault: async () => {
      const { pid } = await statusPart('kafka');
      if (pid === undefined) throw new Error('this test needs the local stack’s own Kafka (KAFKA_BROKERS unset)');
      process.kill(pid, 'SIGKILL');
      await waitFor('Kafka to die', async () => (!(await statusPart('kafka')).healthy ? true : undefined), { deadlineMs: 15_000 });
      await new Promise((r) => setTimeout(r, 10_000));
      await upPart('kafka');
    },
  });
  await expectNothingLost(ctx.service, ids);
}, 240_000);
