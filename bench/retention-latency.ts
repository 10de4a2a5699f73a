// Hot-path latency during a retention pass: POST /executions one after another (closed loop: a saturated API
// would measure its own queue, not the database), (1) with nothing else running, (2) while a pass deletes
// ~100k aged rows with the default batching, (3) while a pass deletes as many in one statement (what batching
// avoids); (2) and (3) repeat seed + pass `rounds` times to gather samples. API + relay in this process on the
// local stack; the worker is stopped, so a POST is the API's own work (key, limits, quota, workflow start, row).
//   npx tsx bench/retention-latency.ts [--seconds=20] [--rounds=5] [--executions=25000]
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import globalSetup from '../test/support/global-setup';
import globalTeardown from '../test/support/global-teardown';
import { startService } from '../test/support/harness';
import type { RunningService } from '../test/support/harness';
import { runRetentionPass } from '../retention/retention-timer';
import type { RetentionConfig } from '../config';
import { numberFlag } from './flags';
import { summarize } from './stats';
import type { Summary } from './stats';

const SECONDS = numberFlag('seconds', 20);
const ROUNDS = numberFlag('rounds', 5);
/** Aged executions seeded: each with 2 transitions and 1 published event, so 4 rows each. */
const EXECUTIONS = numberFlag('executions', 25_000);

async function seed(service: RunningService): Promise<number> {
  const db = service.db;
  await db.$executeRawUnsafe(`
    INSERT INTO executions (id, owner_id, language, language_version, script, limits, status, workflow_id, correlation_id, event_seq, created_at, updated_at, started_at, finished_at, exit_code)
    SELECT g.id, 'aged', 'bash', '5', 'true', '{}'::jsonb, 'completed', g.id::text, g.id::text, 2, now() - interval '100 days', now() - interval '100 days', now() - interval '100 days', now() - interval '100 days', 0
    FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, ${EXECUTIONS})) g`);
  await db.$executeRawUnsafe(`
    INSERT INTO execution_transitions (id, execution_id, from_status, to_status, at, actor, event_id)
    SELECT gen_random_uuid(), e.id, s.from_status::"ExecutionStatus", s.to_status::"ExecutionStatus", e.finished_at, 'bench', gen_random_uuid()
    FROM executions e CROSS JOIN (VALUES (NULL, 'queued'), ('queued', 'completed')) s(from_status, to_status) WHERE e.owner_id = 'aged'`);
  await db.$executeRawUnsafe(`
    INSERT INTO outbox_events (id, execution_id, sequence, event_type, envelope, state, created_at, published_at)
    SELECT gen_random_uuid(), e.id, 1, 'execution_completed', '{"payload":{}}'::jsonb, 'published', e.finished_at, e.finished_at
    FROM executions e WHERE e.owner_id = 'aged'`);
  await db.$executeRawUnsafe('ANALYZE');
  return EXECUTIONS * 4;
}

async function main(): Promise<void> {
  await globalSetup();
  const service = await startService({
    RETENTION_INTERVAL_MS: String(24 * 3_600_000), // only the passes this script runs
    RATE_LIMIT_REQUESTS_PER_SECOND: '100000',
    RATE_LIMIT_EXECUTIONS_PER_MINUTE: '1000000',
    QUOTA_ACTIVE_EXECUTIONS_PER_OWNER: '100000',
  });
  const post = async () => {
    const res = await fetch(`${service.api.url}/api/v1/executions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${service.adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'bash', script: 'true' }),
    });
    if (res.status !== 201) throw new Error(`POST answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
  };
  /** POSTs one after another until `done()`; each timed. */
  const sequential = async (done: () => boolean) => {
    const latencies: number[] = [];
    while (!done()) {
      const t = performance.now();
      await post();
      latencies.push(performance.now() - t);
    }
    return latencies;
  };
  const forSeconds = (seconds: number) => {
    const until = performance.now() + seconds * 1000;
    return () => performance.now() >= until;
  };
  const during = async (config: RetentionConfig) => {
    const latencies: number[] = [];
    const passes: object[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const seeded = await seed(service);
      let done = false;
      const pass = runRetentionPass(service.db, config).finally(() => {
        done = true;
      });
      latencies.push(...(await sequential(() => done)));
      passes.push({ seeded, ...(await pass) });
    }
    return { post: summarize(latencies), passes };
  };
  const results: Record<string, { post: Summary; passes?: object[] }> = {};
  try {
    await service.worker.stop();
    service.worker.stop = () => Promise.resolve(); // stopped once; the service's stop would close it again
    await sequential(forSeconds(3)); // warm-up
    results.baseline = { post: summarize(await sequential(forSeconds(SECONDS))) };
    console.log('baseline', JSON.stringify(results.baseline));
    const batched = service.config.retention;
    results.batched = await during(batched);
    console.log(`batched (batch ${batched.batchSize}, pause ${batched.batchPauseMs} ms)`, JSON.stringify(results.batched));
    results.oneStatement = await during({ ...batched, batchSize: 10_000_000, batchPauseMs: 0 });
    console.log('one statement', JSON.stringify(results.oneStatement));
    results.baselineAfter = { post: summarize(await sequential(forSeconds(SECONDS))) };
    console.log('baseline after', JSON.stringify(results.baselineAfter));
  } finally {
    await service.stop();
    await globalTeardown();
  }
  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `retention-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ seconds: SECONDS, rounds: ROUNDS, executions: EXECUTIONS, loadAverage: (await import('node:os')).loadavg(), results }, null, 2));
  console.log(`→ ${path.relative(process.cwd(), file)}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
