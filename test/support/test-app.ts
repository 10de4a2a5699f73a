import { Client, Connection } from '@temporalio/client';
import { createApp, type AppDeps } from '../../api/app';
import { connectRedis, createRateLimits } from '../../api/rate-limits';
import { startExecutionFeed } from '../../api/execution-feed';
import type { ResolvedConfig } from '../../config';
import type { Logger } from '../../observability/logger';
import { createDb } from '../../store/db';
import { createOwnerLocks } from '../../store/owner-locks';
import type { Db } from '../../store/db';
import { testLog } from './harness';

/** The Express app on the real database and Temporal, without worker or relay (for supertest). */
export async function createTestApp(config: ResolvedConfig, databaseUrl = config.databaseUrl, extras: Pick<AppDeps, 'installedRuntimes'> & { log?: Logger } = {}) {
  const log = extras.log ?? testLog;
  const db: Db = createDb(databaseUrl);
  const connection = await Connection.connect({ address: config.temporal.address });
  const temporal = new Client({ connection, namespace: config.temporal.namespace });
  const feed = startExecutionFeed(databaseUrl, log);
  if (!config.redisUrl) throw new Error('REDIS_URL is not set (the test global setup sets it)');
  const redis = await connectRedis(config.redisUrl, log);
  const ownerLocks = createOwnerLocks(databaseUrl);
  const rateLimits = createRateLimits({ redis, db, ownerLocks, limits: config.rateLimits, log });
  const app = createApp({ db, temporal, feed, log, taskQueue: config.temporal.taskQueue, limitMaxima: config.limitMaxima, retryPresets: config.retryPresets, producer: config.service, saga: config.saga, installedRuntimes: extras.installedRuntimes, rateLimits });
  return {
    app,
    db,
    temporal,
    redis,
    async close() {
      await feed.close();
      await connection.close();
      redis.disconnect();
      await ownerLocks.close();
      await db.$disconnect();
    },
  };
}
