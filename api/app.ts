import express from 'express';
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
import { healthRoutes } from './routes/health';
import { docsRoutes } from './routes/docs';
import { schemaRoutes } from './routes/schemas';
import type { HealthDeps } from './routes/health';
import { createCodecRouter } from './routes/codec';
import type { CodecRouterOptions } from './routes/codec';

export interface AppDeps extends ExecutionServiceDeps {
  /** Change notifications for the event streams. */
  feed: ExecutionFeed;
  log: Logger;
  limitMaxima: RunLimits;
  relayStatus?: HealthDeps['relayStatus'];
  installedRuntimes?: HealthDeps['installedRuntimes'];
  /** The codec endpoint for the Temporal Web UI and CLI: the codec, who may call it, the UI origins. */
  codec: CodecRouterOptions;
}

/** Request bodies above this are refused with 413 (a script is at most 64 KiB, stdin the same). */
const BODY_LIMIT = '256kb';
/** A batch carries up to 100 of those. */
const BATCH_BODY_LIMIT = '16mb';

/** The REST API; never runs workflow code, only starts and reads executions. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  const metrics = createApiMetrics(deps.db, deps.log);
  const executions = createExecutionService(deps);
  const deadLetters = createDeadLetterService(deps);
  app.use(metrics.timeRequests);
  app.use(requestLogger(deps.log));
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.use(healthRoutes(deps));
  app.use(docsRoutes(deps));
  app.use(createCodecRouter(deps.codec));
  // The batch route's own, larger limit; the general parser below then finds the body already read.
  app.use('/api/v1/executions/batch', express.json({ limit: BATCH_BODY_LIMIT }));
  app.use('/api/v1', express.json({ limit: BODY_LIMIT }), executionRoutes({ executions, limitMaxima: deps.limitMaxima }), executionStreamRoutes(deps), deadLetterRoutes({ deadLetters }), schemaRoutes());
  app.use(notFoundRoute);
  app.use(problemMiddleware((req) => requestLog(req, deps.log)));
  return app;
}
