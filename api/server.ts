import type { Server } from 'node:http';
import { once } from 'node:events';
import { Client } from '@temporalio/client';
import { codecKeyring, ConfigError, loadConfig } from '../config';
import type { ResolvedConfig } from '../config';
import type { Logger } from '../observability/logger';
import { createLogger } from '../observability/logger';
import { STOP_STEP_TIMEOUT_MS, stopStep } from '../process-stop';
import { requireEndpoints, runUntilSignal } from '../process-lifecycle';
import { clientTracingInterceptors, installTracing } from '../observability/tracing';
import { connectTemporalClient } from '../temporal-connection';
import { detectRuntimes } from '../runners/local/runtime-registry';
import { createDb } from '../store/db';
import { createOwnerLocks } from '../store/owner-locks';
import { createDataConverter, EncryptionCodec } from '../payload-codec/encryption-codec';
import { createApp } from './app';
import { startExecutionFeed } from './execution-feed';
import { startApiKeyCache } from '../auth/key-cache';
import { codecAccessPlaceholder } from './routes/codec';
import type { AppDeps } from './app';
import { connectRedis, createRateLimits } from './rate-limits';
import { createWebhookSecretService } from '../webhooks/secrets';
import { startUnstartedSweeper } from './unstarted-executions';
import { StartsInFlight } from './saga-start';

export interface ApiHandle {
  server: Server;
  /** Base URL the server listens on, e.g. http://127.0.0.1:3000. */
  url: string;
  stop(): Promise<void>;
}

/** Serves the REST API; starts workflows by name, never runs workflow code. Needs `redisUrl` (REDIS_URL, or the local stack's). */
export async function startApiServer(config: ResolvedConfig, log: Logger, extras: Pick<AppDeps, 'relayStatus' | 'moreMetrics'> = {}): Promise<ApiHandle> {
  if (!config.redisUrl) throw new ConfigError('REDIS_URL must be set for the API (npm start fills it from the local stack; a process run alone does not)');
  const keyring = codecKeyring(config);
  // Not prepared here: with its raw statements prepared, the API's RSS after a full GC grew 135 → 159 → 172 MB
  // over 1,000 → 5,000 → 9,000 executions (outside the V8 heap, which stayed at 39 MB); unprepared it did not
  // (146 → 132). The worker and the relay, which prepare theirs, stayed flat. Cause not found yet.
  const db = createDb(config.databaseUrl, { prepared: false });
  const redis = await connectRedis(config.redisUrl, log);
  const ownerLocks = createOwnerLocks(config.databaseUrl);
  const connection = await connectTemporalClient(config.temporal);
  // Workflows start in the request's trace: the saga's spans continue it.
  const temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter: createDataConverter(keyring), interceptors: { workflow: clientTracingInterceptors() } });
  const feed = startExecutionFeed(config.databaseUrl, log);
  const keyCache = config.api.keyCacheMs > 0 ? startApiKeyCache(config.databaseUrl, log, { ttlMs: config.api.keyCacheMs }) : undefined;
  const startsInFlight = new StartsInFlight();
  const app = createApp({
    db,
    temporal,
    startsInFlight,
    feed,
    log,
    listenHost: config.api.host,
    taskQueue: config.temporal.taskQueue,
    limitMaxima: config.limitMaxima,
    retryPresets: config.retryPresets,
    producer: config.service,
    saga: config.saga,
    // Detected here too: the API answers GET /runtimes for the worker image it ships in.
    installedRuntimes: detectRuntimes().map(({ language, version }) => ({ language, version })),
    streams: config.streams,
    serverTiming: config.api.serverTiming,
    keyCache,
    rateLimits: createRateLimits({ redis, db, ownerLocks, limits: config.rateLimits, log }),
    codec: {
      codec: new EncryptionCodec(keyring),
      // For a request without an admin key (a browser's Web UI): closed, unless configured for this host.
      authorize: codecAccessPlaceholder(config.payloadCodec.endpointAccess ?? 'closed'),
      corsOrigins: config.payloadCodec.corsOrigins ?? [],
    },
    webhooks: { secrets: createWebhookSecretService(db, keyring), allowHttp: config.webhooks.allowHttp },
    ...extras,
  });
  // Rows whose saga was not started: recorded as `error` once no retry of their request started it (SAGA_START=inline),
  // or started (deferred).
  const sweeper = startUnstartedSweeper({
    db, temporal, producer: config.service, log, graceMs: config.unstartedGraceMs,
    starting: { temporal, taskQueue: config.temporal.taskQueue, retryPresets: config.retryPresets, saga: config.saga },
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
    /** Drains: no new connections; in-flight requests finish (up to DRAIN_TIMEOUT_MS, then cut); event streams close with a reconnect hint. */
    async stop() {
      log.info({ drain_timeout_ms: config.drainTimeoutMs }, 'api draining');
      sweeper.stop();
      const closed = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
      await stopStep(log, 'api: event feed', () => feed.close()); // ends the open event streams, which would otherwise hold the server open
      server.closeIdleConnections(); // their sockets, idle now, instead of waiting out the keep-alive timeout
      const cutOff = setTimeout(() => {
        log.warn({ drain_timeout_ms: config.drainTimeoutMs }, 'drain deadline passed: closing the connections still open');
        server.closeAllConnections();
      }, config.drainTimeoutMs);
      try {
        await stopStep(log, 'api: HTTP server', () => closed, config.drainTimeoutMs + STOP_STEP_TIMEOUT_MS);
      } finally {
        clearTimeout(cutOff);
      }
      // No request comes in now: the deferred starts set going by the last ones finish before the connection goes.
      if (startsInFlight.size > 0) await stopStep(log, `api: ${startsInFlight.size} deferred saga starts`, () => startsInFlight.settled(), config.saga.startTimeoutMs + STOP_STEP_TIMEOUT_MS);
      await stopStep(log, 'api: Temporal connection', () => connection.close());
      if (keyCache) await stopStep(log, 'api: key cache', () => keyCache.close());
      redis.disconnect();
      await stopStep(log, 'api: owner-lock pool', () => ownerLocks.close());
      await stopStep(log, 'api: Prisma', () => db.$disconnect());
    },
  };
}

if (require.main === module) {
  const config = requireEndpoints(loadConfig(process.env));
  const log = createLogger({ level: config.logLevel, format: config.logFormat, name: 'api' });
  void runUntilSignal(log, async () => {
    const tracing = installTracing(config, 'api');
    const api = await startApiServer(config, log);
    return {
      async stop() {
        await api.stop();
        await tracing.shutdown();
      },
    };
  });
}
