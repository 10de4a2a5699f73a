import pg from 'pg';

// A bench database as a service meets it after months of use: finished executions by the hundred thousand, each
// with its published events and audit rows, so that a statement that reads an owner's history, or the whole
// table, costs here what it costs there (a fresh database hides it: 20-23 ms a POST for the quota's count at
// 97,000 finished executions of one owner, 0.2 ms on an empty one).

/** Owners the history is spread over besides the bench's own, which gets a tenth of it. */
const OTHER_OWNERS = 1_000;

/** Every row within the last day: no retention TTL (168 h at the least) deletes any during a bench. */
const SPREAD = "interval '23 hours'";

/**
 * Writes `executions` finished executions (`completed`, created over the last 23 hours), a tenth of them of
 * `benchOwner`, each with its three published events and three audit rows, then VACUUM ANALYZEs, as an old
 * database would be. Returns how long it took, ms.
 */
export async function seedHistory(databaseUrl: string, executions: number, benchOwner: string): Promise<number> {
  const started = performance.now();
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query(`CREATE TEMP TABLE seeded ON COMMIT DROP AS
      SELECT gen_random_uuid() AS id,
             CASE WHEN n % 10 = 0 THEN $2 ELSE 'owner-' || (n % ${OTHER_OWNERS}) END AS owner_id,
             now() - ${SPREAD} * random() AS created_at
        FROM generate_series(1, $1::int) n`, [executions, benchOwner]);
    await client.query(`INSERT INTO executions (id, owner_id, language, language_version, script, stdin, limits, status, workflow_id,
                                                correlation_id, event_seq, exit_code, stdout, stderr, wall_time_ms, cpu_time_ms,
                                                sandboxed, created_at, updated_at, started_at, finished_at, saga_started_at)
      SELECT id, owner_id, 'bash', '5', 'echo hello', NULL, '{"wallTimeMs": 10000, "memoryMb": 256, "cpus": 1}'::jsonb,
             'completed', id::text, id::text, 3, 0, 'hello' || chr(10), '', 25, 4, true,
             created_at, created_at + interval '400 ms', created_at + interval '300 ms', created_at + interval '400 ms', created_at
        FROM seeded`);
    // One event and one audit row per status entered: queued, running, completed.
    const steps = `(VALUES (1, 'execution_requested', NULL::"ExecutionStatus", 'queued'::"ExecutionStatus", interval '0 ms'),
                           (2, 'execution_started', 'queued', 'running', interval '300 ms'),
                           (3, 'execution_completed', 'running', 'completed', interval '400 ms')) AS step(sequence, event_type, from_status, to_status, after)`;
    await client.query(`CREATE TEMP TABLE seeded_events ON COMMIT DROP AS
      SELECT gen_random_uuid() AS event_id, s.id, s.owner_id, s.created_at + step.after AS at, step.*
        FROM seeded s CROSS JOIN ${steps}`);
    await client.query(`INSERT INTO outbox_events (id, execution_id, sequence, event_type, envelope, headers, state, attempts, next_attempt_at, created_at, published_at)
      SELECT event_id, id, sequence, event_type,
             jsonb_build_object('event_id', event_id, 'event_type', event_type, 'aggregate_id', id, 'correlation_id', id,
                                'occurred_at', at, 'producer', 'bench-history', 'schema_version', 1, 'payload', jsonb_build_object('execution_id', id)),
             '{}'::jsonb, 'published', 1, at, at, at + interval '10 ms'
        FROM seeded_events`);
    await client.query(`INSERT INTO execution_transitions (id, execution_id, from_status, to_status, at, actor, event_id)
      SELECT gen_random_uuid(), id, from_status, to_status, at, 'bench-history', event_id FROM seeded_events`);
    await client.query('COMMIT');
    await client.query('VACUUM ANALYZE executions, outbox_events, execution_transitions');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
  return performance.now() - started;
}
