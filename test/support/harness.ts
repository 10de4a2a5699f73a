import { RECONCILE_WORKFLOW_NAME } from '../../domain/saga';
import type { ReconcileSummary } from '../../domain/saga';
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { connectTemporalClient } from '../../temporal-connection';
import { startApiServer } from '../../api/server';
import type { ApiHandle } from '../../api/server';
import { codecKeyring, loadConfig } from '../../config';
import { createDataConverter } from '../../payload-codec/encryption-codec';
import type { ResolvedConfig } from '../../config';
import { createLogger } from '../../observability/logger';
import { startRelay } from '../../relay/main';
import type { RelayHandle } from '../../relay/main';
import { createApiKeyService } from '../../auth/api-keys';
import type { ApiKeyRole } from '../../store/api-keys';
import { createDb } from '../../store/db';
import type { Db } from '../../store/db';
import { startWorker, workflowModulesOf } from '../../worker';
import { deleteReconcilerSchedule } from '../../reconciler/schedule';
import { apiClient } from './api-client';
import { sagaBundleFile } from './workflow-bundle';
import type { WorkerHandle, WorkerOptions } from '../../worker';

/** Config for one test file: the global setup's endpoints, a task queue of its own, and any overrides. */
export function testConfig(env: Record<string, string> = {}): ResolvedConfig {
  // A key's requests per second are what test/api/rate-limits*.test.ts test, with limits of their own. Left at
  // the default (50/s), two lanes of waitForStatus (a GET every 20 ms each) pass it, and a submission beside
  // them is refused with 429.
  const config = loadConfig({ RATE_LIMIT_REQUESTS_PER_SECOND: '100000', ...process.env, TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`, PORT: '0', ...env });
  return config as ResolvedConfig;
}

export const testLog = createLogger({ level: process.env.LOG_LEVEL ?? 'warn', name: 'test' });

/**
 * A new API key, made through the store as `npm run keys` makes one; returns its token. Keys are not
 * emptied by {@link resetDatabase}: each test file makes its own.
 */
export async function createTestKey(db: Db, role: ApiKeyRole = 'user', ownerId = `test-${role}`): Promise<string> {
  return (await createApiKeyService(db).create({ ownerId, role, name: 'test' })).token;
}

/** The Authorization header of a key. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The `key:<prefix>` actor audit rows record for a token. */
export const actorOfToken = (token: string) => `key:${token.split('_')[1]}`;

/** Empties every table but the API keys: each test file starts from a clean database. */
export async function resetDatabase(db: Db): Promise<void> {
  await db.$executeRawUnsafe('TRUNCATE executions, execution_transitions, outbox_events, dead_letter_actions, capacity_reservations, capacity_owners, webhook_secrets CASCADE');
}

export interface RunningService {
  config: ResolvedConfig;
  db: Db;
  temporal: Client;
  api: ApiHandle;
  worker: WorkerHandle;
  relay: RelayHandle;
  /** An admin key (owner `test-admin`). */
  adminKey: string;
  /** A user key of this owner (one per owner, made on first use). */
  userKey(ownerId: string): Promise<string>;
  stop(): Promise<void>;
}

/** API + worker + relay in this process, on the real stack — what `npm start` runs. */
export async function startService(env: Record<string, string> = {}, workerOptions: WorkerOptions = {}): Promise<RunningService> {
  const config = testConfig(env);
  const db = createDb(config.databaseUrl);
  await resetDatabase(db);
  const adminKey = await createTestKey(db, 'admin');
  const userKeys = new Map<string, Promise<string>>();
  const connection = await connectTemporalClient(config.temporal);
  const temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter: createDataConverter(codecKeyring(config)) });
  const worker = await startWorker(config, testLog, { workflowBundlePath: await sagaBundleFile(workflowModulesOf(workerOptions)), ...workerOptions });
  const relay = await startRelay(config, testLog);
  const api = await startApiServer(config, testLog, { relayStatus: relay.relay.status });
  return {
    config,
    db,
    temporal,
    api,
    worker,
    relay,
    adminKey,
    userKey(ownerId) {
      if (!userKeys.has(ownerId)) userKeys.set(ownerId, createTestKey(db, 'user', ownerId));
      return userKeys.get(ownerId)!;
    },
    async stop() {
      await timedStop('api', () => api.stop());
      await timedStop('worker', () => worker.stop());
      await timedStop('reconciler schedule', () => deleteReconcilerSchedule(temporal, config.temporal.taskQueue));
      await timedStop('relay', () => relay.stop());
      await timedStop('Temporal client', () => connection.close());
      await timedStop('Prisma', () => db.$disconnect());
    },
  };
}

/** One component's stop, named in the output when it is slow. */
async function timedStop(part: string, stop: () => Promise<unknown>): Promise<void> {
  const began = Date.now();
  const slow = setInterval(() => console.warn(`service stop: ${part} still stopping after ${Math.round((Date.now() - began) / 1000)} s`), 15_000);
  try {
    await stop();
  } finally {
    clearInterval(slow);
    if (Date.now() - began > 5_000) console.warn(`service stop: ${part} took ${Date.now() - began} ms`);
  }
}

/**
 * The whole service for one test file: started before its tests, stopped after them. Read `service` and
 * `api` inside tests (they are set once the file's beforeAll has run).
 */
export function serviceForThisFile(env: Record<string, string> = {}, workerOptions: WorkerOptions = {}) {
  const context = {} as { service: RunningService; api: ReturnType<typeof apiClient> };
  beforeAll(async () => {
    context.service = await startService(env, workerOptions);
    context.api = apiClient(context.service.api.url, context.service.adminKey);
  }, 120_000);
  // After a Postgres restart, Prisma's $disconnect may never settle: each component's stop bounds its steps
  // (process-stop.ts) and names the one it left behind; timedStop names the component.
  afterAll(() => context.service?.stop(), 300_000);
  return context;
}

/** The one polling helper, shared with the local stack's scripts. */
export { waitFor } from '../../stack/wait';

/** Deletes the reconciler schedule the workers of a test's task queue created, so finished runs leave none firing. */
export async function removeReconcilerSchedule(config: ResolvedConfig): Promise<void> {
  const connection = await connectTemporalClient(config.temporal);
  try {
    await deleteReconcilerSchedule(new Client({ connection, namespace: config.temporal.namespace }), config.temporal.taskQueue);
  } finally {
    await connection.close();
  }
}

/** One reconciler pass, run as the schedule runs it but awaited, so that its summary can be read. */
export function reconcileOnce(service: RunningService): Promise<ReconcileSummary> {
  return service.temporal.workflow.execute(RECONCILE_WORKFLOW_NAME, {
    taskQueue: service.config.temporal.taskQueue,
    workflowId: `reconcile-test-${randomUUID()}`,
    args: [{ retryPresets: service.config.retryPresets }],
  }) as Promise<ReconcileSummary>;
}
