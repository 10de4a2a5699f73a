import { Client } from '@temporalio/client';
import { connectTemporalClient } from '../../temporal-connection';
import { createApp, type AppDeps } from '../../api/app';
import { connectRedis, createRateLimits } from '../../api/rate-limits';
import { startExecutionFeed } from '../../api/execution-feed';
import { startApiKeyCache } from '../../auth/key-cache';
import type { ResolvedConfig } from '../../config';
import type { Logger } from '../../observability/logger';
import { createDb } from '../../store/db';
import { createOwnerLocks } from '../../store/owner-locks';
import { codecKeyring } from '../../config';
import { codecAccessPlaceholder } from '../../api/routes/codec';
import { createDataConverter, EncryptionCodec } from '../../payload-codec/encryption-codec';
import type { Db } from '../../store/db';
import request from 'supertest';
import { createTestKey, testLog, waitFor } from './harness';
import { createWebhookSecretService } from '../../webhooks/secrets';

/** The Express app on the real database and Temporal, without worker or relay (for supertest). */
export async function createTestApp(config: ResolvedConfig, databaseUrl = config.databaseUrl, extras: Pick<AppDeps, 'installedRuntimes'> & { log?: Logger } = {}) {
  const log = extras.log ?? testLog;
  const db: Db = createDb(databaseUrl);
  const connection = await connectTemporalClient(config.temporal);
  const temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter: createDataConverter(codecKeyring(config)) });
  const codec = { codec: new EncryptionCodec(codecKeyring(config)), authorize: codecAccessPlaceholder(config.payloadCodec.endpointAccess ?? 'closed'), corsOrigins: config.payloadCodec.corsOrigins ?? [] };
  const feed = startExecutionFeed(databaseUrl, log);
  // As the API runs it: every test of the app goes through the key cache.
  const keyCache = config.api.keyCacheMs > 0 ? startApiKeyCache(databaseUrl, log, { ttlMs: config.api.keyCacheMs }) : undefined;
  if (!config.redisUrl) throw new Error('REDIS_URL is not set (the test global setup sets it)');
  const redis = await connectRedis(config.redisUrl, log);
  const ownerLocks = createOwnerLocks(databaseUrl);
  const rateLimits = createRateLimits({ redis, db, ownerLocks, limits: config.rateLimits, log });
  const app = createApp({ db, temporal, feed, log, listenHost: config.api.host, taskQueue: config.temporal.taskQueue, limitMaxima: config.limitMaxima, retryPresets: config.retryPresets, producer: config.service, saga: config.saga, installedRuntimes: extras.installedRuntimes, rateLimits, codec, webhooks: { secrets: createWebhookSecretService(db, codecKeyring(config)), allowHttp: config.webhooks.allowHttp }, streams: config.streams, serverTiming: config.api.serverTiming, keyCache });
  // An app on a database that does not answer (outage tests) gets no key: none could be made or checked.
  const adminKey = databaseUrl === config.databaseUrl ? await createTestKey(db, 'admin') : 'eo_0000000000_no-key-for-a-database-that-does-not-answer';
  /** Resolves once a submission's saga exists: with deferred starts (the default) it is started just after the 201. */
  const sagaStarted = (id: string) => waitFor(`the saga of ${id} to exist`, () => temporal.workflow.getHandle(id).describe().then(() => true), { deadlineMs: 10_000 });
  /** supertest on the app, every request sent with `token` (default: an admin key). */
  const as = (token: string) => {
    const agent = request.agent(app);
    agent.set('authorization', `Bearer ${token}`);
    return agent;
  };
  return {
    app,
    db,
    temporal,
    adminKey,
    as,
    /** supertest with the admin key. */
    api: () => as(adminKey),
    sagaStarted,
    /** Terminates the saga of a submission (no worker runs it here), once it exists. */
    async terminateSaga(id: string, reason = 'no worker in this test') {
      await sagaStarted(id);
      await temporal.workflow.getHandle(id).terminate(reason);
    },
    redis,
    async close() {
      await feed.close();
      await keyCache?.close();
      await connection.close();
      redis.disconnect();
      await ownerLocks.close();
      await db.$disconnect();
    },
  };
}
