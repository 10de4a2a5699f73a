import { Client, Connection } from '@temporalio/client';
import { createApp, type AppDeps } from '../../api/app';
import { startExecutionFeed } from '../../api/execution-feed';
import type { ResolvedConfig } from '../../config';
import type { Logger } from '../../observability/logger';
import { createDb } from '../../store/db';
import { codecKeyring } from '../../config';
import { codecAccessPlaceholder } from '../../api/routes/codec';
import { createDataConverter, EncryptionCodec } from '../../payload-codec/encryption-codec';
import type { Db } from '../../store/db';
import { testLog } from './harness';

/** The Express app on the real database and Temporal, without worker or relay (for supertest). */
export async function createTestApp(config: ResolvedConfig, databaseUrl = config.databaseUrl, extras: Pick<AppDeps, 'installedRuntimes'> & { log?: Logger } = {}) {
  const log = extras.log ?? testLog;
  const db: Db = createDb(databaseUrl);
  const connection = await Connection.connect({ address: config.temporal.address });
  const temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter: createDataConverter(codecKeyring(config)) });
  const codec = { codec: new EncryptionCodec(codecKeyring(config)), authorize: codecAccessPlaceholder(config.payloadCodec.endpointAccess ?? 'closed'), corsOrigins: config.payloadCodec.corsOrigins ?? [] };
  const feed = startExecutionFeed(databaseUrl, log);
  const app = createApp({ db, temporal, feed, log, taskQueue: config.temporal.taskQueue, limitMaxima: config.limitMaxima, retryPresets: config.retryPresets, producer: config.service, saga: config.saga, installedRuntimes: extras.installedRuntimes, codec });
  return {
    app,
    db,
    temporal,
    async close() {
      await feed.close();
      await connection.close();
      await db.$disconnect();
    },
  };
}
