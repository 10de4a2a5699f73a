import { randomUUID } from 'node:crypto';
import { downPart, upPart } from '../../stack';
import { serviceForThisFile } from '../support/harness';
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

test('Postgres stopped for 30 s under load, then started again: every accepted execution ends once and every event reaches Kafka', async () => {
  const ids = await loadWithFault(submitWithRetries, {
    count: 16,
    everyMs: 250,
    faultAfterMs: 1_000,
    fault: async () => {
      await downPart('postgres');
      await new Promise((r) => setTimeout(r, 30_000));
      await upPart('postgres');
    },
  });
  await expectNothingLost(ctx.service, ids, { endings: ENDINGS, deadlineMs: 180_000 });
}, 420_000);

test('the Temporal server restarted under load: every accepted execution ends once and every event reaches Kafka', async () => {
  const ids = await loadWithFault(submitWithRetries, {
    count: 16,
    everyMs: 250,
    faultAfterMs: 1_000,
    fault: async () => {
      await downPart('temporal');
      await upPart('temporal');
    },
  });
  await expectNothingLost(ctx.service, ids, { endings: ENDINGS, deadlineMs: 180_000 });
}, 420_000);
