import { z } from 'zod';
import { DEFAULT_LIMIT_MAXIMA, limitsSchema } from './domain/runtimes';
import type { RunLimits } from './domain/runtimes';
import { ACTIVITY_RETRY_PRESET, DEFAULT_RETRY_PRESETS, RETRY_PRESET_NAMES } from './domain/retry-policies';
import { runDeadlineMs } from './domain/saga';
import type { RetryPresets } from './domain/retry-policies';
import { version as packageVersion } from './package.json';
import { parseKeyring } from './payload-codec/keyring';
import type { Keyring } from './payload-codec/keyring';
import { DEFAULT_PREPARED_SANDBOXES, DEFAULT_RUNS_CPU_WEIGHT } from './runners/runner';
import { parseNetwork } from './webhooks/address-policy';

const int = (def: number) => z.coerce.number().int().positive().default(def);
const jsonObject = z
  .string()
  .transform((raw, ctx) => {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
      return z.NEVER;
    }
  });

const keyring = z.string().transform((raw, ctx) => {
  try {
    return parseKeyring(raw);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const origins = z
  .string()
  .transform((raw) => raw.split(',').map((o) => o.trim()).filter(Boolean))
  .pipe(z.array(z.url({ protocol: /^https?$/ }).refine((o) => new URL(o).origin === o, 'each must be an origin: scheme://host[:port], no path')));

const networks = z
  .string()
  .transform((raw) => raw.split(',').map((n) => n.trim()).filter(Boolean))
  .superRefine((list, ctx) => {
    for (const n of list) {
      try {
        parseNetwork(n);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    }
  });
const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
/** A retention TTL in hours; 0 keeps that kind of row forever. */
const ttlHours = (def: number) => z.coerce.number().int().min(0).default(def);

const presetOverride = z
  .object({
    initialIntervalMs: z.number().int().positive(),
    backoffCoefficient: z.number().min(1),
    maximumIntervalMs: z.number().int().positive(),
    maximumAttempts: z.number().int().positive(),
    nonRetryableErrorTypes: z.array(z.string()),
  })
  .partial()
  .strict();

/** When a submission's saga is started (config SAGA_START): before the API answers, or just after. */
export type SagaStartMode = 'inline' | 'deferred';

/** Also read by the local stack, which puts its Temporal in the back's CPU group when starts are deferred. */
export const DEFAULT_SAGA_START: SagaStartMode = 'deferred';

const envSchema = z.object({
  /** pino level. @default info */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `pretty` (readable lines for a person), `json` (one object a line), `auto` (pretty on a terminal, else json). @default auto */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  /** API listen address. @default 127.0.0.1 */
  HOST: z.string().default('127.0.0.1'),
  /** API port. @default 3000 */
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Postgres URL; when unset, `npm start` starts the local stack's Postgres. */
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  /** Temporal frontend host:port; when unset, `npm start` starts the local dev server. */
  TEMPORAL_ADDRESS: z.string().regex(/^[^:\s]+:\d+$/, 'must be host:port').optional(),
  /** @default default */
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** TLS to Temporal: `true` or `false`. @default true when a CA, client certificate or API key is set, else false */
  TEMPORAL_TLS: z.enum(['true', 'false']).optional(),
  /** PEM file of the CA that signed the Temporal frontend's certificate; unset: the system's trusted CAs. */
  TEMPORAL_TLS_CA_PATH: z.string().min(1).optional(),
  /** PEM file of this client's certificate (mTLS); needs TEMPORAL_TLS_KEY_PATH. */
  TEMPORAL_TLS_CERT_PATH: z.string().min(1).optional(),
  /** PEM file of this client's private key (mTLS); needs TEMPORAL_TLS_CERT_PATH. */
  TEMPORAL_TLS_KEY_PATH: z.string().min(1).optional(),
  /** Server name checked against the frontend's certificate (SNI) when it differs from the address's host. */
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  /** API key sent as a bearer token on every Temporal call (Temporal Cloud); needs TLS. Never logged. */
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  /** How long connecting to Temporal may take before start-up fails, ms. @default 10000 */
  TEMPORAL_CONNECT_TIMEOUT_MS: int(10_000),
  /** gRPC keep-alive ping period of the client connections, ms. @default 30000 */
  TEMPORAL_KEEPALIVE_TIME_MS: int(30_000),
  /** How long a keep-alive ping may go unanswered before the connection is dropped and re-made, ms. @default 15000 */
  TEMPORAL_KEEPALIVE_TIMEOUT_MS: int(15_000),
  /** Task queue of the saga workflows and activities. @default executions */
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('executions'),
  /** Comma-separated Kafka bootstrap brokers; when unset, `npm start` starts the local broker. */
  KAFKA_BROKERS: z
    .string()
    .regex(/^[^,\s:]+:\d+(,[^,\s:]+:\d+)*$/, 'must be a comma-separated list of host:port')
    .optional(),
  /** Redis URL (`redis://host:port`) holding the API's shared rate-limit counters; when unset, `npm start` starts the local stack's Redis. */
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  /** API requests per second per principal (API key; the owner until keys land), across all API replicas. @default 50 */
  RATE_LIMIT_REQUESTS_PER_SECOND: int(50),
  /** Executions started per minute per principal, across all API replicas; each item of a batch and each retry counts. @default 120 */
  RATE_LIMIT_EXECUTIONS_PER_MINUTE: int(120),
  /** Executions queued or running at once per owner (counted in Postgres); a submission past it is refused with 429. @default 200 */
  QUOTA_ACTIVE_EXECUTIONS_PER_OWNER: int(200),
  /**
   * What the API does when Redis does not answer: `open` serves requests without the per-second and per-minute
   * limits (the Postgres quota still holds); `closed` refuses them with 503. Either way it is logged and shown in
   * `/readyz` (`closed` also makes the API not ready). @default open
   */
  RATE_LIMIT_REDIS_DOWN: z.enum(['open', 'closed']).default('open'),
  /** Event streams (`/executions/{id}/stream`) open at once per API key, per API replica; past it → 429. @default 20 */
  STREAMS_PER_KEY: int(20),
  /** Event streams open at once per API replica, all keys together; past it → 503. @default 1000 */
  STREAMS_PER_REPLICA: int(1000),
  /** Answers carry `Server-Timing`: what the request waited on (API key lookup, rate limits, Postgres, Temporal) and its total, ms. @default true */
  API_SERVER_TIMING: bool.default(true),
  /**
   * How long an API replica keeps an API key it read, s; 0: every request reads its key from Postgres. A revoked key
   * is refused at once all the same: the cache is trusted only while the replica hears Postgres's notification of
   * every key change (auth/key-cache.ts). @default 30
   */
  API_KEY_CACHE_SECONDS: z.coerce.number().int().min(0).default(30),
  /**
   * How long an execution whose saga could not be started (Temporal did not answer) stays `queued` for a retry of
   * the same request (same Idempotency-Key) to start it; after that the API records it as `error`, ms. @default 300000
   */
  UNSTARTED_EXECUTION_GRACE_MS: int(300_000),
  /** @default execution-orchestrator */
  KAFKA_CLIENT_ID: z.string().min(1).default('execution-orchestrator'),
  /** Runs at once, in all. @default 8 */
  CAPACITY_GLOBAL: int(8),
  /** Runs at once per owner. @default 4 */
  CAPACITY_PER_OWNER: int(4),
  /** Runs at once per language. @default 8 */
  CAPACITY_PER_LANGUAGE: int(8),
  /** Partial JSON object overriding the limit maxima, e.g. `{"wallTimeMs":60000}`. */
  MAX_LIMITS_JSON: jsonObject.pipe(limitsSchema.partial()).optional(),
  /** Partial JSON overriding retry presets, e.g. `{"cautious":{"maximumAttempts":2}}`. */
  RETRY_PRESETS_JSON: jsonObject
    .pipe(z.object(Object.fromEntries(RETRY_PRESET_NAMES.map((n) => [n, presetOverride.optional()]))).strict())
    .optional(),
  /** `RUNNER_SANDBOX=none` only: where the local runner makes each execution's private dir. @default <os tmpdir>/eo-runs */
  RUNNER_WORK_DIR: z.string().min(1).optional(),
  /**
   * How the local runner confines scripts. `bwrap`: a bubblewrap sandbox and a cgroup per run (no
   * network, no host files, unprivileged); the worker refuses to start, with the reason, where that
   * cannot isolate. `none`: NO SANDBOX, scripts run on the host as the worker's user; a loud warning
   * at start and every result marked `sandboxed: false`. For development hosts without bwrap only.
   * @default bwrap
   */
  RUNNER_SANDBOX: z.enum(['bwrap', 'none']).default('bwrap'),
  /**
   * The CPU weight of all sandboxed runs together when the host's CPU is contended, on cgroup v2's
   * scale (100 = one ordinary process's share, 1–10000): at 100 any number of busy scripts weigh one
   * process against the API, the worker and the stack; lower favours the service further. An idle host is
   * still all the scripts'. Needs a cpu cgroup controller.
   * @default 100
   */
  RUNNER_CPU_WEIGHT: z.coerce.number().int().min(1).max(10_000).default(DEFAULT_RUNS_CPU_WEIGHT),
  /**
   * Sandbox launchers each worker keeps started ahead of its runs, already in their cgroups: a run that finds one
   * starts ~10 ms sooner (runners/README.md, **Start-up latency**). 0 starts each run's on demand.
   * @default 2
   */
  RUNNER_PREPARED_SANDBOXES: z.coerce.number().int().min(0).max(64).default(DEFAULT_PREPARED_SANDBOXES),
  /**
   * How the worker holds a call into workflow code to the SDK's 5 s deadlock deadline: `shared`, one watchdog thread
   * for the process (workflow-threads/isolate-watchdog.cc, made by `npm run build`; a worker without it says so and
   * falls back); `per-call`, node's vm starting and joining a thread for each call (~200 µs of CPU each, ~24 calls
   * an execution), as the SDK does alone.
   * @default shared
   */
  WORKFLOW_WATCHDOG: z.enum(['shared', 'per-call']).default('shared'),
  /** Where scripts run: `local` (this host, in a sandbox: RUNNER_SANDBOX) or `kubernetes` (a Pod per execution: KUBERNETES_*). @default local */
  RUNNER: z.enum(['local', 'kubernetes']).default('local'),
  /** RUNNER=kubernetes: path of the kubeconfig to use; unset: the worker pod's in-cluster service account. */
  KUBERNETES_KUBECONFIG: z.string().min(1).optional(),
  /** RUNNER=kubernetes: namespace of the run pods (PodSecurity `restricted`, deny-all NetworkPolicy). @default eo-runs */
  KUBERNETES_NAMESPACE: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name').default('eo-runs'),
  /** RUNNER=kubernetes: partial JSON of the image per language, e.g. `{"python":"registry.example/python:3.13-slim@sha256:…"}`. @default python:3-slim, node:24-slim, bash:5 */
  KUBERNETES_IMAGES_JSON: jsonObject.pipe(z.object({ python: z.string().min(1), node: z.string().min(1), bash: z.string().min(1) }).partial().strict()).optional(),
  /** RUNNER=kubernetes: RuntimeClass of the run pods (e.g. `gvisor`); unset: the cluster's default runtime. */
  KUBERNETES_RUNTIME_CLASS: z.string().min(1).optional(),
  /** RUNNER=kubernetes: JSON object of annotations every run pod carries (string values). */
  KUBERNETES_POD_ANNOTATIONS_JSON: jsonObject.pipe(z.record(z.string(), z.string())).optional(),
  /** RUNNER=kubernetes: CPU request / limit of a run pod (Kubernetes quantities). @default 100m / 1 */
  KUBERNETES_CPU_REQUEST: z.string().regex(/^\d+(\.\d+)?m?$/, 'must be a CPU quantity, e.g. 100m or 1').default('100m'),
  KUBERNETES_CPU_LIMIT: z.string().regex(/^\d+(\.\d+)?m?$/, 'must be a CPU quantity, e.g. 500m or 2').default('1'),
  /** RUNNER=kubernetes: size of each of a run's emptyDirs (/box, /tmp), MiB. @default 64 */
  KUBERNETES_SCRATCH_MB: int(64),
  /** RUNNER=kubernetes: uid (and gid) the run container runs as. @default 65534 */
  KUBERNETES_RUN_AS_USER: int(65534),
  /** RUNNER=kubernetes: re-read of a watched run pod when its watch stays quiet, ms. @default 30000 */
  KUBERNETES_RESYNC_MS: int(30_000),
  /** host:port where the worker serves the Temporal SDK's Prometheus metrics (`/metrics`); unset: none. */
  WORKER_METRICS_ADDRESS: z.string().regex(/^[^:\s]+:\d+$/, 'must be host:port').optional(),
  /** Address of the ops server (`/healthz`, `/readyz`, `/metrics`) of the worker and the relay run alone. @default 127.0.0.1 */
  OPS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Port of that ops server; 0 picks a free one. @default 9464 */
  OPS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  /** OTLP/HTTP endpoint traces are exported to (`http://collector:4318`; `/v1/traces` is appended); unset: no export. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  /** Service name on exported spans; each process adds its role (`-api`, `-worker`, `-relay`) when run alone. @default execution-orchestrator */
  OTEL_SERVICE_NAME: z.string().min(1).default('execution-orchestrator'),
  /**
   * How long a stopping process (SIGTERM) lets work in flight finish, ms. Worker: running activities go on
   * (no new ones are taken); those still running then are cancelled and retried on another worker. API:
   * in-flight requests finish (event streams are closed at once with a reconnect hint); connections still
   * open then are cut. Keep it below the orchestrator's grace period (Kubernetes'
   * `terminationGracePeriodSeconds`). @default 30000
   */
  DRAIN_TIMEOUT_MS: int(30_000),
  /** Relay fallback poll when no NOTIFY arrives, ms. @default 2000 */
  RELAY_POLL_INTERVAL_MS: int(2000),
  /** Events per relay batch. @default 200 */
  RELAY_BATCH_SIZE: int(200),
  /** Attempts before an event that fails on its own is dead-lettered. @default 10 */
  RELAY_MAX_ATTEMPTS: int(10),
  /**
   * Workflow run timeout of each saga, ms: the last resort behind the runner's wall limit and the saga's own
   * run deadline, counted from submission (queue time included). The reconciler records `timed_out` for a saga
   * that reaches it. Must exceed the run deadline at the wall-time maximum. @default 86400000 (24 h)
   */
  SAGA_RUN_TIMEOUT_MS: int(24 * 60 * 60 * 1000),
  /**
   * Pause before storing a result or recording an end is tried again once its retry preset is used up
   * (the database is down), ms: the saga waits out the outage rather than lose the result. @default 60000
   */
  SAGA_OUTAGE_PAUSE_MS: int(60_000),
  /**
   * How long a start waits for Temporal to accept it, ms. SAGA_START=inline: the submission then answers 503 (keep
   * it below the request timeout of whatever fronts the API), and the row waits for a retry of the same request or
   * is recorded `error` (UNSTARTED_EXECUTION_GRACE_MS). SAGA_START=deferred: a row with no start seen this long
   * after it was written is started again by the sweep. @default 10000
   */
  SAGA_START_TIMEOUT_MS: int(10_000),
  /**
   * When a submission's saga is started. `deferred`: just after the answer — 201 means the row is committed; the
   * API then starts the saga, and a sweep in every API process starts any row whose start did not happen (the
   * process died, Temporal did not answer) as soon as Temporal answers. So a POST costs no Temporal round trip and
   * a Temporal outage refuses no submission. `inline`: before the answer — 201 means Temporal has the saga, and a
   * Temporal that does not answer makes it 503. The local stack's Temporal yields the CPU with deferred starts
   * (stack/back-cpu-group.ts). @default deferred
   */
  SAGA_START: z.enum(['inline', 'deferred']).default(DEFAULT_SAGA_START),
  /** Time between reconciler passes (sagas closed without recording their end), ms. @default 60000 */
  RECONCILE_INTERVAL_MS: int(60_000),
  /** Closed sagas one reconciler pass records at most; the rest wait for the next pass. @default 500 */
  RECONCILE_BATCH_SIZE: int(500),
  /**
   * Keys of the payload codec that encrypts Temporal payloads (scripts, stdin, output), as
   * `id:base64key,…` — 32-byte AES-256 keys, newest first: the first encrypts, all decrypt. Required by
   * the worker and the API run alone; `npm start` without it uses a key generated once for this machine
   * (`.stack/secrets/payload-codec-keys`, mode 0600).
   */
  PAYLOAD_CODEC_KEYS: z.preprocess((v) => (v === '' ? undefined : v), keyring.optional()),
  /**
   * Who may call the codec endpoint (`POST /codec/encode|decode`) until admin keys guard it: `closed`
   * (nobody: 403) or `loopback` (requests from this host, to a loopback Host name). @default closed; `npm start`: loopback
   */
  CODEC_ENDPOINT_ACCESS: z.enum(['closed', 'loopback']).optional(),
  /** Comma-separated origins of Temporal Web UIs allowed to call the codec endpoint from a browser (CORS). @default none; `npm start`: the local UI */
  CODEC_CORS_ORIGINS: origins.optional(),
  /** Completion webhooks may go to plain `http:` URLs (else `https:` only). For tests and closed networks. @default false */
  WEBHOOK_ALLOW_HTTP: bool.default(false),
  /**
   * Comma-separated networks (CIDR, e.g. `10.20.0.0/16,::1/128`) completion webhooks may reach although they are
   * private, loopback, link-local or otherwise not public — refused otherwise. @default none
   */
  WEBHOOK_ALLOWED_NETWORKS: networks.optional(),
  /** One webhook attempt, connect to last byte, ms; at most 50000 (the attempt's activity timeout is 60 s). @default 10000 */
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().positive().max(50_000).default(10_000),
  /** Time between retention passes (each worker runs them), ms. @default 600000 (10 min) */
  RETENTION_INTERVAL_MS: int(600_000),
  /** Rows one retention statement deletes at most (one short transaction each). @default 1000 */
  RETENTION_BATCH_SIZE: z.coerce.number().int().positive().max(50_000).default(1000),
  /** Pause between two retention batches, ms: leaves the database to the hot path. @default 20 */
  RETENTION_BATCH_PAUSE_MS: z.coerce.number().int().min(0).default(20),
  /** Published outbox events are deleted this long after publication, hours; 0 keeps them. @default 168 (7 days) */
  RETENTION_PUBLISHED_EVENTS_HOURS: ttlHours(168),
  /** Dead letters (dead or discarded events, with their action audit) are deleted this long after they were written, hours; 0 keeps them. @default 720 (30 days) */
  RETENTION_DEAD_LETTERS_HOURS: ttlHours(720),
  /** Audit rows (status transitions of finished executions, dead-letter actions) are deleted this long after they were written, hours; 0 keeps them. @default 2160 (90 days) */
  RETENTION_AUDIT_HOURS: ttlHours(2160),
  /** Finished executions (with everything that hangs off them) are deleted this long after they ended, hours; 0 keeps them. @default 2160 (90 days) */
  RETENTION_FINISHED_EXECUTIONS_HOURS: ttlHours(2160),
  /** Version reported in event envelopes. @default package.json version */
  SERVICE_VERSION: z.string().min(1).default(packageVersion),
});

export interface Config {
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
  logFormat: z.infer<typeof envSchema>['LOG_FORMAT'];
  /** `serverTiming`: config API_SERVER_TIMING; `keyCacheMs`: API_KEY_CACHE_SECONDS in ms. */
  api: { host: string; port: number; serverTiming: boolean; keyCacheMs: number };
  databaseUrl: string | undefined;
  temporal: { address: string | undefined; namespace: string; taskQueue: string; connection: TemporalConnectionConfig };
  kafka: { brokers: string[] | undefined; clientId: string };
  /** Where the rate-limit counters live; unset: the local stack's Redis (`npm start`). */
  redisUrl: string | undefined;
  rateLimits: RateLimitConfig;
  /** Event streams open at once per key and per replica (config STREAMS_PER_KEY, STREAMS_PER_REPLICA). */
  streams: { perKey: number; perReplica: number };
  /** Config UNSTARTED_EXECUTION_GRACE_MS: how long a row whose saga did not start waits for a retry, ms. */
  unstartedGraceMs: number;
  capacity: { global: number; perOwner: number; perLanguage: number };
  limitMaxima: RunLimits;
  retryPresets: RetryPresets;
  runnerWorkDir: string | undefined;
  runnerSandbox: 'bwrap' | 'none';
  runnerCpuWeight: number;
  runnerPreparedSandboxes: number;
  runner: 'local' | 'kubernetes';
  /** RUNNER=kubernetes only (see runners/kubernetes-runner.ts). */
  kubernetes: KubernetesRunnerConfig;
  workerMetricsAddress: string | null;
  workflowWatchdog: 'shared' | 'per-call';
  relay: { pollIntervalMs: number; batchSize: number; maxAttempts: number };
  /** The ops server of a worker or relay run alone (OPS_HOST, OPS_PORT). */
  ops: { host: string; port: number };
  /** Traces: exported over OTLP/HTTP when an endpoint is set. */
  tracing: { otlpEndpoint: string | null; serviceName: string };
  /** What a SIGTERM lets finish before the process hands work back or cuts it off, ms (DRAIN_TIMEOUT_MS). */
  drainTimeoutMs: number;
  saga: { runTimeoutMs: number; outagePauseMs: number; startTimeoutMs: number; start: SagaStartMode };
  reconciler: { intervalMs: number; batchSize: number };
  /** Completion webhooks: plain http allowed, the non-public networks allowed, one attempt's timeout. */
  webhooks: { allowHttp: boolean; allowedNetworks: string[]; timeoutMs: number };
  retention: RetentionConfig;
  /** Producer identity in event envelopes. */
  service: { service: string; version: string };
  /** Temporal payload encryption; unset parts are filled by `npm start` (local key, loopback access, local UI origin). */
  payloadCodec: { keys: Keyring | undefined; endpointAccess: 'closed' | 'loopback' | undefined; corsOrigins: string[] | undefined };
}

/** How every Temporal connection of this service is made (TEMPORAL_TLS*, TEMPORAL_API_KEY, TEMPORAL_*_MS). */
export interface TemporalConnectionConfig {
  /** Null: plain gRPC. Paths are read when a connection is made. */
  tls: { caPath: string | null; certPath: string | null; keyPath: string | null; serverName: string | null } | null;
  apiKey: string | null;
  connectTimeoutMs: number;
  keepAliveTimeMs: number;
  keepAliveTimeoutMs: number;
}

/** The Kubernetes runner's settings (config KUBERNETES_*). */
export interface KubernetesRunnerConfig {
  kubeconfigPath: string | undefined;
  namespace: string;
  images: Partial<Record<'python' | 'node' | 'bash', string>>;
  runtimeClassName: string | undefined;
  podAnnotations: Record<string, string>;
  cpuRequest: string;
  cpuLimit: string;
  scratchMb: number;
  runAsUser: number;
  resyncIntervalMs: number;
}

/** The API's limits per principal and per owner (config RATE_LIMIT_*, QUOTA_ACTIVE_EXECUTIONS_PER_OWNER). */
export interface RateLimitConfig {
  requestsPerSecond: number;
  executionsPerMinute: number;
  activeExecutionsPerOwner: number;
  redisDown: 'open' | 'closed';
}

/** Retention (config RETENTION_*): TTLs in hours, 0 meaning "keep". */
export interface RetentionConfig {
  intervalMs: number;
  batchSize: number;
  batchPauseMs: number;
  publishedEventsHours: number;
  deadLettersHours: number;
  auditHours: number;
  finishedExecutionsHours: number;
}

export class ConfigError extends Error {}

/** Parses the environment once; a bad value throws a ConfigError naming the variable. */
export function loadConfig(env: Record<string, string | undefined>): Readonly<Config> {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const presetOverrides = (e.RETRY_PRESETS_JSON ?? {}) as Partial<Record<keyof RetryPresets, object>>;
  const retryPresets = Object.fromEntries(
    RETRY_PRESET_NAMES.map((name) => [name, { ...DEFAULT_RETRY_PRESETS[name], ...presetOverrides[name] }]),
  ) as unknown as RetryPresets;
  const limitMaxima = { ...DEFAULT_LIMIT_MAXIMA, ...e.MAX_LIMITS_JSON };
  // Below the run deadline the run timeout would cut off a run the saga still means to wait for, unrecorded until the reconciler passes.
  const longestRun = runDeadlineMs(limitMaxima.wallTimeMs, retryPresets[ACTIVITY_RETRY_PRESET.runScript]);
  if (e.SAGA_RUN_TIMEOUT_MS <= longestRun) {
    throw new ConfigError(`invalid configuration:\n  SAGA_RUN_TIMEOUT_MS: must exceed ${longestRun} ms, the run deadline at the wall-time maximum (${limitMaxima.wallTimeMs} ms)`);
  }
  const connection = temporalConnectionConfig(e);
  return deepFreeze({
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    api: { host: e.HOST, port: e.PORT, serverTiming: e.API_SERVER_TIMING, keyCacheMs: e.API_KEY_CACHE_SECONDS * 1000 },
    databaseUrl: e.DATABASE_URL,
    temporal: { address: e.TEMPORAL_ADDRESS, namespace: e.TEMPORAL_NAMESPACE, taskQueue: e.TEMPORAL_TASK_QUEUE, connection },
    kafka: { brokers: e.KAFKA_BROKERS?.split(','), clientId: e.KAFKA_CLIENT_ID },
    redisUrl: e.REDIS_URL,
    rateLimits: {
      requestsPerSecond: e.RATE_LIMIT_REQUESTS_PER_SECOND,
      executionsPerMinute: e.RATE_LIMIT_EXECUTIONS_PER_MINUTE,
      activeExecutionsPerOwner: e.QUOTA_ACTIVE_EXECUTIONS_PER_OWNER,
      redisDown: e.RATE_LIMIT_REDIS_DOWN,
    },
    streams: { perKey: e.STREAMS_PER_KEY, perReplica: e.STREAMS_PER_REPLICA },
    unstartedGraceMs: e.UNSTARTED_EXECUTION_GRACE_MS,
    capacity: { global: e.CAPACITY_GLOBAL, perOwner: e.CAPACITY_PER_OWNER, perLanguage: e.CAPACITY_PER_LANGUAGE },
    limitMaxima,
    retryPresets,
    runnerWorkDir: e.RUNNER_WORK_DIR,
    runnerSandbox: e.RUNNER_SANDBOX,
    runnerCpuWeight: e.RUNNER_CPU_WEIGHT,
    runnerPreparedSandboxes: e.RUNNER_PREPARED_SANDBOXES,
    runner: e.RUNNER,
    kubernetes: {
      kubeconfigPath: e.KUBERNETES_KUBECONFIG,
      namespace: e.KUBERNETES_NAMESPACE,
      images: e.KUBERNETES_IMAGES_JSON ?? {},
      runtimeClassName: e.KUBERNETES_RUNTIME_CLASS,
      podAnnotations: e.KUBERNETES_POD_ANNOTATIONS_JSON ?? {},
      cpuRequest: e.KUBERNETES_CPU_REQUEST,
      cpuLimit: e.KUBERNETES_CPU_LIMIT,
      scratchMb: e.KUBERNETES_SCRATCH_MB,
      runAsUser: e.KUBERNETES_RUN_AS_USER,
      resyncIntervalMs: e.KUBERNETES_RESYNC_MS,
    },
    workerMetricsAddress: e.WORKER_METRICS_ADDRESS ?? null,
    workflowWatchdog: e.WORKFLOW_WATCHDOG,
    relay: { pollIntervalMs: e.RELAY_POLL_INTERVAL_MS, batchSize: e.RELAY_BATCH_SIZE, maxAttempts: e.RELAY_MAX_ATTEMPTS },
    ops: { host: e.OPS_HOST, port: e.OPS_PORT },
    tracing: { otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT ?? null, serviceName: e.OTEL_SERVICE_NAME },
    drainTimeoutMs: e.DRAIN_TIMEOUT_MS,
    saga: { runTimeoutMs: e.SAGA_RUN_TIMEOUT_MS, outagePauseMs: e.SAGA_OUTAGE_PAUSE_MS, startTimeoutMs: e.SAGA_START_TIMEOUT_MS, start: e.SAGA_START },
    reconciler: { intervalMs: e.RECONCILE_INTERVAL_MS, batchSize: e.RECONCILE_BATCH_SIZE },
    webhooks: { allowHttp: e.WEBHOOK_ALLOW_HTTP, allowedNetworks: e.WEBHOOK_ALLOWED_NETWORKS ?? [], timeoutMs: e.WEBHOOK_TIMEOUT_MS },
    retention: {
      intervalMs: e.RETENTION_INTERVAL_MS,
      batchSize: e.RETENTION_BATCH_SIZE,
      batchPauseMs: e.RETENTION_BATCH_PAUSE_MS,
      publishedEventsHours: e.RETENTION_PUBLISHED_EVENTS_HOURS,
      deadLettersHours: e.RETENTION_DEAD_LETTERS_HOURS,
      auditHours: e.RETENTION_AUDIT_HOURS,
      finishedExecutionsHours: e.RETENTION_FINISHED_EXECUTIONS_HOURS,
    },
    service: { service: 'execution-orchestrator', version: e.SERVICE_VERSION },
    payloadCodec: { keys: e.PAYLOAD_CODEC_KEYS, endpointAccess: e.CODEC_ENDPOINT_ACCESS, corsOrigins: e.CODEC_CORS_ORIGINS },
  });
}

/** TLS and credentials of the Temporal connections; a combination that cannot work is refused, naming the variables. */
function temporalConnectionConfig(e: z.infer<typeof envSchema>): TemporalConnectionConfig {
  const refuse = (message: string) => new ConfigError(`invalid configuration:\n  ${message}`);
  if (Boolean(e.TEMPORAL_TLS_CERT_PATH) !== Boolean(e.TEMPORAL_TLS_KEY_PATH)) {
    throw refuse(`${e.TEMPORAL_TLS_CERT_PATH ? 'TEMPORAL_TLS_KEY_PATH' : 'TEMPORAL_TLS_CERT_PATH'}: mTLS needs both TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH`);
  }
  const tlsSettings = (['TEMPORAL_TLS_CA_PATH', 'TEMPORAL_TLS_CERT_PATH', 'TEMPORAL_TLS_SERVER_NAME'] as const).filter((name) => e[name] !== undefined);
  if (e.TEMPORAL_TLS === 'false' && tlsSettings.length > 0) throw refuse(`TEMPORAL_TLS: is false, but ${tlsSettings.join(', ')} ${tlsSettings.length > 1 ? 'are' : 'is'} set`);
  // An API key in clear text on the wire would give it away.
  if (e.TEMPORAL_TLS === 'false' && e.TEMPORAL_API_KEY) throw refuse('TEMPORAL_TLS: is false, but TEMPORAL_API_KEY is set (a key is only sent over TLS)');
  const tls = e.TEMPORAL_TLS === 'true' || tlsSettings.length > 0 || e.TEMPORAL_API_KEY !== undefined;
  if (e.TEMPORAL_KEEPALIVE_TIMEOUT_MS >= e.TEMPORAL_KEEPALIVE_TIME_MS) throw refuse('TEMPORAL_KEEPALIVE_TIMEOUT_MS: must be below TEMPORAL_KEEPALIVE_TIME_MS');
  return {
    tls: tls ? { caPath: e.TEMPORAL_TLS_CA_PATH ?? null, certPath: e.TEMPORAL_TLS_CERT_PATH ?? null, keyPath: e.TEMPORAL_TLS_KEY_PATH ?? null, serverName: e.TEMPORAL_TLS_SERVER_NAME ?? null } : null,
    apiKey: e.TEMPORAL_API_KEY ?? null,
    connectTimeoutMs: e.TEMPORAL_CONNECT_TIMEOUT_MS,
    keepAliveTimeMs: e.TEMPORAL_KEEPALIVE_TIME_MS,
    keepAliveTimeoutMs: e.TEMPORAL_KEEPALIVE_TIMEOUT_MS,
  };
}

/** The codec keys of a process that reads or writes Temporal payloads; without them it must not start. */
export function codecKeyring(config: Readonly<Config>): Keyring {
  const keys = config.payloadCodec.keys;
  if (!keys) {
    throw new ConfigError('PAYLOAD_CODEC_KEYS must be set (id:base64key,… — 32-byte keys, newest first): Temporal payloads (scripts, stdin, output) are encrypted with it, and the api, the worker and whoever reads history need the same keys. npm start makes a local key; a process run alone does not');
  }
  return keys;
}

/** A config whose required endpoints are known (after the local stack filled the gaps); Kafka may stay unset. */
export type ResolvedConfig = Readonly<Config & { databaseUrl: string; temporal: Config['temporal'] & { address: string } }>;

function deepFreeze<T>(value: T): Readonly<T> {
  // A Buffer (a key) cannot be frozen; it stays inside frozen objects.
  if (ArrayBuffer.isView(value)) return value;
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
