import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createDb } from '../../store/db';
import { createTestKey, testConfig } from '../support/harness';

// The acceptance check as deployed: two API processes (`api/server.ts`, run alone as in production) on the
// stack's Redis share one limit.

const children: ChildProcess[] = [];
afterAll(async () => {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
});

/** Starts `api/server.ts` in a process of its own and resolves with its URL once it listens. */
async function apiProcess(env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', '..', 'api', 'server.ts')], {
    env: { ...process.env, ...env, PORT: '0', LOG_FORMAT: 'json', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the API process did not listen within 60 s')), 60_000);
    child.once('exit', (code) => reject(new Error(`the API process exited (${code}) before listening`)));
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === 'api listening' && entry.url) {
        clearTimeout(timer);
        resolve(entry.url);
      }
    });
  });
  return url;
}

test('two API processes on the same Redis share one limit: 3 executions per minute in all, not 3 each', async () => {
  const config = testConfig();
  const env = { DATABASE_URL: config.databaseUrl, TEMPORAL_ADDRESS: config.temporal.address, REDIS_URL: config.redisUrl!, TEMPORAL_TASK_QUEUE: config.temporal.taskQueue, RATE_LIMIT_EXECUTIONS_PER_MINUTE: '3' };
  const [a, b] = await Promise.all([apiProcess(env), apiProcess(env)]);
  const db = createDb(config.databaseUrl);
  const key = await createTestKey(db, 'user', `limits-${randomUUID()}`);
  await db.$disconnect();
  const submit = async (url: string) =>
    fetch(`${url}/api/v1/executions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ language: 'bash', script: 'true' }) });
  const statuses: number[] = [];
  for (const url of [a, b, a, b, a, b]) statuses.push((await submit(url)).status);
  expect(statuses).toEqual([201, 201, 201, 429, 429, 429]);
  const refused = await submit(a);
  expect(refused.headers.get('ratelimit-policy')).toContain('"executions";q=3;w=60');
  expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
}, 120_000);
