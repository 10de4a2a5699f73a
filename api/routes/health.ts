import { Router } from 'express';

/** Liveness: the process serves HTTP. Readiness (`/readyz`) checks dependencies. */
export function healthRoutes(): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  return router;
}
