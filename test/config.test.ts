import { ConfigError, loadConfig } from '../config';
import { DEFAULT_RETRY_PRESETS } from '../domain/retry-policies';

test('defaults apply when nothing is set', () => {
  const config = loadConfig({});
  expect(config.api).toEqual({ host: '127.0.0.1', port: 3000, serverTiming: true, keyCacheMs: 30_000 });
  expect(config.databaseUrl).toBeUndefined();
  expect(config.retryPresets).toEqual(DEFAULT_RETRY_PRESETS);
  expect(Object.isFrozen(config.capacity)).toBe(true);
  expect(config.workflowWatchdog).toBe('shared');
  expect(loadConfig({ WORKFLOW_WATCHDOG: 'per-call' }).workflowWatchdog).toBe('per-call');
  expect(config.saga).toEqual({ runTimeoutMs: 86_400_000, outagePauseMs: 60_000, startTimeoutMs: 10_000, start: 'deferred' });
  expect(loadConfig({ SAGA_START: 'inline' }).saga.start).toBe('inline');
});

test('rate limits default to 50 requests/s, 120 executions/min, 200 unfinished per owner, failing open', () => {
  expect(loadConfig({}).rateLimits).toEqual({ requestsPerSecond: 50, executionsPerMinute: 120, activeExecutionsPerOwner: 200, redisDown: 'open' });
  expect(loadConfig({ RATE_LIMIT_REDIS_DOWN: 'closed', REDIS_URL: 'redis://r:6379' })).toMatchObject({ redisUrl: 'redis://r:6379', rateLimits: { redisDown: 'closed' } });
});

test('webhooks default to https only, no non-public network, 10 s; retention to 90 / 7 / 30 / 90 days in batches of 1000', () => {
  const config = loadConfig({});
  expect(config.webhooks).toEqual({ allowHttp: false, allowedNetworks: [], timeoutMs: 10_000 });
  expect(config.retention).toEqual({ intervalMs: 600_000, batchSize: 1000, batchPauseMs: 20, publishedEventsHours: 168, deadLettersHours: 720, auditHours: 2160, finishedExecutionsHours: 2160 });
  expect(loadConfig({ WEBHOOK_ALLOWED_NETWORKS: ' 127.0.0.1/32, ::1 ', RETENTION_AUDIT_HOURS: '0' })).toMatchObject({ webhooks: { allowedNetworks: ['127.0.0.1/32', '::1'] }, retention: { auditHours: 0 } });
});

test('retry presets and limit maxima are overridable in part', () => {
  const config = loadConfig({ RETRY_PRESETS_JSON: '{"cautious":{"maximumAttempts":2}}', MAX_LIMITS_JSON: '{"wallTimeMs":60000}' });
  expect(config.retryPresets.cautious).toEqual({ ...DEFAULT_RETRY_PRESETS.cautious, maximumAttempts: 2 });
  expect(config.retryPresets.aggressive).toEqual(DEFAULT_RETRY_PRESETS.aggressive);
  expect(config.limitMaxima.wallTimeMs).toBe(60_000);
});

test.each([
  ['PORT', { PORT: 'eighty' }],
  ['DATABASE_URL', { DATABASE_URL: 'mysql://x' }],
  ['TEMPORAL_ADDRESS', { TEMPORAL_ADDRESS: 'no-port' }],
  ['KAFKA_BROKERS', { KAFKA_BROKERS: 'a:1,,b' }],
  ['CAPACITY_GLOBAL', { CAPACITY_GLOBAL: '0' }],
  ['RETRY_PRESETS_JSON', { RETRY_PRESETS_JSON: '{not json' }],
  ['RETRY_PRESETS_JSON', { RETRY_PRESETS_JSON: '{"reckless":{}}' }],
  ['MAX_LIMITS_JSON', { MAX_LIMITS_JSON: '{"wallTimeMs":-1}' }],
  ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
  ['RECONCILE_INTERVAL_MS', { RECONCILE_INTERVAL_MS: '-5' }],
  ['REDIS_URL', { REDIS_URL: 'http://127.0.0.1:6379' }],
  ['RATE_LIMIT_REQUESTS_PER_SECOND', { RATE_LIMIT_REQUESTS_PER_SECOND: '0' }],
  ['QUOTA_ACTIVE_EXECUTIONS_PER_OWNER', { QUOTA_ACTIVE_EXECUTIONS_PER_OWNER: 'many' }],
  ['RATE_LIMIT_REDIS_DOWN', { RATE_LIMIT_REDIS_DOWN: 'ajar' }],
  ['WEBHOOK_ALLOWED_NETWORKS', { WEBHOOK_ALLOWED_NETWORKS: '10.0.0.0/8,intranet' }],
  ['WEBHOOK_ALLOWED_NETWORKS', { WEBHOOK_ALLOWED_NETWORKS: '10.0.0.0/33' }],
  ['WEBHOOK_ALLOW_HTTP', { WEBHOOK_ALLOW_HTTP: 'yes' }],
  ['WEBHOOK_TIMEOUT_MS', { WEBHOOK_TIMEOUT_MS: '60000' }],
  ['RETENTION_AUDIT_HOURS', { RETENTION_AUDIT_HOURS: '-1' }],
  ['RETENTION_BATCH_SIZE', { RETENTION_BATCH_SIZE: '0' }],
  ['RUNNER_CPU_WEIGHT', { RUNNER_CPU_WEIGHT: '0' }],
  ['RUNNER_CPU_WEIGHT', { RUNNER_CPU_WEIGHT: '10001' }],
  ['RUNNER_PREPARED_SANDBOXES', { RUNNER_PREPARED_SANDBOXES: '-1' }],
  ['RUNNER_PREPARED_SANDBOXES', { RUNNER_PREPARED_SANDBOXES: 'two' }],
  ['WORKFLOW_WATCHDOG', { WORKFLOW_WATCHDOG: 'none' }],
  ['SAGA_START', { SAGA_START: 'later' }],
])('a bad %s stops start-up with a message naming it', (variable, env) => {
  expect(() => loadConfig(env)).toThrow(ConfigError);
  expect(() => loadConfig(env)).toThrow(new RegExp(variable));
});

test('a saga run timeout that would cut off the longest allowed run stops start-up, naming the variable and the bound', () => {
  const env = { MAX_LIMITS_JSON: '{"wallTimeMs":60000}', RETRY_PRESETS_JSON: '{"cautious":{"maximumAttempts":2,"maximumIntervalMs":10000}}' };
  const deadline = (60_000 + 30_000 + 10_000) * 2;
  expect(() => loadConfig({ ...env, SAGA_RUN_TIMEOUT_MS: String(deadline) })).toThrow(new RegExp(`SAGA_RUN_TIMEOUT_MS: must exceed ${deadline} ms`));
  expect(loadConfig({ ...env, SAGA_RUN_TIMEOUT_MS: String(deadline + 1) }).saga.runTimeoutMs).toBe(deadline + 1);
  expect(loadConfig({}).saga.runTimeoutMs).toBe(24 * 60 * 60 * 1000);
});

test('the Kubernetes runner is opt-in (RUNNER=kubernetes) with restrictive defaults, and a bad KUBERNETES_* value stops start-up naming it', () => {
  expect(loadConfig({})).toMatchObject({ runner: 'local', kubernetes: { namespace: 'eo-runs', cpuRequest: '100m', cpuLimit: '1', scratchMb: 64, runAsUser: 65534, kubeconfigPath: undefined } });
  expect(loadConfig({ RUNNER: 'kubernetes', KUBERNETES_IMAGES_JSON: '{"python":"r.example/py:3.13"}', KUBERNETES_RUNTIME_CLASS: 'gvisor' }).kubernetes).toMatchObject({
    images: { python: 'r.example/py:3.13' },
    runtimeClassName: 'gvisor',
  });
  for (const [variable, value] of [['RUNNER', 'docker'], ['KUBERNETES_NAMESPACE', 'Not_A_Namespace'], ['KUBERNETES_IMAGES_JSON', '{"ruby":"x"}'], ['KUBERNETES_CPU_LIMIT', 'lots'], ['KUBERNETES_POD_ANNOTATIONS_JSON', '{"a":1}']] as const) {
    expect(() => loadConfig({ [variable]: value })).toThrow(new RegExp(variable));
  }
});

test('API_KEY_CACHE_SECONDS is whole seconds, 0 turning the key cache off; anything else stops start-up naming it', () => {
  expect(loadConfig({ API_KEY_CACHE_SECONDS: '0' }).api.keyCacheMs).toBe(0);
  expect(loadConfig({ API_KEY_CACHE_SECONDS: '5' }).api.keyCacheMs).toBe(5_000);
  for (const bad of ['-1', '1.5', 'soon']) expect(() => loadConfig({ API_KEY_CACHE_SECONDS: bad })).toThrow(/API_KEY_CACHE_SECONDS/);
});
