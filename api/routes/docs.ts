import { dirname } from 'node:path';
import express, { Router } from 'express';
import type { RunLimits } from '../../domain/runtimes';
import { buildOpenApiDocument } from '../openapi';

/** The page at `/docs`: Swagger UI (served from the swagger-ui-dist package, no CDN) on this API's document. */
const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>execution-orchestrator API</title><link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/api/v1/openapi.json', dom_id: '#swagger-ui' });</script>
</body>
</html>`;

/** `GET /api/v1/openapi.json` and the interactive docs at `/docs`. */
export function docsRoutes(deps: { limitMaxima: RunLimits; producer: { version: string } }): Router {
  const router = Router();
  const document = buildOpenApiDocument(deps.limitMaxima, deps.producer.version);
  router.get('/api/v1/openapi.json', (_req, res) => {
    res.json(document);
  });
  router.get(['/docs', '/docs/'], (_req, res) => {
    res.type('html').send(DOCS_PAGE);
  });
  router.use('/docs', express.static(dirname(require.resolve('swagger-ui-dist/package.json')), { index: false }));
  return router;
}
