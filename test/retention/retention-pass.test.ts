import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import type { RetentionConfig } from '../../config';
import { DEFAULT_LIMITS } from '../../domain/runtimes';
import { runRetentionPass, startRetention } from '../../retention/retention-timer';
import { createDb } from '../../store/db';
import type { Db } from '../../store/db';
import { applyTransition, createExecution } from '../../store/transitions';
import { resetDatabase, testConfig, testLog, waitFor } from '../support/harness';

const config = testConfig();
const producer = config.service;
let db: Db;

beforeAll(async () => {
  db = createDb(config.databaseUrl);
});
beforeEach(() => resetDatabase(db));
afterAll(() => db?.$disconnect());

const DAY_H = 24;
/** Small batches, so a pass needs several of them. */
const retention = (overrides: Partial<RetentionConfig> = {}): RetentionConfig => ({
  intervalMs: 60_000,
  batchSize: 2,
  batchPauseMs: 0,
  publishedEventsHours: 7 * DAY_H,
  deadLettersHours: 30 * DAY_H,
  auditHours: 90 * DAY_H,
  finishedExecutionsHours: 90 * DAY_H,
  ...overrides,
});

async function execution(end: 'completed' | 'running' | 'queued'): Promise<string> {
  const id = uuidv7();
  await createExecution(db, { id, ownerId: 'o1', correlationId: id, language: 'bash', version: '5', script: 'true', stdin: null, limits: DEFAULT_LIMITS }, 'test', producer);
  if (end !== 'queued') await applyTransition(db, { executionId: id, from: ['queued'], to: 'running', actor: 'test', producer });
  if (end === 'completed') await applyTransition(db, { executionId: id, from: ['running'], to: 'completed', actor: 'test', fields: { finishedAt: new Date(), exitCode: 0 }, producer });
  return id;
}

/** Ages an execution and everything of it by `days` (the test's only way to make rows old). */
async function age(id: string, days: number, { eventsPublished = true }: { eventsPublished?: boolean } = {}): Promise<void> {
  const by = `${days} days`;
  await db.$executeRawUnsafe(`UPDATE executions SET created_at = created_at - $2::interval, finished_at = finished_at - $2::interval WHERE id = $1::uuid`, id, by);
  await db.$executeRawUnsafe(`UPDATE execution_transitions SET at = at - $2::interval WHERE execution_id = $1::uuid`, id, by);
  await db.$executeRawUnsafe(
    `UPDATE outbox_events SET created_at = created_at - $2::interval, state = CASE WHEN $3 THEN 'published'::"OutboxState" ELSE state END,
       published_at = CASE WHEN $3 THEN now() - $2::interval ELSE NULL END WHERE execution_id = $1::uuid`,
    id,
    by,
    eventsPublished,
  );
}

const rowsOf = async (id: string) => ({
  execution: await db.execution.count({ where: { id } }),
  transitions: await db.executionTransition.count({ where: { executionId: id } }),
  events: await db.outboxEvent.count({ where: { executionId: id } }),
});

test('finished executions past their TTL go with everything of theirs; younger, unfinished, or with an unpublished event, they stay', async () => {
  const expired = await Promise.all([1, 2, 3, 4, 5].map(() => execution('completed')));
  for (const id of expired) await age(id, 91);
  const young = await execution('completed');
  await age(young, 89);
  const stillRunning = await execution('running');
  await age(stillRunning, 200);
  const unpublished = await execution('completed');
  await age(unpublished, 120, { eventsPublished: false });

  const summary = await runRetentionPass(db, retention());
  expect(summary.finishedExecutions).toBe(5);
  for (const id of expired) expect(await rowsOf(id)).toEqual({ execution: 0, transitions: 0, events: 0 });
  expect(await rowsOf(young)).toEqual({ execution: 1, transitions: 3, events: 0 }); // its published events (89 days) are past their 7-day TTL
  expect(await rowsOf(stillRunning)).toMatchObject({ execution: 1, transitions: 2 }); // a live execution keeps its audit trail
  expect(await rowsOf(unpublished)).toEqual({ execution: 1, transitions: 0, events: 3 }); // its audit rows are past 90 days; its pending events are not deleted
});

test('published events expire after their TTL; pending ones and younger ones stay', async () => {
  const old = await execution('completed');
  await age(old, 8);
  const recent = await execution('completed');
  await age(recent, 6);
  const pending = await execution('completed');
  await age(pending, 30, { eventsPublished: false });
  const summary = await runRetentionPass(db, retention());
  expect(summary.publishedEvents).toBe(3);
  expect(await rowsOf(old)).toEqual({ execution: 1, transitions: 3, events: 0 });
  expect(await rowsOf(recent)).toEqual({ execution: 1, transitions: 3, events: 3 });
  expect(await rowsOf(pending)).toEqual({ execution: 1, transitions: 3, events: 3 });
});

test('dead letters expire after their TTL with their action audit; younger ones stay', async () => {
  const a = await execution('completed');
  const b = await execution('completed');
  await db.$executeRawUnsafe(`UPDATE outbox_events SET state = 'dead', created_at = now() - interval '31 days' WHERE execution_id = $1::uuid`, a);
  await db.$executeRawUnsafe(`UPDATE outbox_events SET state = 'discarded', created_at = now() - interval '29 days' WHERE execution_id = $1::uuid`, b);
  const deadId = (await db.outboxEvent.findFirstOrThrow({ where: { executionId: a } })).id;
  await db.deadLetterAction.create({ data: { id: uuidv7(), eventId: deadId, action: 'discard', actor: 'test', at: new Date() } });
  const summary = await runRetentionPass(db, retention());
  expect(summary.deadLetters).toBe(3);
  expect(await db.outboxEvent.count({ where: { executionId: a } })).toBe(0);
  expect(await db.deadLetterAction.count({ where: { eventId: deadId } })).toBe(0);
  expect(await db.outboxEvent.count({ where: { executionId: b } })).toBe(3);
});

test('audit rows of finished executions expire on their own TTL while the executions are kept', async () => {
  const finished = await execution('completed');
  await age(finished, 100);
  const running = await execution('running');
  await age(running, 100);
  const summary = await runRetentionPass(db, retention({ finishedExecutionsHours: 0 }));
  expect(summary.finishedExecutions).toBe(0);
  expect(summary.auditRows).toBe(3);
  expect(await rowsOf(finished)).toMatchObject({ execution: 1, transitions: 0 });
  expect(await rowsOf(running)).toMatchObject({ execution: 1, transitions: 2 });
});

test('a TTL of 0 keeps that kind of row', async () => {
  const id = await execution('completed');
  await age(id, 1000);
  const summary = await runRetentionPass(db, retention({ finishedExecutionsHours: 0, publishedEventsHours: 0, auditHours: 0, deadLettersHours: 0 }));
  expect(summary).toMatchObject({ finishedExecutions: 0, publishedEvents: 0, auditRows: 0, deadLetters: 0 });
  expect(await rowsOf(id)).toEqual({ execution: 1, transitions: 3, events: 3 });
});

test('a pass skips rows another transaction holds instead of waiting on them', async () => {
  const held = await execution('completed');
  const free = await execution('completed');
  await age(held, 8);
  await age(free, 8);
  const client = new pg.Client({ connectionString: config.databaseUrl });
  await client.connect();
  try {
    await client.query('BEGIN');
    // As the relay holds the rows it is publishing.
    await client.query('SELECT id FROM outbox_events WHERE execution_id = $1 FOR UPDATE', [held]);
    const summary = await runRetentionPass(db, retention());
    expect(summary.publishedEvents).toBe(3);
    expect(await rowsOf(held)).toMatchObject({ events: 3 });
    expect(await rowsOf(free)).toMatchObject({ events: 0 });
  } finally {
    await client.query('ROLLBACK');
    await client.end();
  }
});

test('the worker\'s timer runs passes on its own, and stops', async () => {
  const id = await execution('completed');
  await age(id, 91);
  const timer = startRetention(db, retention({ intervalMs: 50 }), testLog);
  try {
    await waitFor('a timed pass to delete the expired execution', async () => ((await rowsOf(id)).execution === 0 ? true : undefined), { deadlineMs: 10_000 });
  } finally {
    await timer.stop();
  }
});
