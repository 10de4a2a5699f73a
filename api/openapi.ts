import { z } from 'zod';
import { createExecutionRequestSchema } from '../domain/execution-request';
import { ExecutionStatus } from '../domain/execution-status';
import { EVENT_TYPES } from '../domain/events';
import { LANGUAGES, RUNTIMES } from '../domain/runtimes';
import type { RunLimits } from '../domain/runtimes';
import { executionViewSchema, webhookDeliveryViewSchema } from './execution-view';
import { createKeyBodySchema } from './routes/api-keys';
import { OWNER_ID_PATTERN } from '../auth/api-keys';
import { eventJsonSchemas } from './routes/schemas';
import { DISCARD_REASON_PATTERN } from './routes/dead-letters';
import { HEADER_PATTERNS } from './request-parts';
import { CURSOR_PATTERN } from './cursor';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ 'application/json': { schema } });
const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
const base64 = { type: 'string', contentEncoding: 'base64', pattern: '^[A-Za-z0-9+/]*={0,2}$' };
const codecPayloads = { type: 'object', required: ['payloads'], properties: { payloads: { type: 'array', items: { type: 'object', properties: { metadata: { type: ['object', 'null'], additionalProperties: base64 }, data: { ...base64, type: ['string', 'null'] } } } } } };
const codecOperation = (summary: string) => ({
  summary,
  parameters: [{ name: 'X-Namespace', in: 'header', required: false, schema: { type: 'string' }, description: 'sent by the Web UI' }],
  requestBody: { required: true, content: { 'application/json': { schema: codecPayloads } } },
  responses: { 200: { description: 'the payloads, encoded or decoded', content: { 'application/json': { schema: codecPayloads } } }, 400: problem('not a payload list'), 403: problem('not allowed to use the codec'), 422: problem('a payload this keyring cannot decrypt (unknown key id, wrong key, altered)') },
});
/** One Server-Sent Event of an execution's stream: a domain event (its envelope in `data`, its sequence in `id`), or `end`. */
const sseEventSchema = {
  type: 'object',
  required: ['event', 'data'],
  properties: {
    event: { enum: [...EVENT_TYPES, 'end'] },
    data: { type: 'string', contentMediaType: 'application/json', description: 'the event envelope (see /api/v1/schemas/events); for `end`, the execution' },
    id: { type: 'string', pattern: '^[0-9]+$', description: 'the per-execution sequence; absent on `end`' },
  },
};
const cursorSchema = { type: 'string', pattern: CURSOR_PATTERN.source };
const idParam = (description: string) => ({ name: 'id', in: 'path', required: true, description, schema: { type: 'string', format: 'uuid' } });
const query = (name: string, schema: object, description?: string) => ({ name, in: 'query', required: false, schema, ...(description ? { description } : {}) });
const header = (name: string, description: string) => ({ name, in: 'header', required: false, description, schema: { type: 'string', ...(name in HEADER_PATTERNS ? { pattern: HEADER_PATTERNS[name as keyof typeof HEADER_PATTERNS].source } : {}) } });
const bodyOf = (schema: object, required = true) => ({ required, content: json(schema) });
const reasonBody = (required: boolean) => ({ type: 'object', additionalProperties: false, properties: { reason: { type: 'string', maxLength: 1000, ...(required ? { pattern: DISCARD_REASON_PATTERN.source } : {}) } }, ...(required ? { required: ['reason'] } : {}) });

/** Served before the per-principal limits (api/app.ts), so never 429 from them. */
const UNLIMITED_PATHS = new Set(['/api/v1/openapi.json', '/healthz', '/readyz', '/metrics']);

/** One operation of the document, as the `with…` passes below amend it. */
interface Operation {
  responses: Record<string, { description?: string; content?: unknown; headers?: Record<string, unknown> }>;
  security?: unknown[];
  parameters?: unknown[];
  requestBody?: unknown;
}

/** Calls `amend` with every operation of `paths` and its path; returns `paths`, amended in place. */
function eachOperation<T extends Record<string, Record<string, object>>>(paths: T, amend: (operation: Operation, path: string) => void): T {
  for (const [path, operations] of Object.entries(paths)) {
    for (const operation of Object.values(operations)) amend(operation as Operation, path);
  }
  return paths;
}

const LIMIT_HEADERS = {
  'Retry-After': { description: 'seconds to wait', schema: { type: 'integer' } },
  'RateLimit-Policy': { description: 'draft-ietf-httpapi-ratelimit-headers-10, e.g. `"requests";q=50;w=1`', schema: { type: 'string' } },
  RateLimit: { description: 'draft-ietf-httpapi-ratelimit-headers-10, e.g. `"requests";r=0;t=1`', schema: { type: 'string' } },
};

/** Adds the answers of the rate limits (api/rate-limits.ts) to every limited operation. */
const withLimitResponses = <T extends Record<string, Record<string, object>>>(paths: T): T =>
  eachOperation(paths, (operation, path) => {
    if (UNLIMITED_PATHS.has(path)) return;
    operation.responses[429] = { ...problem('past a rate limit or the owner quota (`policy` names which)'), headers: LIMIT_HEADERS };
    operation.responses[503] = { ...problem('rate limits cannot be checked (Redis down) and fail closed'), headers: { 'Retry-After': LIMIT_HEADERS['Retry-After'] } };
  });

/** An execution as the API renders it ({@link executionViewSchema}), with the live state GET of one adds. */
const executionSchema = () => {
  const view = z.toJSONSchema(executionViewSchema, { io: 'output' }) as { $schema?: string; properties: Record<string, unknown> };
  delete view.$schema; // the document's dialect applies
  const live = { type: ['object', 'null'], description: 'GET of one execution only: step, queue position, activity, attempt, last heartbeat, outage pauses while not ended' };
  const deliveries = z.toJSONSchema(z.array(webhookDeliveryViewSchema), { io: 'output' }) as { $schema?: string };
  delete deliveries.$schema;
  const webhook = {
    type: ['object', 'null'],
    description: 'GET of one execution only: its completion webhook (state of the last attempt, or pending) and every attempt; null when it asked for none',
    properties: { callbackUrl: { type: ['string', 'null'] }, state: { type: 'string' }, deliveries },
  };
  return { ...view, properties: { ...view.properties, live, webhook } };
};

type JsonObject = Record<string, unknown> & { properties?: Record<string, JsonObject> };

/**
 * The rules the request schema checks in code (its refinement), written into the document: each limit's maximum
 * (config MAX_LIMITS_JSON) and the one version each language provides.
 */
function withRuntimeRules(schema: JsonObject, limitMaxima: RunLimits): JsonObject {
  const limits = schema.properties?.limits;
  for (const [field, max] of Object.entries(limitMaxima)) {
    const property = limits?.properties?.[field];
    if (property) property.maximum = max;
  }
  return { ...schema, oneOf: LANGUAGES.map((language) => ({ properties: { language: { const: language }, version: { const: RUNTIMES[language].version } } })) };
}

/** Declares `Server-Timing` (api/server-timing.ts) on every answer of every operation. */
const withServerTiming = <T extends Record<string, Record<string, object>>>(paths: T): T =>
  eachOperation(paths, (operation) => {
    for (const [code, response] of Object.entries(operation.responses)) {
      // A fresh object: responses share their header maps (the rate limits' one, for instance).
      operation.responses[code] = { ...response, headers: { ...response.headers, 'Server-Timing': { $ref: '#/components/headers/ServerTiming' } } };
    }
  });

/** Operations anyone may call; every other one needs an API key. */
const PUBLIC_PATHS = new Set(['/api/v1/openapi.json', '/healthz', '/readyz']);
/** Operations only an admin key may call. */
const isAdminPath = (p: string) => p === '/metrics' || p.startsWith('/codec/') || p.startsWith('/api/v1/dlq') || p.startsWith('/api/v1/keys');

/** Adds to each operation who may call it: `security`, and the 401 / 403 / 503 its key check can answer. */
const withAccess = <T extends Record<string, Record<string, object>>>(paths: T): T =>
  eachOperation(paths, (operation, path) => {
    if (PUBLIC_PATHS.has(path)) {
      operation.security = [];
      return;
    }
    operation.responses[401] = { ...problem('no API key, or one unknown, malformed or revoked'), headers: { 'WWW-Authenticate': { schema: { type: 'string' } } } };
    if (isAdminPath(path)) operation.responses[403] = problem('a user key: this operation needs an admin key');
    operation.responses[503] = { ...problem('the API key cannot be checked now (the database does not answer)'), headers: { 'Retry-After': { schema: { type: 'integer' } } } };
  });

/**
 * Adds the answers of request parsing to every operation that parses something: 400 (a malformed parameter or
 * body, naming it), and for a body 413 (too large) and 415 (not JSON). An operation's own wording is kept.
 */
const withRequestErrors = <T extends Record<string, Record<string, object>>>(paths: T): T =>
  eachOperation(paths, (operation) => {
    if (operation.requestBody) {
      operation.responses[400] ??= problem('invalid body, naming the field');
      operation.responses[413] ??= problem('body too large');
      operation.responses[415] ??= problem('body not JSON');
    }
    if (operation.parameters?.length) operation.responses[400] ??= problem('a malformed parameter, naming it');
  });

const apiKeySchema = {
  type: 'object',
  required: ['prefix', 'ownerId', 'role', 'name', 'createdAt', 'lastUsedAt', 'revokedAt'],
  properties: {
    prefix: { type: 'string', description: 'public part of the key; audit rows name the key as key:<prefix>' },
    ownerId: { type: 'string' },
    role: { enum: ['user', 'admin'] },
    name: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    lastUsedAt: { type: ['string', 'null'], format: 'date-time', description: 'updated at most once a minute' },
    revokedAt: { type: ['string', 'null'], format: 'date-time' },
  },
};

/**
 * The OpenAPI 3.1 description of the REST API (served at `/api/v1/openapi.json`, browsable at `/docs`).
 * Request bodies come from the same zod schemas the routes validate with; a test checks that every route
 * the app serves is described here and that every path described here is served.
 */
export function buildOpenApiDocument(limitMaxima: RunLimits, version: string) {
  const executionRequest = withRuntimeRules(z.toJSONSchema(createExecutionRequestSchema(limitMaxima), { io: 'input', unrepresentable: 'any' }) as JsonObject, limitMaxima);
  const createKeyRequest = z.toJSONSchema(createKeyBodySchema, { io: 'input' });
  return {
    openapi: '3.1.0',
    info: {
      title: 'execution-orchestrator',
      version,
      description:
        'Runs scripts under limits as Temporal sagas. Errors are RFC 9457 problem+json. Every operation but the document, /healthz and /readyz needs `Authorization: Bearer <API key>`. A user key sees and acts on its own executions only (another owner\'s answers 404, as an unknown one); an admin key sees all, and alone may use /dlq, /keys and /metrics. Strings holding NUL or unpaired UTF-16 surrogates are refused with 400.',
    },
    security: [{ bearerAuth: [] }],
    paths: withServerTiming(withRequestErrors(withAccess(withLimitResponses({
      '/api/v1/executions': {
        post: {
          summary: 'Submit an execution',
          parameters: [header('Idempotency-Key', 'same key + same body → the same execution (200); other body → 422'), header('X-Correlation-Id', 'carried into every event'), header('traceparent', 'W3C trace context: a valid one is continued; anything else is ignored and a new trace starts')],
          requestBody: bodyOf(ref('ExecutionRequest')),
          responses: { 201: { description: 'created: its saga started (SAGA_START=inline), or starting (deferred)', headers: { Location: { schema: { type: 'string' } } }, content: json(ref('Execution')) }, 200: { description: 'idempotent replay', content: json(ref('Execution')) }, 400: problem('invalid request, naming the field'), 413: problem('body too large'), 415: problem('not JSON'), 422: problem('Idempotency-Key reused with another body, or a callbackUrl from an owner without a webhook secret') },
        },
        get: {
          summary: 'List executions, newest first: a user key lists its own owner\'s only',
          parameters: [query('status', { enum: Object.values(ExecutionStatus) }), query('language', { enum: [...LANGUAGES] }), query('owner', { type: 'string', pattern: OWNER_ID_PATTERN.source }, 'admin keys: that owner\'s; user keys: another owner finds none'), query('cursor', cursorSchema, 'nextCursor of the previous page'), query('limit', { type: 'integer', minimum: 1, maximum: 100, default: 20 })],
          responses: { 200: { description: 'a page', content: json({ type: 'object', properties: { items: { type: 'array', items: ref('Execution') }, nextCursor: { type: ['string', 'null'] } } }) }, 400: problem('bad query') },
        },
      },
      '/api/v1/executions/batch': {
        post: {
          summary: 'Submit up to 100 executions; answered per item',
          parameters: [header('Idempotency-Key', 'covers the batch: item i uses <key>#<i>')],
          requestBody: bodyOf({ type: 'object', required: ['items'], additionalProperties: false, properties: { items: { type: 'array', minItems: 1, maxItems: 100, items: { type: 'object', description: 'an ExecutionRequest, validated on its own: an invalid one is answered with its problem in its place (status 400), the others still start' } } } }),
          responses: { 200: { description: 'per-item status with execution or problem', content: json({ type: 'object', properties: { items: { type: 'array', items: { type: 'object', properties: { index: { type: 'integer' }, status: { type: 'integer' }, location: { type: 'string' }, execution: ref('Execution'), problem: ref('Problem') } } }, accepted: { type: 'integer' }, failed: { type: 'integer' } } }) }, 400: problem('not a batch'), 415: problem('not JSON') },
        },
      },
      '/api/v1/executions/{id}': {
        get: { summary: 'One execution, with its live state while it runs', parameters: [idParam('execution id')], responses: { 200: { description: 'the execution', content: json(ref('Execution')) }, 404: problem('unknown, or another owner\'s') } },
      },
      '/api/v1/executions/{id}/events': {
        get: { summary: 'Audit trail and emitted events', parameters: [idParam('execution id')], responses: { 200: { description: 'transitions and events with publish state', content: json({ type: 'object' }) }, 404: problem('unknown, or another owner\'s') } },
      },
      '/api/v1/executions/{id}/stream': {
        get: {
          summary: 'Server-Sent Events: each domain event, then `end` with the execution; closes on any terminal state',
          parameters: [idParam('execution id'), header('Last-Event-ID', 'resume after this sequence')],
          responses: { 200: { description: 'event stream', content: { 'text/event-stream': { schema: sseEventSchema } } }, 400: problem('bad Last-Event-ID'), 404: problem('unknown, or another owner\'s') },
        },
      },
      '/api/v1/executions/{id}/cancel': {
        post: { summary: 'Cancel a queued or running execution', parameters: [idParam('execution id')], requestBody: bodyOf(reasonBody(false), false), responses: { 202: { description: 'accepted', content: json(ref('Execution')) }, 400: problem('bad body'), 404: problem('unknown, or another owner\'s'), 409: problem('already ended'), 415: problem('not JSON') } },
      },
      '/api/v1/executions/{id}/retry': {
        post: { summary: 'Run a finished execution again as a new one', parameters: [idParam('execution id')], responses: { 201: { description: 'the new execution', content: json(ref('Execution')) }, 404: problem('unknown, or another owner\'s'), 409: problem('still running') } },
      },
      '/api/v1/runtimes': { get: { summary: 'Languages, versions, default and maximum limits', responses: { 200: { description: 'runtimes', content: json({ type: 'object' }) } } } },
      '/api/v1/schemas/events': { get: { summary: 'JSON Schema of every event, with topics and .dlq topics', responses: { 200: { description: 'schemas', content: json({ type: 'object' }) } } } },
      '/api/v1/dlq': {
        get: {
          summary: 'Dead letters, newest first',
          parameters: [query('eventType', { type: 'string', minLength: 1, maxLength: 100 }), query('executionId', { type: 'string', format: 'uuid' }), query('cursor', cursorSchema, 'nextCursor of the previous page'), query('limit', { type: 'integer', minimum: 1, maximum: 100, default: 20 })],
          responses: { 200: { description: 'a page of dead letters', content: json({ type: 'object' }) }, 400: problem('bad query') },
        },
      },
      '/api/v1/dlq/retry': {
        post: {
          summary: 'Retry dead letters in bulk (up to 1000 a call)',
          requestBody: bodyOf({ type: 'object', additionalProperties: false, properties: { eventType: { type: 'string', minLength: 1, maxLength: 100 }, executionId: { type: 'string', format: 'uuid' }, all: { const: true }, reason: { type: 'string', maxLength: 1000 } }, anyOf: [{ required: ['all'] }, { required: ['eventType'] }, { required: ['executionId'] }] }),
          responses: { 200: { description: 'how many were retried', content: json({ type: 'object', properties: { retried: { type: 'integer' }, ids: { type: 'array', items: { type: 'string' } }, more: { type: 'boolean' } } }) }, 400: problem('no filter and no "all"') },
        },
      },
      '/api/v1/dlq/{id}/retry': {
        post: { summary: 'Retry one dead letter', parameters: [idParam('event id')], requestBody: bodyOf(reasonBody(false), false), responses: { 200: { description: 'now pending', content: json({ type: 'object' }) }, 404: problem('unknown, or another owner\'s'), 409: problem('not dead') } },
      },
      '/api/v1/dlq/{id}/discard': {
        post: { summary: 'Discard one dead letter (kept, audited)', parameters: [idParam('event id')], requestBody: bodyOf(reasonBody(true)), responses: { 200: { description: 'now discarded', content: json({ type: 'object' }) }, 400: problem('no reason'), 404: problem('unknown, or another owner\'s'), 409: problem('not dead') } },
      },
      '/api/v1/webhook-secret': {
        post: {
          summary: 'Make or rotate the owner\'s webhook signing secret (whsec_…, Standard Webhooks); shown this once. A user key: its own owner; an admin key may name ownerId',
          requestBody: bodyOf({ type: 'object', additionalProperties: false, properties: { ownerId: { type: 'string', pattern: OWNER_ID_PATTERN.source } } }, false),
          responses: { 201: { description: 'the secret, shown once', content: json({ type: 'object', properties: { ownerId: { type: 'string' }, secret: { type: 'string' }, createdAt: { type: 'string' }, rotatedAt: { type: ['string', 'null'] }, keyId: { type: 'string' } } }) }, 400: problem('bad body'), 403: problem('a user key naming another owner'), 415: problem('not JSON') },
        },
        get: {
          summary: 'Whether the owner has a webhook secret, and since when (never the secret)',
          parameters: [query('ownerId', { type: 'string', pattern: OWNER_ID_PATTERN.source }, 'admin keys only: another owner')],
          responses: { 200: { description: 'status', content: json({ type: 'object', properties: { exists: { type: 'boolean' }, ownerId: { type: 'string' }, createdAt: { type: ['string', 'null'] }, rotatedAt: { type: ['string', 'null'] }, keyId: { type: ['string', 'null'] } } }) }, 400: problem('bad query'), 403: problem('a user key naming another owner') },
        },
      },
      '/api/v1/keys': {
        get: { summary: 'Every API key, revoked ones included, newest first (never a secret)', responses: { 200: { description: 'the keys', content: json({ type: 'object', properties: { items: { type: 'array', items: ref('ApiKey') } } }) } } },
        post: {
          summary: 'Create an API key: the answer holds the key, shown this once',
          requestBody: bodyOf(createKeyRequest),
          responses: {
            201: { description: 'created', headers: { Location: { schema: { type: 'string' } } }, content: json({ allOf: [ref('ApiKey'), { type: 'object', required: ['key'], properties: { key: { type: 'string', description: 'eo_<prefix>_<secret>: send as Authorization: Bearer <key>' } } }] }) },
            400: problem('invalid request, naming the field'),
            415: problem('not JSON'),
          },
        },
      },
      '/api/v1/keys/{prefix}/revoke': {
        post: {
          summary: 'Revoke an API key (kept, listed with revokedAt; idempotent)',
          parameters: [{ name: 'prefix', in: 'path', required: true, description: 'the key prefix', schema: { type: 'string', pattern: '^[0-9a-f]{10}$' } }],
          responses: { 200: { description: 'revoked', content: json(ref('ApiKey')) }, 400: problem('not a key prefix'), 404: problem('no such key') },
        },
      },
      '/api/v1/openapi.json': { get: { summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1', content: json({ type: 'object' }) } } } },
      '/healthz': { get: { summary: 'Liveness', responses: { 200: { description: 'alive' } } } },
      '/readyz': { get: { summary: 'Readiness: Postgres, Temporal (Kafka reported; Redis reported, and unready when limits fail closed)', responses: { 200: { description: 'ready' }, 503: { description: 'not ready, naming what' } } } },
      '/codec/encode': { post: codecOperation('Encrypt payloads (Temporal codec-server protocol)') },
      '/codec/decode': { post: codecOperation('Decrypt payloads for the Temporal Web UI and CLI (Temporal codec-server protocol); unencrypted payloads come back as they are') },
      '/metrics': { get: { summary: 'Prometheus metrics (admin key)', responses: { 200: { description: 'text exposition', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
    })))),
    components: {
      headers: {
        ServerTiming: {
          description: 'W3C Server Timing: what the request waited on (`auth` the key lookup, `limits` the rate limits, `db` Postgres, `temporal` the Temporal frontend) and its `total`, ms; absent with API_SERVER_TIMING=false',
          schema: { type: 'string', example: 'auth;dur=0.52, limits;dur=0.71, db;dur=3.10, temporal;dur=7.94, total;dur=13.40' },
        },
      },
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key, eo_<prefix>_<secret> (npm run keys -- create, or POST /api/v1/keys)' } },
      schemas: {
        ApiKey: apiKeySchema,
        ExecutionRequest: executionRequest,
        Execution: executionSchema(),
        Problem: {
          type: 'object',
          properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, instance: { type: 'string' }, errors: { type: 'array', items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } } } },
        },
        ...Object.fromEntries(Object.entries(eventJsonSchemas()).map(([type, schema]) => [`Event_${type}`, schema])),
      },
    },
  };
}
