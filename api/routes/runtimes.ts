import { Router } from 'express';
import { DEFAULT_LIMITS, RUNTIMES } from '../../domain/runtimes';
import type { HealthDeps } from './health';

/** `/runtimes` (under `/api/v1`): languages, versions, default and maximum limits. */
export function runtimeRoutes(deps: Pick<HealthDeps, 'limitMaxima' | 'installedRuntimes'>): Router {
  const router = Router();
  router.get('/runtimes', (_req, res) => {
    res.json({
      runtimes: deps.installedRuntimes ?? Object.values(RUNTIMES).map((r) => ({ language: r.language, version: r.version })),
      defaultLimits: DEFAULT_LIMITS,
      maxLimits: deps.limitMaxima,
    });
  });
  return router;
}
