import path from 'node:path';
import { startApiServer } from './api/server';
import { loadConfig } from './config';
import type { Config, ResolvedConfig } from './config';
import type { Logger } from './observability/logger';
import { coerceError, createLogger, wantsPrettyLogs } from './observability/logger';
import { runUntilSignal } from './process-lifecycle';
import { startRelay } from './relay/main';
import { createProgress, downPart, stackEndpoints, upPart } from './stack';
import type { Progress, StackPart, UpResult } from './stack';
import { createApiKeyService } from './auth/api-keys';
import { ensureLocalAdminKey } from './auth/local-admin-key';
import { lockFile, PART_VARIABLES, secretFile, stateDir } from './stack/paths';
import { createDb } from './store/db';
import { localKeyring } from './payload-codec/keyring';
import { readyBanner, type BannerPart } from './start/ready-banner';
import { claimStart, StartRefused } from './start/single-instance';
import { runMigrations } from './store/migrate';
import { startWorker } from './worker';
import { joinExpositions } from './observability/metrics';
import { installTracing } from './observability/tracing';

/**
 * `npm start`: API + worker + relay in one process. Whatever of DATABASE_URL, TEMPORAL_ADDRESS,
 * KAFKA_BROKERS and REDIS_URL is not set is started from the local stack (stack/), the parts in parallel, each
 * fallback logged once; without Kafka events wait in the outbox. Ends with the ready banner.
 */
async function startAll(config: Readonly<Config>, log: Logger, progress: Progress, startedAt: number) {
  const local = stackEndpoints();
  const wanted: StackPart[] = [];
  if (!config.databaseUrl) wanted.push('postgres');
  if (!config.temporal.address) wanted.push('temporal');
  if (!config.kafka.brokers) wanted.push('kafka');
  if (!config.redisUrl) wanted.push('redis');

  const outcomes = await Promise.allSettled(
    wanted.map((part) => upPart(part, { log: (line) => log.debug({ part }, line), progress })),
  );
  const up = new Map<StackPart, UpResult>();
  const failed = new Map<StackPart, Error>();
  outcomes.forEach((outcome, i) => {
    const part = wanted[i] as StackPart;
    if (outcome.status === 'fulfilled') up.set(part, outcome.value);
    else failed.set(part, coerceError(outcome.reason));
  });
  // Only what this run started; a stack that was already up stays up.
  const started = [...up.values()].filter((r) => !r.alreadyRunning).map((r) => r.part);
  const stopStarted = async (): Promise<void> => {
    for (const part of [...started].reverse()) {
      await downPart(part).catch((err: unknown) => log.error({ part, err: coerceError(err) }, 'could not stop a stack part'));
    }
  };

  try {
    for (const part of ['postgres', 'temporal', 'redis'] as const) {
      const err = failed.get(part);
      if (err) throw new StartRefused(`${PART_VARIABLES[part].endpoint} is not set and the local ${part} could not start:\n${err.message}`);
    }
    for (const [part, result] of up) {
      const variable = PART_VARIABLES[part].endpoint;
      log.info({ part, endpoint: result.endpoint, log_file: result.logFile, started_in_ms: result.startedInMs }, `${variable} not set: using the local ${part}`);
    }
    const kafkaFailure = failed.get('kafka');
    if (kafkaFailure) {
      log.warn({ err: kafkaFailure.message }, 'KAFKA_BROKERS not set and no local Kafka could start: events wait in the outbox');
    }
    const resolved: ResolvedConfig = {
      ...config,
      payloadCodec: localCodecDefaults(config, log),
      databaseUrl: config.databaseUrl ?? local.databaseUrl,
      temporal: { ...config.temporal, address: config.temporal.address ?? local.temporalAddress },
      kafka: { ...config.kafka, brokers: config.kafka.brokers ?? (up.has('kafka') ? local.kafkaBrokers.split(',') : undefined) },
      redisUrl: config.redisUrl ?? local.redisUrl,
    };

    await runMigrations(resolved.databaseUrl);
    const adminKey = await localAdminKey(resolved.databaseUrl, log);
    const worker = await startWorker(resolved, log.child({ process: 'worker' }));
    const relay = await startRelay(resolved, log.child({ process: 'relay' }));
    // One /metrics for the one process: the API's series, then the worker's (with the Temporal SDK's) and the relay's.
    const api = await startApiServer(resolved, log.child({ process: 'api' }), { relayStatus: relay.relay.status, moreMetrics: () => joinExpositions([worker.metrics, relay.metrics]) });

    const temporalUiUrl = config.temporal.address ? undefined : local.temporalUiUrl;
    const bannerParts: BannerPart[] = (['postgres', 'temporal', 'kafka', 'redis'] as const).map((part) => {
      const result = up.get(part);
      if (result) return { name: part, endpoint: result.endpoint, state: result.alreadyRunning ? 'already running' : 'started', logFile: result.logFile };
      if (failed.has(part)) return { name: part, endpoint: '-', state: 'could not start: events wait in the outbox (see the warning above)' };
      return { name: part, endpoint: '', state: `configured by ${PART_VARIABLES[part].endpoint}` };
    });
    log.info({ api: `${api.url}/api/v1`, docs: `${api.url}/docs`, temporal_ui: temporalUiUrl, started_in_ms: Date.now() - startedAt }, 'ready');
    // For the person at the terminal; on stderr, so a JSON log stream on stdout stays JSON.
    process.stderr.write(`${readyBanner({ apiUrl: api.url, temporalUiUrl, parts: bannerParts, adminKey, startedInMs: Date.now() - startedAt })}\n`);

    return {
      async stop() {
        await api.stop();
        await worker.stop();
        await relay.stop();
        await stopStarted();
      },
    };
  } catch (err) {
    await stopStarted();
    throw err;
  }
}

/** This machine's admin key (created on the first start with no key), for the banner and the README's requests. */
async function localAdminKey(databaseUrl: string, log: Logger) {
  const db = createDb(databaseUrl, { maxConnections: 1 });
  try {
    const key = await ensureLocalAdminKey(createApiKeyService(db), path.join(stateDir(), 'admin-key'));
    if (key.created) log.info({ file: key.file }, 'no API key yet: created an admin key for this machine (mode 0600)');
    else if (!key.token) log.warn({ file: key.file }, 'API keys exist but this file holds no valid admin key: create one with npm run keys -- create --role admin --owner <you>');
    return key;
  } finally {
    await db.$disconnect();
  }
}

/**
 * `npm start` on a developer's machine: without PAYLOAD_CODEC_KEYS, a key made once for this checkout and kept
 * 0600 under the state dir (logged by id and file, never its value); the codec endpoint open to this host;
 * the local Web UI allowed to call it.
 */
function localCodecDefaults(config: Readonly<Config>, log: Logger): Config['payloadCodec'] {
  let keys = config.payloadCodec.keys;
  if (!keys) {
    const file = secretFile('payload-codec-keys');
    const local = localKeyring(file);
    keys = local.keyring;
    log.info({ file, key_id: keys[0]?.id, created: local.created }, 'PAYLOAD_CODEC_KEYS not set: Temporal payloads are encrypted with the local key of this checkout');
  }
  const ui = new URL(stackEndpoints().temporalUiUrl);
  const localUi = config.temporal.address ? [] : [ui.origin, `${ui.protocol}//localhost:${ui.port}`];
  return {
    keys,
    endpointAccess: config.payloadCodec.endpointAccess ?? 'loopback',
    corsOrigins: config.payloadCodec.corsOrigins ?? localUi,
  };
}

const startedAt = Date.now();
const config = loadConfig(process.env);
const log = createLogger({ level: config.logLevel, format: config.logFormat });
const progress = createProgress({
  say: (line) => log.info(line),
  tty: wantsPrettyLogs(config.logFormat) && process.stderr.isTTY ? process.stderr : undefined,
});
claimStart({ pidFile: lockFile('npm-start'), host: config.api.host, port: config.api.port }).then(
  (claim) => {
    process.on('exit', () => claim.release());
    const tracing = installTracing(config, null);
    void runUntilSignal(log, async () => {
      const all = await startAll(config, log, progress, startedAt);
      return {
        async stop() {
          await all.stop();
          await tracing.shutdown();
        },
      };
    });
  },
  (err: unknown) => {
    log.fatal({ reason: coerceError(err).message }, 'start refused');
    process.exit(1);
  },
);
