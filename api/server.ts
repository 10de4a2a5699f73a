import type { Server } from 'node:http';
import { once } from 'node:events';
import { Client, Connection } from '@temporalio/client';
import { codecKeyring, loadConfig } from '../config';
import type { ResolvedConfig } from '../config';
import type { Logger } from '../observability/logger';
import { createLogger } from '../observability/logger';
import { requireEndpoints, runUntilSignal } from '../process-lifecycle';
import { detectRuntimes } from '../runners/local/runtime-registry';
import { createDb } from '../store/db';
import { createDataConverter, EncryptionCodec } from '../payload-codec/encryption-codec';
import { createApp } from './app';
import { startExecutionFeed } from './execution-feed';
import { codecAccessPlaceholder } from './routes/codec';
import type { AppDeps } from './app';

export interface ApiHandle {
  server: Server;
  /** Base URL the server listens on, e.g. http://127.0.0.1:3000. */
  url: string;
  stop(): Promise<void>;
}

/** Serves the REST API; starts workflows by name, never runs workflow code. */
export async function startApiServer(config: ResolvedConfig, log: Logger, extras: Pick<AppDeps, 'relayStatus'> = {}): Promise<ApiHandle> {
  const keyring = codecKeyring(config);
  const db = createDb(config.databaseUrl);
  const connection = await Connection.connect({ address: config.temporal.address });
  const temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter: createDataConverter(keyring) });
  const feed = startExecutionFeed(config.databaseUrl, log);
  const app = createApp({
    db,
    temporal,
    feed,
    log,
    taskQueue: config.temporal.taskQueue,
    limitMaxima: config.limitMaxima,
    retryPresets: config.retryPresets,
    producer: config.service,
    saga: config.saga,
    // Detected here too: the API answers GET /runtimes for the worker image it ships in.
    installedRuntimes: detectRuntimes().map(({ language, version }) => ({ language, version })),
    codec: {
      codec: new EncryptionCodec(keyring),
      // Replaced by the admin-key check once API keys land; until then closed unless configured for this host.
      authorize: codecAccessPlaceholder(config.payloadCodec.endpointAccess ?? 'closed'),
      corsOrigins: config.payloadCodec.corsOrigins ?? [],
    },
    ...extras,
  });
  const server = app.listen(config.api.port, config.api.host);
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.api.port;
  const url = `http://${config.api.host}:${port}`;
  log.info({ url }, 'api listening');
  return {
    server,
    url,
    async stop() {
      const closed = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
      await feed.close(); // ends the open event streams, which would otherwise hold the server open
      server.closeIdleConnections(); // their sockets, idle now, instead of waiting out the keep-alive timeout
      await closed;
      await connection.close();
      await db.$disconnect();
    },
  };
}

if (require.main === module) {
  const config = requireEndpoints(loadConfig(process.env));
  const log = createLogger({ level: config.logLevel, format: config.logFormat, name: 'api' });
  void runUntilSignal(log, () => startApiServer(config, log));
}
