import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { createKafkaPublisher } from '../../relay/kafka-publisher';
import { createOutboxRelay } from '../../relay/outbox-relay';
import type { OutboxRelay } from '../../relay/outbox-relay';
import { createDb } from '../../store/db';
import { claimHeads } from '../../store/outbox';
import { OUTBOX_CHANNEL } from '../../store/notifications';
import type { Db } from '../../store/db';
import { collectKafka } from '../support/kafka-collector';
import { resetDatabase, testConfig, testLog, waitFor } from '../support/harness';

const config = testConfig();
const brokers = config.kafka.brokers!;
let db: Db;
let pool: pg.Pool;
const relays: OutboxRelay[] = [];

beforeAll(async () => {
  db = createDb(config.databaseUrl);
  pool = new pg.Pool({ connectionString: config.databaseUrl, max: 8 });
});
beforeEach(() => resetDatabase(db));
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop()));
});
afterAll(async () => {
  await pool?.end();
  await db?.$disconnect();
});

/** Writes an execution with `count` pending outbox events on `topic`, each carrying its sequence. */
async function seedExecution(topic: string, count: number, payloadBytes = 100): Promise<string> {
  const id = uuidv7();
  await pool.query(
    `INSERT INTO executions (id, owner_id, language, language_version, script, limits, workflow_id, correlation_id, updated_at)
     VALUES ($1::uuid, 'o', 'python', '3', 'print(1)', '{}', $1::text, $1::text, now())`,
    [id],
  );
  for (let sequence = 1; sequence <= count; sequence++) {
    const envelope = { event_id: uuidv7(), aggregate_id: id, sequence, pad: 'x'.repeat(payloadBytes) };
    await pool.query(`INSERT INTO outbox_events (id, execution_id, sequence, event_type, envelope) VALUES ($1, $2, $3, $4, $5)`, [envelope.event_id, id, sequence, topic, envelope]);
  }
  return id;
}

function createRelay(topic: string, publisherBrokers = brokers, extra: { maxAttempts?: number; batchSize?: number } = {}): OutboxRelay {
  const relay = createOutboxRelay({
    pool,
    databaseUrl: config.databaseUrl,
    publisher: createKafkaPublisher({ brokers: publisherBrokers, clientId: `test-relay-${randomUUID()}`, timeoutMs: 2_000 }),
    log: testLog,
    batchSize: 20,
    pollIntervalMs: 200,
    topics: [topic],
    ...extra,
  });
  relays.push(relay);
  return relay;
}

test('two relays publish every event once, in sequence order per execution', async () => {
  const topic = `relay-order-${randomUUID()}`;
  const relayA = createRelay(topic, brokers, { batchSize: 5 });
  const relayB = createRelay(topic, brokers, { batchSize: 5 });
  await Promise.all([relayA.start(), relayB.start()]);
  const ids = await Promise.all(Array.from({ length: 30 }, () => seedExecution(topic, 6)));
  await pool.query(`SELECT pg_notify('${OUTBOX_CHANNEL}', '')`); // both relays wake at once and compete
  const kafka = await collectKafka(brokers, [topic]);
  try {
    await waitFor('all 180 events on Kafka', async () => (kafka.messages.length >= 180 ? true : undefined), { deadlineMs: 60_000 });
    // Nothing more arrives: no event was published twice.
    await new Promise((r) => setTimeout(r, 500));
    expect(kafka.messages).toHaveLength(180);
    for (const id of ids) {
      const sequences = kafka.forKey(id).map((m) => (JSON.parse(m.value) as { sequence: number }).sequence);
      expect(sequences).toEqual([1, 2, 3, 4, 5, 6]);
    }
    const { rows } = await pool.query(`SELECT state, attempts, count(*)::int AS n FROM outbox_events GROUP BY state, attempts`);
    expect(rows).toEqual([{ state: 'published', attempts: 1, n: 180 }]);
    expect(relayA.status().published + relayB.status().published).toBe(180);
    expect(relayA.status().published).toBeGreaterThan(0);
    expect(relayB.status().published).toBeGreaterThan(0);
  } finally {
    await kafka.close();
  }
}, 90_000);

test('two claims at once take the oldest heads of different executions, and an event waiting on a retry holds back the ones behind it', async () => {
  const topic = `relay-claim-${randomUUID()}`;
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) ids.push(await seedExecution(topic, 3)); // one after another: oldest first
  // The first execution's head waits for a retry an hour away: its sequences 2 and 3 must wait with it.
  await pool.query(`UPDATE outbox_events SET next_attempt_at = now() + interval '1 hour' WHERE execution_id = $1 AND sequence = 1`, [ids[0]]);
  const [a, b] = [await pool.connect(), await pool.connect()];
  try {
    await a.query('BEGIN');
    await b.query('BEGIN');
    const first = await claimHeads(a, 10);
    const second = await claimHeads(b, 10); // while the first claim's locks are held
    expect(first.map((r) => r.execution_id)).toEqual(ids.slice(1, 11));
    expect(second.map((r) => r.execution_id)).toEqual(ids.slice(11, 21));
    expect([...first, ...second].every((r) => r.sequence === 1)).toBe(true);
  } finally {
    await a.query('ROLLBACK');
    await b.query('ROLLBACK');
    a.release();
    b.release();
  }
});

test('an event Kafka rejects on its own is retried, then dead-lettered, and the execution’s later events follow', async () => {
  const topic = `relay-reject-${randomUUID()}`;
  const bad = await seedExecution(topic, 1, 2 * 1024 * 1024); // above the broker's 1 MiB message limit
  await pool.query(
    `INSERT INTO outbox_events (id, execution_id, sequence, event_type, envelope) VALUES ($1, $2, 2, $3, '{"sequence":2}')`,
    [uuidv7(), bad, topic],
  );
  await seedExecution(topic, 2);
  const relay = createRelay(topic, brokers, { maxAttempts: 2 });
  await relay.start();
  const dead = await waitFor('the oversized event to be dead-lettered', async () => {
    const { rows } = await pool.query(`SELECT state, attempts, last_error FROM outbox_events WHERE execution_id = $1 AND sequence = 1`, [bad]);
    return rows[0]?.state === 'dead' ? rows[0] : undefined;
  }, { deadlineMs: 30_000 });
  expect(dead.attempts).toBe(2);
  expect(dead.last_error).toMatch(/larger than the max message size/i);
  await waitFor('the later events to be published', async () => {
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM outbox_events WHERE state = 'published'`);
    return rows[0].n === 3 ? true : undefined;
  });
  expect(relay.status().deadLettered).toBe(1);
  expect(relay.status().circuit).toBe('closed');
  const dlq = await collectKafka(brokers, [`${topic}.dlq`]);
  try {
    const [record] = await waitFor('the dead letter on the .dlq topic', async () => (dlq.forKey(bad).length > 0 ? dlq.forKey(bad) : undefined));
    expect(JSON.parse(record!.value)).toMatchObject({ aggregate_id: bad, sequence: 1, error: expect.stringMatching(/larger than the max message size/) });
  } finally {
    await dlq.close();
  }
}, 60_000);

test('a broker outage pauses the relay without spending attempts, and events wait in the outbox', async () => {
  const topic = `relay-outage-${randomUUID()}`;
  await seedExecution(topic, 3);
  const relay = createRelay(topic, ['127.0.0.1:1']);
  await relay.start();
  await waitFor('the circuit to open', async () => (relay.status().circuit === 'open' ? true : undefined), { deadlineMs: 30_000 });
  expect(relay.status().lastError).toBeTruthy();
  const { rows } = await pool.query(`SELECT state, attempts FROM outbox_events`);
  expect(rows).toEqual(Array(3).fill({ state: 'pending', attempts: 0 }));
}, 60_000);
