import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { connectTemporalClient } from '../../temporal-connection';
import { startApiServer } from '../../api/server';
import type { ApiHandle } from '../../api/server';
import { createDb } from '../../store/db';
import type { Db } from '../../store/db';
import { createLogger } from '../../observability/logger';
import { applyTransition } from '../../store/transitions';
import { createTestKey, resetDatabase, testConfig } from '../support/harness';

// schemathesis (PyPI, pinned in scripts/schemathesis-venv.sh) against the document the API serves, on a real API
// (real Postgres, Temporal, Redis; no worker: the sagas it starts wait, and are terminated at the end), once with a
// user key and once with an admin key. An event stream lasts until its execution ends: beside the run, every
// execution it starts is ended (`cancelled`, through the store's guarded transition, as an operator's stop would
// be recorded), so that each stream it opens closes within the API's re-check interval. Seed and examples are pinned so that a run is repeatable and a few minutes
// at most. Any failed check fails the test, with schemathesis's report printed.
const SEED = '20261201';
const MAX_EXAMPLES = '15';
const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_headers_conformance',
  'response_schema_conformance',
  'positive_data_acceptance',
  'negative_data_rejection',
  'unsupported_method',
].join(',');

// Limits far above what the run sends: a 429 is documented, but it would stand in for the answers under test.
const config = testConfig({ RATE_LIMIT_REQUESTS_PER_SECOND: '100000', RATE_LIMIT_EXECUTIONS_PER_MINUTE: '100000', QUOTA_ACTIVE_EXECUTIONS_PER_OWNER: '100000' });
let db: Db;
let api: ApiHandle;
let st: string;
let ender: NodeJS.Timeout | undefined;

beforeAll(async () => {
  // The first run installs schemathesis into the cache (about a minute); later runs find it there.
  st = execFileSync('bash', [path.join(__dirname, '..', '..', 'scripts', 'schemathesis-venv.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 300_000 }).trim();
  db = createDb(config.databaseUrl);
  await resetDatabase(db);
  // The run's own traffic (404s, live-state timeouts of sagas no worker runs) would drown the test's output.
  api = await startApiServer(config, createLogger({ level: 'error', name: 'schemathesis-api' }));
  const endQueued = async () => {
    const queued = await db.execution.findMany({ where: { status: 'queued' }, select: { id: true } });
    for (const { id } of queued) {
      await applyTransition(db, { executionId: id, from: ['queued'], to: 'cancelled', actor: 'test:schemathesis', reason: 'keeps event streams finite', fields: { errorType: 'cancelled', errorMessage: 'ended by the test', finishedAt: new Date() }, producer: config.service }).catch(() => undefined);
    }
  };
  ender = setInterval(() => void endQueued().catch(() => undefined), 300);
}, 330_000);

afterAll(async () => {
  clearInterval(ender);
  await api?.stop();
  // The sagas the run started have no worker on their task queue: end them here rather than at their run timeout.
  const connection = await connectTemporalClient(config.temporal);
  const client = new Client({ connection, namespace: config.temporal.namespace });
  for await (const wf of client.workflow.list({ query: `TaskQueue = '${config.temporal.taskQueue}' AND ExecutionStatus = 'Running'` })) {
    await client.workflow.getHandle(wf.workflowId, wf.runId).terminate('schemathesis run over').catch(() => undefined);
  }
  await connection.close();
  await db?.$disconnect();
}, 120_000);

/** Runs schemathesis with `token`; resolves with its exit code and output. */
function runSchemathesis(token: string): Promise<{ code: number | null; output: string }> {
  const args = [
    '--config-file', path.join(__dirname, 'schemathesis.toml'),
    'run', `${api.url}/api/v1/openapi.json`,
    '--url', api.url,
    '--header', `Authorization: Bearer ${token}`,
    '--checks', CHECKS,
    '--seed', SEED,
    '--max-examples', MAX_EXAMPLES,
    '--phases', 'examples,coverage,fuzzing',
    '--workers', '1',
    '--request-timeout', '10',
    // Postgres cannot store NUL in text: the API refuses it in every string with 400, as its description says.
    '--generation-allow-x00', 'false',
    '--generation-database', 'none',
    '--no-color',
  ];
  return new Promise((resolve, reject) => {
    // In a directory of its own: schemathesis keeps a .schemathesis folder (replays) where it runs.
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'eo-schemathesis-'));
    const child = spawn(st, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      rmSync(cwd, { recursive: true, force: true });
      resolve({ code, output });
    });
  });
}

/**
 * schemathesis's report without its pytest-style banners: a line like "=== 1 warning in 20.23s ===" reads as a
 * test runner closing on no test, and CI took the whole run for one that executed none.
 */
const withoutBanners = (output: string) =>
  output
    .split('\n')
    .filter((line) => !/^\s*=+ .* =+\s*$/.test(line))
    .join('\n');

/** The "N generated" count of schemathesis's summary. */
const generatedCases = (output: string) => /(\d+) generated/.exec(output)?.[1] ?? '?';

for (const role of ['user', 'admin'] as const) {
  test(`schemathesis with a ${role} key: no server error, no valid request refused, no undocumented status, no schema violation`, async () => {
    const token = await createTestKey(db, role, `schemathesis-${role}`);
    const { code, output } = await runSchemathesis(token);
    console.log(`schemathesis (${role} key, seed ${SEED}, ≤${MAX_EXAMPLES} examples per operation): exit ${code}, ${generatedCases(output)} test cases generated\n${withoutBanners(output)}`);
    expect(code).toBe(0);
  }, 600_000);
}
