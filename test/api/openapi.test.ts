import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { LANGUAGES } from '../../domain/runtimes';
import { testConfig } from '../support/harness';
import { createTestApp } from '../support/test-app';

const config = testConfig();
let testApp: Awaited<ReturnType<typeof createTestApp>>;
let document: { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, { properties?: Record<string, { enum?: unknown[] }>; required?: string[] }> } };

beforeAll(async () => {
  testApp = await createTestApp(config);
  document = (await request(testApp.app).get('/api/v1/openapi.json')).body;
});
afterAll(() => testApp?.close());

/** Routers mounted under /api/v1 in app.ts; the others declare full paths. */
const MOUNTED_UNDER_API = new Set(['executions.ts', 'execution-stream.ts', 'dead-letters.ts', 'api-keys.ts', 'runtimes.ts', 'schemas.ts', 'webhook-secrets.ts']);

/** `METHOD /path/{param}` of every route the API's source declares, the docs UI aside. */
function declaredRoutes(): string[] {
  const apiDir = path.join(__dirname, '..', '..', 'api');
  const files = [path.join(apiDir, 'app.ts'), ...readdirSync(path.join(apiDir, 'routes')).map((f) => path.join(apiDir, 'routes', f))];
  const routes: string[] = [];
  for (const file of files) {
    const prefix = MOUNTED_UNDER_API.has(path.basename(file)) ? '/api/v1' : '';
    for (const match of readFileSync(file, 'utf8').matchAll(/(?:router|app)\.(get|post|put|patch|delete)\(\s*(\[[^\]]*\]|'[^']*')/g)) {
      const paths = [...match[2]!.matchAll(/'([^']*)'/g)].map((m) => m[1]!);
      for (const p of paths) routes.push(`${match[1]!.toUpperCase()} ${prefix}${p.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return routes.filter((r) => !r.includes(' /docs'));
}

test('the document is OpenAPI 3.1 and takes the submission schema from the zod schema the route validates with', () => {
  expect(document.openapi).toBe('3.1.0');
  const submission = document.components.schemas.ExecutionRequest!;
  expect(submission.properties!.language!.enum).toEqual([...LANGUAGES]);
  expect(submission.required).toEqual(expect.arrayContaining(['language', 'script']));
  expect(Object.keys(document.components.schemas)).toContain('Event_execution_completed');
});

test('every route the API declares is described, and every described operation is declared', () => {
  const described = Object.entries(document.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
  expect([...new Set(declaredRoutes())].sort()).toEqual(described.sort());
});

test('every operation but the document and the probes needs a bearer key and documents 401; admin-only ones document 403', () => {
  const doc = document as unknown as { security: unknown[]; components: { securitySchemes: Record<string, unknown> }; paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>> };
  expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
  expect(doc.security).toEqual([{ bearerAuth: [] }]);
  for (const [p, operations] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const at = `${method.toUpperCase()} ${p}`;
      if (['/healthz', '/readyz', '/api/v1/openapi.json'].includes(p)) expect([at, operation.security]).toEqual([at, []]);
      else expect([at, Object.keys(operation.responses)]).toEqual([at, expect.arrayContaining(['401'])]);
      const adminOnly = p === '/metrics' || p.startsWith('/codec/') || p.startsWith('/api/v1/dlq') || p.startsWith('/api/v1/keys');
      // The webhook secret's routes answer 403 to a user key naming another owner.
      expect([at, '403' in operation.responses]).toEqual([at, adminOnly || p === '/api/v1/webhook-secret']);
    }
  }
  expect(JSON.stringify(document)).not.toContain('X-Owner-Id');
});

test('every described GET without parameters is served', async () => {
  const plain = Object.entries(document.paths).filter(([p, ops]) => 'get' in ops && !p.includes('{'));
  expect(plain.length).toBeGreaterThan(5);
  for (const [p] of plain) {
    const res = await testApp.api().get(p);
    expect([p, res.status]).toEqual([p, 200]);
  }
});

test('interactive docs are served from the installed Swagger UI, pointing at the document', async () => {
  const page = await request(testApp.app).get('/docs');
  expect(page.status).toBe(200);
  expect(page.text).toContain("url: '/api/v1/openapi.json'");
  const bundle = await request(testApp.app).get('/docs/swagger-ui-bundle.js');
  expect(bundle.status).toBe(200);
  expect(bundle.headers['content-type']).toMatch(/javascript/);
});
