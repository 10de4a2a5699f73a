import { v7 as uuidv7 } from 'uuid';
import { DEFAULT_LIMITS } from '../../domain/runtimes';
import { Prisma } from '../../generated/prisma/client';
import { reserve } from '../../store/capacity';
import { createDb, MAX_PREPARED_STATEMENTS, preparedName, queryRows } from '../../store/db';
import type { Db } from '../../store/db';
import { EXECUTION_FIELDS, findExecution } from '../../store/executions';
import { applyTransition, createExecution } from '../../store/transitions';
import { resetDatabase, testConfig } from '../support/harness';

// queryRows sends the hot paths' raw statements to the client's pg pool, not through Prisma: what they return must
// not change with the path (a timestamp as a Date, an int as a number, jsonb parsed, a uuid[] as strings).
const config = testConfig();
let db: Db;

beforeAll(async () => {
  db = createDb(config.databaseUrl);
  await resetDatabase(db);
});
afterAll(() => db?.$disconnect());

async function finishedExecution(): Promise<string> {
  const id = uuidv7();
  await createExecution(db, { id, ownerId: 'rows', correlationId: id, language: 'bash', version: '5', script: 'true', stdin: 'in', limits: DEFAULT_LIMITS }, 'test', config.service);
  const at = new Date();
  await applyTransition(db, { executionId: id, from: ['queued'], to: 'running', actor: 'test', fields: { startedAt: at }, producer: config.service });
  await applyTransition(db, {
    executionId: id, from: ['running'], to: 'completed', actor: 'test', producer: config.service,
    fields: { exitCode: 0, stdout: 'out', stdoutTruncated: false, stderr: '', stderrTruncated: false, wallTimeMs: 12, cpuTimeMs: 3, peakMemoryKb: 2048, oomKilled: false, sandboxed: true, finishedAt: new Date(at.getTime() + 12) },
  });
  return id;
}

test('a row read through the pool equals the same statement through Prisma, in a transaction', async () => {
  const id = await finishedExecution();
  const direct = await findExecution(db, id);
  const statement = Prisma.sql`SELECT ${EXECUTION_FIELDS} FROM executions WHERE id = ${id}::uuid`;
  const [throughPrisma] = await db.$transaction((tx) => queryRows(tx, statement));
  expect(direct).toEqual(throughPrisma);
  expect(direct).toMatchObject({ status: 'completed', exitCode: 0, wallTimeMs: 12, eventSeq: 3, limits: DEFAULT_LIMITS, stdin: 'in' });
  expect(direct!.startedAt).toBeInstanceOf(Date);
  expect(direct!.finishedAt!.getTime() - direct!.startedAt!.getTime()).toBe(12);
  // The model query, Prisma's own parsing end to end.
  expect(direct).toEqual(expect.objectContaining(await db.execution.findUniqueOrThrow({ where: { id } })));
});

test('array and array-parameter columns arrive as arrays on both paths', async () => {
  const id = uuidv7();
  await createExecution(db, { id, ownerId: 'rows', correlationId: id, language: 'bash', version: '5', script: 'true', stdin: null, limits: DEFAULT_LIMITS }, 'test', config.service);
  const { reservation, grantedOthers } = await reserve(db, { global: 10, perOwner: 10, perLanguage: 10 }, { executionId: id, ownerId: 'rows', language: 'bash' });
  expect(reservation).toEqual({ granted: true, position: null });
  expect(grantedOthers).toEqual([]);
  const statement = Prisma.sql`SELECT ${[id, id]}::uuid[]::text[] AS ids, ${['a', 'b']}::text[] && ARRAY['b'] AS overlaps`;
  const direct = await queryRows(db, statement);
  expect(direct).toEqual([{ ids: [id, id], overlaps: true }]);
  expect(await db.$transaction((tx) => queryRows(tx, statement))).toEqual(direct);
});

test('a disconnected client ends its pool: a later raw statement is refused, not left waiting', async () => {
  const own = createDb(config.databaseUrl, { maxConnections: 1 });
  expect(await queryRows(own, Prisma.sql`SELECT 1 AS one`)).toEqual([{ one: 1 }]);
  await own.$disconnect();
  await own.$disconnect(); // twice is fine
  await expect(queryRows(own, Prisma.sql`SELECT 1 AS one`)).rejects.toThrow(/after calling end/);
});

test('a raw statement is prepared once per connection and then only bound; past the cap, new texts go unprepared', async () => {
  const own = createDb(config.databaseUrl, { maxConnections: 1 });
  try {
    const id = await finishedExecution();
    const read = () => findExecution(own, id);
    const first = await read();
    expect(await read()).toEqual(first);
    const prepared = await queryRows<{ statement: string; calls: number }>(own, Prisma.sql`
      SELECT statement, generic_plans + custom_plans AS calls FROM pg_prepared_statements WHERE statement LIKE '%FROM executions WHERE id =%' AND statement NOT LIKE '%pg_prepared_statements%'`);
    // One statement on the one connection (this query is the other one prepared), planned for each of its runs.
    expect(prepared).toHaveLength(1);
    expect(Number(prepared[0]!.calls)).toBe(2);
    expect(preparedName(prepared[0]!.statement)).toMatch(/^eo_[0-9a-f]{24}$/);
    // Distinct texts up to the cap get names of their own; the texts after it none, those named before keep theirs.
    const names = Array.from({ length: MAX_PREPARED_STATEMENTS + 5 }, (_, i) => preparedName(`SELECT ${i} AS n`));
    const named = names.filter((name) => name !== undefined);
    expect(new Set(named).size).toBe(named.length);
    expect(named.length).toBeLessThanOrEqual(MAX_PREPARED_STATEMENTS);
    expect(names.slice(-5)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(preparedName(prepared[0]!.statement)).toMatch(/^eo_/);
    expect(await queryRows(own, Prisma.sql`SELECT ${MAX_PREPARED_STATEMENTS + 4}::int AS n`)).toEqual([{ n: MAX_PREPARED_STATEMENTS + 4 }]);
  } finally {
    await own.$disconnect();
  }
});

test('a client made with prepared: false (the API’s) prepares no statement', async () => {
  const own = createDb(config.databaseUrl, { maxConnections: 1, prepared: false });
  try {
    const id = await finishedExecution();
    expect(await findExecution(own, id)).toMatchObject({ id, status: 'completed' });
    expect(await queryRows(own, Prisma.sql`SELECT count(*)::int AS n FROM pg_prepared_statements`)).toEqual([{ n: 0 }]);
  } finally {
    await own.$disconnect();
  }
});
