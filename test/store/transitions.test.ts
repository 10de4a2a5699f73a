import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { EVENT_FOR_STATUS, envelopeSchema, eventPayloadSchemas } from '../../domain/events';
import { DEFAULT_LIMITS } from '../../domain/runtimes';
import { TRACEPARENT_PATTERN } from '../../observability/trace-context';
import { createDb } from '../../store/db';
import type { Db } from '../../store/db';
import { OwnerQuotaExceededError, TransitionRefusedError } from '../../store/errors';
import { countUnfinishedOfOwner, executionExists, findExecution } from '../../store/executions';
import { TERMINAL_STATUSES } from '../../domain/execution-status';
import { applyTransition, createExecution } from '../../store/transitions';
import { startExecutionFeed } from '../../api/execution-feed';
import { EXECUTION_CHANGES_CHANNEL, OUTBOX_CHANNEL } from '../../store/notifications';
import { resetDatabase, testConfig, testLog, waitFor } from '../support/harness';

const config = testConfig();
const producer = config.service;
let db: Db;

beforeAll(async () => {
  db = createDb(config.databaseUrl);
  await resetDatabase(db);
});
afterAll(() => db?.$disconnect());

async function newExecution(): Promise<string> {
  const id = uuidv7();
  await createExecution(db, { id, ownerId: 'o1', correlationId: id, language: 'python', version: '3', script: 'print(1)', stdin: null, limits: DEFAULT_LIMITS }, 'test', producer);
  return id;
}

const counts = async (id: string) => ({
  audit: await db.executionTransition.count({ where: { executionId: id } }),
  outbox: await db.outboxEvent.count({ where: { executionId: id } }),
});

test('creating an execution writes the row, one audit row and one execution_requested event', async () => {
  const id = await newExecution();
  const row = await db.execution.findUniqueOrThrow({ where: { id } });
  expect(row.status).toBe('queued');
  const event = await db.outboxEvent.findFirstOrThrow({ where: { executionId: id } });
  expect(event).toMatchObject({ sequence: 1, eventType: 'execution_requested', state: 'pending' });
  expect(await counts(id)).toEqual({ audit: 1, outbox: 1 });
});

test('creating the same execution twice writes nothing the second time', async () => {
  const id = await newExecution();
  const again = await createExecution(db, { id, ownerId: 'o1', correlationId: id, language: 'python', version: '3', script: 'print(1)', stdin: null, limits: DEFAULT_LIMITS }, 'test', producer);
  expect(again.created).toBe(false);
  expect(await counts(id)).toEqual({ audit: 1, outbox: 1 });
});

test('creating an execution returns the row as written: the same, field for field, as reading it back', async () => {
  const id = uuidv7();
  const previous = await newExecution();
  const { created, execution } = await createExecution(
    db,
    { id, ownerId: 'o-fields', correlationId: 'corr-1', retryOfId: previous, idempotencyKey: 'key-1', requestHash: 'hash-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', callbackUrl: 'https://example.test/hook', language: 'python', version: '3', script: "print('x')", stdin: 'in', limits: DEFAULT_LIMITS },
    'test',
    producer,
  );
  expect(created).toBe(true);
  expect(execution).toEqual(await db.execution.findUniqueOrThrow({ where: { id } }));
  expect(execution?.createdAt).toBeInstanceOf(Date);
  // The raw reads of the API and the worker give the same row; another owner's scope reads it as absent.
  await applyTransition(db, { executionId: id, from: ['queued'], to: 'running', actor: 'test', fields: { startedAt: new Date() }, producer });
  const read = await db.execution.findUniqueOrThrow({ where: { id } });
  expect(await findExecution(db, id)).toEqual(read);
  expect(await findExecution(db, id, 'o-fields')).toEqual(read);
  expect(await findExecution(db, id, 'someone-else')).toBeNull();
  expect(await findExecution(db, uuidv7())).toBeNull();
  expect([await executionExists(db, id), await executionExists(db, id, 'o-fields'), await executionExists(db, id, 'someone-else'), await executionExists(db, uuidv7())]).toEqual([true, true, false, false]);
});

test('with an owner quota of 3, of 8 creations of one owner at once exactly 3 are written; the rest are refused, saying how many are active', async () => {
  const owner = `o-quota-${uuidv7()}`;
  const create = (id: string) => createExecution(db, { id, ownerId: owner, correlationId: id, language: 'bash', version: '5', script: 'true', stdin: null, limits: DEFAULT_LIMITS }, 'test', producer, 3);
  const results = await Promise.allSettled(Array.from({ length: 8 }, () => create(uuidv7())));
  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
  const refusals = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  expect(refusals).toHaveLength(5);
  for (const refusal of refusals) expect(refusal).toMatchObject({ name: 'OwnerQuotaExceededError', active: 3, quota: 3 });
  expect(refusals[0]).toBeInstanceOf(OwnerQuotaExceededError);
  expect(await db.execution.count({ where: { ownerId: owner } })).toBe(3);
  // A finished execution frees its place.
  const [first] = await db.execution.findMany({ where: { ownerId: owner } });
  await applyTransition(db, { executionId: first!.id, from: ['queued'], to: 'cancelled', actor: 'test', producer });
  expect((await create(uuidv7())).created).toBe(true);
});

test('the owner quota counts through the index only the owner’s unfinished executions, not every one it ever had', async () => {
  const owner = `o-history-${uuidv7()}`;
  const create = (id: string) => createExecution(db, { id, ownerId: owner, correlationId: id, language: 'bash', version: '5', script: 'true', stdin: null, limits: DEFAULT_LIMITS }, 'test', producer, 100);
  const ids = Array.from({ length: 7 }, () => uuidv7());
  for (const id of ids) await create(id);
  for (const id of ids.slice(0, 5)) await applyTransition(db, { executionId: id, from: ['queued'], to: 'cancelled', actor: 'test', producer });
  // The cancelled rows' `queued` versions stay in the (owner_id, status) index until a vacuum, or a scan that marks
  // them dead, and are fetched meanwhile (a full run read 14 against 2): vacuumed, the count reads what it does in
  // the steady state.
  await db.$executeRawUnsafe('VACUUM executions');
  // Plain index scans only, so that every row the count reads is a heap fetch the transaction's statistics show.
  const [read] = await db.$transaction(async (tx) => {
    await tx.$executeRaw`SET LOCAL enable_seqscan = off`;
    await tx.$executeRaw`SET LOCAL enable_bitmapscan = off`;
    await tx.$executeRaw`SET LOCAL enable_indexonlyscan = off`;
    // The statistics not yet flushed may hold the connection's earlier statements too: the call's are the difference.
    const stats = () => tx.$queryRaw<{ seq_scan: bigint; idx_tup_fetch: bigint }[]>`
      SELECT seq_scan, idx_tup_fetch FROM pg_stat_xact_user_tables WHERE relname = 'executions'`;
    const [before] = await stats();
    const [gate] = await tx.$queryRaw<{ active: number }[]>`SELECT owner_admission(${owner}, ${[...TERMINAL_STATUSES]}::text[]) AS active`;
    const [after] = await stats();
    return [{ active: gate!.active, seq_scan: after!.seq_scan - before!.seq_scan, idx_tup_fetch: after!.idx_tup_fetch - before!.idx_tup_fetch }];
  });
  expect(read).toEqual({ active: 2, seq_scan: 0n, idx_tup_fetch: 2n });
  expect(await countUnfinishedOfOwner(db, owner)).toBe(2);
});

test('a transition writes the row, one audit row and one event with the next sequence', async () => {
  const id = await newExecution();
  const { applied, execution } = await applyTransition(db, { executionId: id, from: ['queued'], to: 'running', actor: 'test', producer });
  expect(applied).toBe(true);
  expect(execution.status).toBe('running');
  const events = await db.outboxEvent.findMany({ where: { executionId: id }, orderBy: { sequence: 'asc' } });
  expect(events.map((e) => [e.sequence, e.eventType])).toEqual([[1, 'execution_requested'], [2, 'execution_started']]);
  const audit = await db.executionTransition.findFirstOrThrow({ where: { executionId: id, toStatus: 'running' } });
  expect(audit).toMatchObject({ fromStatus: 'queued', actor: 'test', eventId: events[1]!.id });
});

test('a retried transition is recognised and writes nothing twice', async () => {
  const id = await newExecution();
  await applyTransition(db, { executionId: id, from: ['queued'], to: 'running', actor: 'test', producer });
  const retry = await applyTransition(db, { executionId: id, from: ['queued'], to: 'running', actor: 'test', producer });
  expect(retry.applied).toBe(false);
  expect(await counts(id)).toEqual({ audit: 2, outbox: 2 });
});

test('a transition the state machine does not allow is refused and writes nothing', async () => {
  const id = await newExecution();
  await applyTransition(db, { executionId: id, from: ['queued'], to: 'running', actor: 'test', producer });
  await applyTransition(db, { executionId: id, from: ['running'], to: 'completed', actor: 'test', producer });
  await expect(applyTransition(db, { executionId: id, from: ['running'], to: 'failed', actor: 'test', producer })).rejects.toThrow(TransitionRefusedError);
  await expect(applyTransition(db, { executionId: id, from: ['completed'], to: 'running', actor: 'test', producer })).rejects.toThrow(/completed/);
  expect((await db.execution.findUniqueOrThrow({ where: { id } })).status).toBe('completed');
  expect(await counts(id)).toEqual({ audit: 3, outbox: 3 });
});

test('concurrent terminal transitions: exactly one wins', async () => {
  const id = await newExecution();
  await applyTransition(db, { executionId: id, from: ['queued'], to: 'running', actor: 'test', producer });
  const results = await Promise.allSettled(
    (['completed', 'cancelled', 'failed', 'error'] as const).map((to) => applyTransition(db, { executionId: id, from: ['running'], to, actor: 'test', producer })),
  );
  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  expect(await counts(id)).toEqual({ audit: 3, outbox: 3 });
});

test('each transition returns its row as written and writes an event that says what the row says, valid by its schema, caused by the event before it', async () => {
  const finishedAt = new Date(Date.now() - 1000);
  const result = { exitCode: 3, signal: null, stdout: 'out', stdoutTruncated: false, stderr: 'e', stderrTruncated: true, wallTimeMs: 12, cpuTimeMs: 7, peakMemoryKb: 900, oomKilled: false, sandboxed: true, errorType: 'script_error' as const, errorMessage: 'exit 3', startedAt: new Date(finishedAt.getTime() - 12), finishedAt };
  const cases = [
    { to: 'failed' as const, fields: result, reason: null },
    { to: 'completed' as const, fields: { ...result, exitCode: 0, errorType: null, errorMessage: null }, reason: null },
    { to: 'timed_out' as const, fields: { ...result, exitCode: null, signal: 'SIGKILL', errorType: 'timeout' as const }, reason: null },
    { to: 'cancelled' as const, fields: { errorType: 'cancelled' as const, errorMessage: 'cancelled by test', finishedAt }, reason: 'not needed' },
    { to: 'error' as const, fields: { errorType: 'system_error' as const, errorMessage: 'gave up' }, reason: null },
  ];
  for (const { to, fields, reason } of cases) {
    const id = await newExecution();
    const started = await applyTransition(db, { executionId: id, from: ['queued'], to: 'running', actor: 'test', fields: { startedAt: result.startedAt }, producer });
    const ended = await applyTransition(db, { executionId: id, from: ['running'], to, actor: 'saga', reason, fields, producer });
    expect(started.execution).toMatchObject({ status: 'running', startedAt: result.startedAt, eventSeq: 2 });
    expect(await db.execution.findUniqueOrThrow({ where: { id } })).toEqual(ended.execution);
    const row = ended.execution;
    const events = await db.outboxEvent.findMany({ where: { executionId: id }, orderBy: { sequence: 'asc' } });
    expect(events.map((e) => e.sequence)).toEqual([1, 2, 3]);
    for (const [i, event] of events.entries()) {
      const envelope = envelopeSchema.parse(event.envelope);
      const payload = eventPayloadSchemas[envelope.event_type].parse(envelope.payload);
      expect(envelope).toMatchObject({ event_id: event.id, event_type: event.eventType, aggregate_id: id, correlation_id: id, causation_id: i === 0 ? null : events[i - 1]!.id, producer });
      if (i === 0) continue;
      expect(new Date(envelope.occurred_at)).toEqual(event.createdAt);
      if (i === 1) expect(payload).toEqual({ execution_id: id, started_at: result.startedAt.toISOString() });
    }
    const last = envelopeSchema.parse(events[2]!.envelope);
    expect(last.event_type).toBe(EVENT_FOR_STATUS[to]);
    expect(new Date(last.occurred_at)).toEqual(row.updatedAt);
    expect(last.payload).toEqual(
      to === 'cancelled'
        ? { execution_id: id, reason, actor: 'saga', cancelled_at: finishedAt.toISOString() }
        : {
            execution_id: id, status: to, exit_code: row.exitCode, signal: row.signal, error_type: row.errorType, error_message: row.errorMessage,
            wall_time_ms: row.wallTimeMs, cpu_time_ms: row.cpuTimeMs, peak_memory_kb: row.peakMemoryKb, oom_killed: row.oomKilled, sandboxed: row.sandboxed,
            stdout_truncated: row.stdoutTruncated, stderr_truncated: row.stderrTruncated, finished_at: (row.finishedAt ?? row.updatedAt).toISOString(),
          },
    );
    if (to === 'failed') expect(row).toMatchObject({ exitCode: 3, stderrTruncated: true, peakMemoryKb: 900, sandboxed: true, stdout: 'out', finishedAt });
    const audit = await db.executionTransition.findFirstOrThrow({ where: { executionId: id, toStatus: to } });
    expect(audit).toMatchObject({ fromStatus: 'running', actor: 'saga', reason, eventId: events[2]!.id, at: row.updatedAt });
  }
});

test('a transition of an execution created in a trace carries that trace in its Kafka headers, under a parent of its own', async () => {
  const id = uuidv7();
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  await createExecution(db, { id, ownerId: 'o1', correlationId: id, language: 'python', version: '3', script: 'print(1)', stdin: null, limits: DEFAULT_LIMITS, traceparent }, 'test', producer);
  await applyTransition(db, { executionId: id, from: ['queued'], to: 'running', actor: 'test', producer });
  const started = await db.outboxEvent.findFirstOrThrow({ where: { executionId: id, sequence: 2 } });
  const header = (started.headers as { traceparent?: string }).traceparent;
  expect(header).toMatch(TRACEPARENT_PATTERN);
  expect(header!.split('-')[1]).toBe('0af7651916cd43dd8448eb211c80319c');
  expect(header!.split('-')[2]).not.toBe('b7ad6b7169203331');
  expect(header!.split('-')[3]).toBe('01');
});

test('a transition of an execution that does not exist is refused', async () => {
  await expect(applyTransition(db, { executionId: uuidv7(), from: ['queued'], to: 'running', actor: 'test', producer })).rejects.toThrow(/does not exist/);
});

test('each transition notifies the API’s execution feed with that execution’s id, and only its subscribers', async () => {
  // Created before the feed listens, so their creation is not news to it.
  const id = await newExecution();
  const other = await newExecution();
  const feed = startExecutionFeed(config.databaseUrl, testLog);
  await feed.listening();
  try {
    const seen: string[] = [];
    const unsubscribe = feed.subscribe(id, { onChange: () => seen.push(id), onClose: () => undefined });
    feed.subscribe(other, { onChange: () => seen.push(other), onClose: () => undefined });
    await applyTransition(db, { executionId: id, from: ['queued'], to: 'running', actor: 'test', producer });
    await waitFor('the feed to report the change', async () => (seen.includes(id) ? true : undefined), { deadlineMs: 5_000 });
    expect(seen).toEqual([id]);
    unsubscribe();
    await applyTransition(db, { executionId: id, from: ['running'], to: 'cancelled', actor: 'test', producer });
    await applyTransition(db, { executionId: other, from: ['queued'], to: 'running', actor: 'test', producer });
    await waitFor('the other execution’s change', async () => (seen.includes(other) ? true : undefined), { deadlineMs: 5_000 });
    expect(seen).toEqual([id, other]);
  } finally {
    await feed.close();
  }
});

test('a creation wakes the relay but not the execution feed, which no stream of it can be listening to yet; a transition wakes both', async () => {
  const listener = new pg.Client({ connectionString: config.databaseUrl });
  await listener.connect();
  try {
    const heard: string[] = [];
    listener.on('notification', (n) => heard.push(n.channel === OUTBOX_CHANNEL ? 'relay' : `feed ${n.payload}`));
    await listener.query(`LISTEN ${OUTBOX_CHANNEL}`);
    await listener.query(`LISTEN ${EXECUTION_CHANGES_CHANNEL}`);
    const id = await newExecution();
    await applyTransition(db, { executionId: id, from: ['queued'], to: 'running', actor: 'test', producer });
    // Notifications arrive in commit order: once the transition's are here, the creation's are too.
    await waitFor('the transition’s wake-ups', async () => (heard.includes(`feed ${id}`) ? true : undefined), { deadlineMs: 5_000 });
    expect(heard).toEqual(['relay', 'relay', `feed ${id}`]);
  } finally {
    await listener.end();
  }
});

test('a transition, its event and its audit row are stamped when it is applied under the row lock, not when its transaction began waiting for it', async () => {
  const id = await newExecution();
  let lockTaken!: () => void;
  let release!: () => void;
  const taken = new Promise<void>((resolve) => (lockTaken = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  const holder = db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT id FROM executions WHERE id = ${id}::uuid FOR UPDATE`;
    lockTaken();
    await released;
  });
  await taken;
  const transition = applyTransition(db, { executionId: id, from: ['queued'], to: 'running', actor: 'test', producer });
  await new Promise((resolve) => setTimeout(resolve, 300)); // the transition's transaction waits for the lock meanwhile
  const lockReleasedAt = Date.now();
  release();
  await holder;
  await transition;
  const audit = await db.executionTransition.findFirstOrThrow({ where: { executionId: id, toStatus: 'running' } });
  const event = await db.outboxEvent.findFirstOrThrow({ where: { executionId: id, sequence: 2 } });
  // Millisecond columns; 5 ms of slack for rounding.
  expect(audit.at.getTime()).toBeGreaterThanOrEqual(lockReleasedAt - 5);
  expect(event.createdAt.getTime()).toBeGreaterThanOrEqual(lockReleasedAt - 5);
});
