import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@temporalio/client';
import { connectTemporalClient } from '../../temporal-connection';
import type { temporal as proto } from '@temporalio/proto';
import { startApiServer } from '../../api/server';
import type { ApiHandle } from '../../api/server';
import { codecKeyring } from '../../config';
import { createDataConverter } from '../../payload-codec/encryption-codec';
import { createDb } from '../../store/db';
import type { Db } from '../../store/db';
import { apiClient } from '../support/api-client';
import { createTestKey, removeReconcilerSchedule, resetDatabase, testConfig, testLog, waitFor } from '../support/harness';

// SIGTERM, as Kubernetes sends it, to the worker and the API run alone (`worker.ts`, `api/server.ts`) on the real stack.

const ROOT = path.join(__dirname, '..', '..');
const config = testConfig();
const baseEnv = {
  ...process.env,
  DATABASE_URL: config.databaseUrl,
  TEMPORAL_ADDRESS: config.temporal.address,
  TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
  REDIS_URL: config.redisUrl!,
  LOG_FORMAT: 'json',
  LOG_LEVEL: 'info',
  // Two workers at once on this host: each its own ops server port.
  OPS_PORT: '0',
};
let db: Db;
let api: ApiHandle;
let adminKey: string;
let temporal: Client;
const children: ChildProcess[] = [];

beforeAll(async () => {
  db = createDb(config.databaseUrl);
  await resetDatabase(db);
  adminKey = await createTestKey(db, 'admin');
  api = await startApiServer(config, testLog);
  temporal = new Client({ connection: await connectTemporalClient(config.temporal), namespace: config.temporal.namespace, dataConverter: createDataConverter(codecKeyring(config)) });
}, 60_000);
afterAll(async () => {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  await removeReconcilerSchedule(config);
  await temporal?.connection.close();
  await api?.stop();
  await db?.$disconnect();
});

interface Started {
  child: ChildProcess;
  /** The first log entry with this message. */
  entry(msg: string): Record<string, unknown> | undefined;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Starts an entry point as deployed (its own process, JSON logs) and resolves once it logged `readyMsg`. */
async function startProcess(entry: string, env: Record<string, string>, readyMsg: string): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, entry)], { env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const entries: Array<Record<string, unknown>> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      entries.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      entries.push({ msg: line });
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  const started: Started = { child, entry: (msg) => entries.find((e) => e.msg === msg), exited };
  await waitFor(`${entry} to log '${readyMsg}'`, async () => started.entry(readyMsg), { deadlineMs: 120_000, intervalMs: 50, giveUp: () => (child.exitCode !== null ? `it exited with ${child.exitCode}` : undefined) });
  return started;
}

const startWorkerProcess = (drainTimeoutMs: number) => startProcess('worker.ts', { DRAIN_TIMEOUT_MS: String(drainTimeoutMs) }, 'worker started');

/** Resolves once the run activity has heartbeated: the script is running on a worker. */
function runHeartbeating(id: string) {
  return waitFor(`execution ${id}'s script to run`, async () => {
    const { raw } = await temporal.workflow.getHandle(id).describe();
    const run = raw.pendingActivities?.find((a) => a.activityType?.name === 'runScript');
    return run?.lastHeartbeatTime ? run : undefined;
  }, { deadlineMs: 60_000, intervalMs: 50 });
}

/** The runScript attempt the history kept (the last one): who ran it, which attempt, and what the one before failed with. */
async function runAttemptOf(id: string) {
  const history = await temporal.workflow.getHandle(id).fetchHistory();
  const events = (history.events ?? []) as proto.api.history.v1.IHistoryEvent[];
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runScript');
  const started = events.find((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(scheduled?.eventId));
  const completed = events.some((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === String(scheduled?.eventId));
  const attrs = started?.activityTaskStartedEventAttributes;
  return { identity: attrs?.identity ?? '', attempt: attrs?.attempt ?? 0, lastFailure: attrs?.lastFailure?.message ?? null, completed };
}

const sleepingScript = (seconds: number, token: string) => ['import time', `time.sleep(${seconds})`, `print("done ${token}")`].join('\n');

test('a SIGTERMed worker stops taking tasks, lets its running script finish within the drain deadline, then exits 0; the saga goes on on another worker', async () => {
  const client = apiClient(api.url, adminKey);
  const drainMs = 60_000;
  const first = await startWorkerProcess(drainMs);
  const token = randomUUID();
  const { json } = await client.submit({ language: 'python', script: sleepingScript(3, token), limits: { wallTimeMs: 30_000 } });
  await runHeartbeating(json.id);

  const signalledAt = Date.now();
  first.child.kill('SIGTERM');
  // The drained worker takes nothing new: storing the result and the rest of the saga need this one.
  const second = await startWorkerProcess(drainMs);
  const done = await client.waitForStatus(json.id, (s) => s === 'completed' || s === 'failed' || s === 'error', 90_000);
  const exit = await waitFor('the drained worker to exit', async () => (first.child.exitCode !== null || first.child.signalCode !== null ? first.exited : undefined), { deadlineMs: drainMs + 15_000, intervalMs: 50 });
  console.log(`drain: worker exited ${exit.at - signalledAt} ms after SIGTERM (drain deadline ${drainMs} ms), its script finished`);

  expect(done.status).toBe('completed');
  expect(done.result.stdout).toBe(`done ${token}\n`);
  expect(exit).toMatchObject({ code: 0, signal: null });
  expect(first.entry('worker draining')).toMatchObject({ activities_running: 1, drain_timeout_ms: drainMs });
  // The one attempt, on the worker that was told to stop: it was neither cut off nor run again.
  const run = await runAttemptOf(json.id);
  expect(run).toMatchObject({ attempt: 1, completed: true });
  expect(run.identity).toContain(`${first.child.pid}@`);
  second.child.kill('SIGTERM');
  expect(await second.exited).toMatchObject({ code: 0 });
}, 240_000);

test('a script still running at the drain deadline is handed back: killed, its attempt failed, run again on another worker to completion', async () => {
  const client = apiClient(api.url, adminKey);
  const drainMs = 1_000;
  const first = await startWorkerProcess(drainMs);
  const token = randomUUID();
  const { json } = await client.submit({ language: 'python', script: sleepingScript(5, token), limits: { wallTimeMs: 30_000 } });
  await runHeartbeating(json.id);

  const signalledAt = Date.now();
  first.child.kill('SIGTERM');
  const exit = await first.exited;
  console.log(`drain: worker exited ${exit.at - signalledAt} ms after SIGTERM (drain deadline ${drainMs} ms), its script handed back`);
  expect(exit).toMatchObject({ code: 0, signal: null });

  const second = await startWorkerProcess(60_000);
  const done = await client.waitForStatus(json.id, (s) => s === 'completed' || s === 'failed' || s === 'error' || s === 'cancelled', 120_000);
  expect(done.status).toBe('completed');
  expect(done.result.stdout).toBe(`done ${token}\n`);
  const run = await runAttemptOf(json.id);
  console.log(`drain: the handed-back run completed on attempt ${run.attempt}; the attempt before failed with: ${run.lastFailure}`);
  expect(run.attempt).toBeGreaterThanOrEqual(2);
  expect(run.identity).toContain(`${second.child.pid}@`);
  expect(run.completed).toBe(true);
  // A hand-back is not a cancel: one running, one completed, nothing else recorded.
  const transitions = await db.executionTransition.findMany({ where: { executionId: json.id }, orderBy: { at: 'asc' } });
  expect(transitions.map((t) => t.toStatus)).toEqual(['queued', 'running', 'completed']);
  second.child.kill('SIGTERM');
  expect(await second.exited).toMatchObject({ code: 0 });
}, 240_000);

test('a SIGTERMed API finishes the request in flight, ends open event streams with a reconnect hint, refuses new connections and exits 0', async () => {
  const apiProcess = await startProcess('api/server.ts', { PORT: '0', DRAIN_TIMEOUT_MS: '30000' }, 'api listening');
  const url = new URL(String(apiProcess.entry('api listening')?.url));
  const auth = { authorization: `Bearer ${adminKey}` };
  // No worker on this task queue: the execution stays queued and its stream open.
  const { json } = await apiClient(url.origin, adminKey).submit({ language: 'bash', script: 'true' });

  const stream = await fetch(`${url.origin}/api/v1/executions/${json.id}/stream`, { headers: { accept: 'text/event-stream', ...auth } });
  expect(stream.status).toBe(200);
  const streamText = (async () => {
    let text = '';
    for await (const chunk of stream.body!) text += Buffer.from(chunk as Uint8Array).toString('utf8');
    return text;
  })();

  // A request in flight: its headers are in (the server answered 100-continue), its body not yet.
  const body = JSON.stringify({ language: 'bash', script: 'echo in-flight' });
  const inFlight = http.request({ host: url.hostname, port: url.port, method: 'POST', path: '/api/v1/executions', headers: { ...auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), expect: '100-continue' } });
  const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
    inFlight.on('response', (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    inFlight.on('error', reject);
  });
  await new Promise<void>((resolve) => inFlight.once('continue', resolve));

  apiProcess.child.kill('SIGTERM');
  const text = await streamText;
  const blocks = text.split('\n\n').filter((b) => b.trim() && !b.startsWith(':'));
  expect(blocks[0]).toContain('event: execution_requested');
  expect(blocks.at(-1)).toMatch(/^retry: 1000\nevent: reconnect\ndata: /);
  expect(text).not.toContain('event: end');
  await waitFor('the API to stop accepting connections', async () => {
    try {
      await fetch(`${url.origin}/healthz`);
      return undefined;
    } catch (err) {
      return String((err as Error & { cause?: { code?: string } }).cause?.code ?? err);
    }
  }, { deadlineMs: 10_000, intervalMs: 50 });

  inFlight.end(body);
  const response = await answered;
  expect(response.status).toBe(201);
  expect((JSON.parse(response.body) as { status: string }).status).toBe('queued');
  const exit = await apiProcess.exited;
  expect(exit).toMatchObject({ code: 0, signal: null });
}, 180_000);
