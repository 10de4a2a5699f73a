import { randomUUID } from 'node:crypto';
import { Consumer, stringDeserializers } from '@platformatic/kafka';
import type pg from 'pg';
import { OUTBOX_CHANNEL } from '../store/notifications';
import { waitForQuiet, type Quiet } from './cpu-account';
import { atFixedRate, summarize, type Summary } from './stats';
import { waitUntil } from './processes';

// Section 4 with nothing but the relay at work: events committed straight into the outbox, each in a transaction
// of its own as a status change commits it (insert + NOTIFY), with no POST, no saga start and no worker around
// them. Section 4's other row times the same path during section 5's POSTs, where on this 2-core machine the
// POSTs' own CPU (their saga starts, Postgres, the Temporal server) is what the events wait behind.

/** The topic the bench's events go to: the one every execution's first event goes to. */
const TOPIC = 'execution_requested';

export interface RelayAloneResult {
  /** Commit → read from Kafka at a fixed rate. */
  atRate: { quiet: Quiet; eventsPerSecond: number; seconds: number; committed: number; read: number; latencyMs: Summary };
  /** A backlog committed in one transaction, drained at the relay's full speed. */
  backlog: { events: number; executions: number; read: number; drainMs: number; eventsPerSecond: number; relayBatches: number };
}

/**
 * Commits copies of `executions`' first event (a fresh event id, the next sequence, `occurred_at` = the commit's
 * time): first `rate` a second for `seconds`, each timed from its commit to a Kafka consumer; then `backlog` events
 * at once (four an execution, or more when there are too few executions), timed from their commit to the last one read.
 */
export async function measureRelayAlone(db: pg.Pool, brokers: string[], executions: readonly string[], rate: number, seconds: number, backlog: number): Promise<RelayAloneResult> {
  if (executions.length === 0) throw new Error('the relay bench needs executions to add events to');
  const consumer = new Consumer({ groupId: `bench-${randomUUID()}`, clientId: 'bench-relay', bootstrapBrokers: brokers, deserializers: stringDeserializers });
  const latencies = new Map<string, number>(); // event id → commit → read, ms
  let lastReadAt = 0;
  const stream = await consumer.consume({ topics: [TOPIC], mode: 'latest', autocommit: false, maxWaitTime: 50 });
  stream.on('data', (m) => {
    const envelope = JSON.parse(m.value) as { event_id: string; occurred_at: string };
    lastReadAt = Date.now();
    latencies.set(envelope.event_id, lastReadAt - Date.parse(envelope.occurred_at));
  });
  try {
    await new Promise((r) => setTimeout(r, 2000)); // the group joins and takes its partitions
    const quiet = await waitForQuiet();

    const committedAtRate: string[] = [];
    let turn = 0;
    await atFixedRate(rate, seconds * 1000, async () => {
      const executionId = executions[turn++ % executions.length]!;
      committedAtRate.push(...(await commitCopies(db, [executionId], 1)));
    });
    await waitUntil('every event committed at the rate read from Kafka', async () => committedAtRate.every((id) => latencies.has(id)), 30_000).catch(() => undefined);
    const atRateLatencies = committedAtRate.flatMap((id) => (latencies.has(id) ? [latencies.get(id)!] : []));

    // Four events an execution, as a saga commits them, over as many executions as there are; more each when there are too few.
    const perExecution = Math.max(4, Math.ceil(backlog / executions.length));
    const used = executions.slice(0, Math.ceil(backlog / perExecution));
    const committedAt = Date.now();
    const backlogIds = await commitCopies(db, used, perExecution);
    await waitUntil('the backlog read from Kafka', async () => backlogIds.every((id) => latencies.has(id)), 120_000).catch(() => undefined);
    const read = backlogIds.filter((id) => latencies.has(id)).length;
    const drainMs = lastReadAt - committedAt;
    // A relay batch is settled in one statement: its rows share `published_at`.
    const batches = await db.query<{ n: string }>(`SELECT count(DISTINCT published_at) AS n FROM outbox_events WHERE id = ANY($1::uuid[])`, [backlogIds]);
    return {
      atRate: { quiet, eventsPerSecond: rate, seconds, committed: committedAtRate.length, read: atRateLatencies.length, latencyMs: summarize(atRateLatencies) },
      backlog: { events: backlogIds.length, executions: used.length, read, drainMs, eventsPerSecond: Math.round((read / drainMs) * 1000), relayBatches: Number(batches.rows[0]?.n ?? 0) },
    };
  } finally {
    await stream.close();
    await consumer.close(true);
  }
}

/**
 * One transaction: `perExecution` copies of each execution's first event after its last one, then the relay's
 * NOTIFY, as a status change writes them. Returns the new events' ids.
 */
async function commitCopies(db: pg.Pool, executionIds: readonly string[], perExecution: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `WITH source AS (
       SELECT o.execution_id, o.envelope, o.headers, (SELECT max(sequence) FROM outbox_events m WHERE m.execution_id = o.execution_id) AS last
         FROM outbox_events o WHERE o.execution_id = ANY($1::uuid[]) AND o.sequence = 1
     ), copies AS (
       SELECT gen_random_uuid() AS id, s.*, n FROM source s, generate_series(1, $2::int) AS n
     ), inserted AS (
       INSERT INTO outbox_events (id, execution_id, sequence, event_type, envelope, headers, created_at, next_attempt_at)
       SELECT id, execution_id, last + n, '${TOPIC}',
              envelope || jsonb_build_object('event_id', id::text, 'occurred_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
              headers, now(), now()
         FROM copies
       RETURNING id
     )
     SELECT inserted.id::text FROM inserted, (SELECT pg_notify('${OUTBOX_CHANNEL}', '')) AS woken`,
    [executionIds, perExecution],
  );
  return rows.map((r) => r.id);
}
