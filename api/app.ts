import express from 'express';
import type { RequestHandler } from 'express';
import type { RunLimits } from '../domain/runtimes';
import type { Logger } from '../observability/logger';
import { createApiMetrics } from './metrics';
import { notFoundRoute, problemMiddleware } from './problem';
import { executionRoutes } from './routes/executions';
import { executionStreamRoutes } from './routes/execution-stream';
import { deadLetterRoutes } from './routes/dead-letters';
import type { ExecutionFeed } from './execution-feed';
import { requestLog, requestLogger } from './request-parts';
import { createDeadLetterService } from './services/dead-letters';
import { createExecutionService } from './services/executions';
import type { ExecutionServiceDeps } from './services/executions';
import { createApiKeyService } from '../auth/api-keys';
import type { ApiKeyCache } from '../auth/key-cache';
import { authenticate, requireAdmin } from './authentication';
import { hostCheck } from './host-check';
import { methodNotAllowed } from './method-not-allowed';
import { buildOpenApiDocument } from './openapi';
import { rejectUnstorableInput } from './hostile-input';
import { apiKeyRoutes } from './routes/api-keys';
import { healthRoutes } from './routes/health';
import { runtimeRoutes } from './routes/runtimes';
import type { RateLimits } from './rate-limits';
import { docsRoutes } from './routes/docs';
import { schemaRoutes } from './routes/schemas';
import type { HealthDeps } from './routes/health';
import { createCodecRouter } from './routes/codec';
import type { CodecRouterOptions } from './routes/codec';
import { webhookSecretRoutes } from './routes/webhook-secrets';
import type { WebhookSecretService } from '../webhooks/secrets';
import { keepingTraceContext, traceRequests } from '../observability/http-tracing';
import { createStreamSlots } from './stream-slots';
import { serverTiming } from './server-timing';
import type { StreamCaps } from './stream-slots';

export interface AppDeps extends ExecutionServiceDeps {
  /** Change notifications for the event streams. */
  feed: ExecutionFeed;
  log: Logger;
  /** The address the API listens on: on loopback, requests must name a loopback host (DNS rebinding). */
  listenHost: string;
  limitMaxima: RunLimits;
  relayStatus?: HealthDeps['relayStatus'];
  installedRuntimes?: HealthDeps['installedRuntimes'];
  /** Shared rate limits and the owner quota (api/rate-limits.ts). */
  rateLimits: RateLimits;
  /** The codec endpoint for the Temporal Web UI and CLI: the codec, who may call it, the UI origins. */
  codec: CodecRouterOptions;
  /** Completion webhooks: owners' signing secrets and whether `callbackUrl` may be plain http. Absent: `callbackUrl` is refused (422). */
  webhooks?: { secrets: WebhookSecretService; allowHttp: boolean };
  /** More Prometheus text for `/metrics`: the worker's and the relay's series when they run in this process (`npm start`). */
  moreMetrics?: () => Promise<string>;
  /** Event streams open at once per key and per process (config STREAMS_PER_KEY, STREAMS_PER_REPLICA). */
  streams: StreamCaps;
  /** Whether answers carry `Server-Timing` (config API_SERVER_TIMING). @default true */
  serverTiming?: boolean;
  /** The keys this replica has read (config API_KEY_CACHE_SECONDS); absent: every request reads its key. */
  keyCache?: ApiKeyCache;
}

/** Request bodies above this are refused with 413 (a script is at most 64 KiB, stdin the same). */
const BODY_LIMIT = '256kb';
/** A batch carries up to 100 of those. */
const BATCH_BODY_LIMIT = '16mb';

/**
 * The REST API; never runs workflow code, only starts and reads executions. Public: `/healthz`, `/readyz`,
 * `/docs`, `/api/v1/openapi.json`. Everything else needs an API key; `/metrics`, `/dlq` and `/keys` an admin key.
 */
/**
 * Who may use the codec endpoint: an admin key (the CLI's `--codec-auth 'Bearer <key>'`); a request without
 * one (the Web UI in a browser holds no key) gets the deployment's fallback — under `npm start`, callers on
 * this host only; elsewhere nobody.
 */
function codecAccess(withoutKey: RequestHandler, authenticated: RequestHandler): RequestHandler {
  return (req, res, next) => {
    if (req.get('Authorization') === undefined) return withoutKey(req, res, next);
    Promise.resolve(authenticated(req, res, (err?: unknown) => (err ? next(err) : requireAdmin(req, res, next)))).catch(next);
  };
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  const slots = createStreamSlots(deps.streams);
  const metrics = createApiMetrics(deps.db, deps.log, { slots, feed: deps.feed });
  const executions = createExecutionService({ ...deps, webhookSecrets: deps.webhooks?.secrets });
  const deadLetters = createDeadLetterService(deps);
  const keys = createApiKeyService(deps.db, deps.keyCache);
  const authenticated = authenticate(keys);
  // First: its `total` covers every middleware after it.
  if (deps.serverTiming !== false) app.use(serverTiming);
  app.use(traceRequests);
  app.use(hostCheck(deps.listenHost));
  app.use(metrics.timeRequests);
  app.use(requestLogger(deps.log));
  app.use(methodNotAllowed(buildOpenApiDocument(deps.limitMaxima, deps.producer.version).paths));
  app.get('/metrics', authenticated, requireAdmin, async (_req, res) => {
    const more = deps.moreMetrics ? await deps.moreMetrics() : '';
    res.type(metrics.registry.contentType).send(`${(await metrics.registry.metrics()).trimEnd()}\n${more}`);
  });
  app.use(healthRoutes(deps));
  app.use(docsRoutes(deps));
  app.use(createCodecRouter({ ...deps.codec, authorize: codecAccess(deps.codec.authorize, authenticated) }));
  // Before any body is read: a request without a valid key costs at most one indexed lookup.
  app.use('/api/v1', authenticated);
  app.use(['/api/v1/dlq', '/api/v1/keys'], requireAdmin);
  // Counted per key before a body is read: a refused request costs no parsing.
  app.use('/api/v1', deps.rateLimits.requests);
  // The batch route's own, larger limit; the general parser below then finds the body already read.
  app.use('/api/v1/executions/batch', keepingTraceContext(express.json({ limit: BATCH_BODY_LIMIT })));
  app.use(
    '/api/v1',
    keepingTraceContext(express.json({ limit: BODY_LIMIT })),
    rejectUnstorableInput,
    executionRoutes({ executions, limitMaxima: deps.limitMaxima, rateLimits: deps.rateLimits, allowHttpCallbacks: deps.webhooks?.allowHttp }),
    executionStreamRoutes({ ...deps, slots, onSetupAbandoned: metrics.streamAbandonedInSetup }),
    deadLetterRoutes({ deadLetters }),
    apiKeyRoutes({ keys }),
    ...(deps.webhooks ? [webhookSecretRoutes({ secrets: deps.webhooks.secrets })] : []),
    runtimeRoutes(deps),
    schemaRoutes(),
  );
  app.use(notFoundRoute);
  app.use(problemMiddleware((req) => requestLog(req, deps.log)));
  return app;
}
