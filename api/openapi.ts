import { z } from 'zod';
import { createExecutionRequestSchema } from '../domain/execution-request';
import { ExecutionStatus } from '../domain/execution-status';
import { LANGUAGES } from '../domain/runtimes';
import type { RunLimits } from '../domain/runtimes';
import { executionViewSchema } from './execution-view';
import { eventJsonSchemas } from './routes/schemas';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ 'application/json': { schema } });
const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } });
const codecPayloads = { type: 'object', required: ['payloads'], properties: { payloads: { type: 'array', items: { type: 'object', properties: { metadata: { type: 'object', additionalProperties: { type: 'string', contentEncoding: 'base64' } }, data: { type: 'string', contentEncoding: 'base64' } } } } } };
const codecOperation = (summary: string) => ({
  summary,
  parameters: [{ name: 'X-Namespace', in: 'header', required: false, schema: { type: 'string' }, description: 'sent by the Web UI' }],
  requestBody: { required: true, content: { 'application/json': { schema: codecPayloads } } },
  responses: { 200: { description: 'the payloads, encoded or decoded', content: { 'application/json': { schema: codecPayloads } } }, 400: problem('not a payload list'), 403: problem('not allowed to use the codec'), 422: problem('a payload this keyring cannot decrypt (unknown key id, wrong key, altered)') },
});
const idParam = (description: string) => ({ name: 'id', in: 'path', required: true, description, schema: { type: 'string', format: 'uuid' } });
const query = (name: string, schema: object, description?: string) => ({ name, in: 'query', required: false, schema, ...(description ? { description } : {}) });
const header = (name: string, description: string) => ({ name, in: 'header', required: false, description, schema: { type: 'string' } });
const bodyOf = (schema: object, required = true) => ({ required, content: json(schema) });
const reasonBody = (required: boolean) => ({ type: 'object', additionalProperties: false, properties: { reason: { type: 'string', maxLength: 1000 } }, ...(required ? { required: ['reason'] } : {}) });

/** An execution as the API renders it ({@link executionViewSchema}), with the live state GET of one adds. */
const executionSchema = () => {
  const view = z.toJSONSchema(executionViewSchema, { io: 'output' }) as { $schema?: string; properties: Record<string, unknown> };
  delete view.$schema; // the document's dialect applies
  const live = { type: ['object', 'null'], description: 'GET of one execution only: step, queue position, activity, attempt, last heartbeat, outage pauses while not ended' };
  return { ...view, properties: { ...view.properties, live } };
};

/**
 * The OpenAPI 3.1 description of the REST API (served at `/api/v1/openapi.json`, browsable at `/docs`).
 * Request bodies come from the same zod schemas the routes validate with; a test checks that every route
 * the app serves is described here and that every path described here is served.
 */
export function buildOpenApiDocument(limitMaxima: RunLimits, version: string) {
  const executionRequest = z.toJSONSchema(createExecutionRequestSchema(limitMaxima), { io: 'input', unrepresentable: 'any' });
  return {
    openapi: '3.1.0',
    info: {
      title: 'execution-orchestrator',
      version,
      description: 'Runs scripts under limits as Temporal sagas. Errors are RFC 9457 problem+json. Owner: `X-Owner-Id` until API keys land.',
    },
    paths: {
      '/api/v1/executions': {
        post: {
          summary: 'Submit an execution',
          parameters: [header('Idempotency-Key', 'same key + same body → the same execution (200); other body → 422'), header('X-Owner-Id', 'owner'), header('X-Correlation-Id', 'carried into every event'), header('traceparent', 'W3C trace context')],
          requestBody: bodyOf(ref('ExecutionRequest')),
          responses: { 201: { description: 'created', headers: { Location: { schema: { type: 'string' } } }, content: json(ref('Execution')) }, 200: { description: 'idempotent replay', content: json(ref('Execution')) }, 400: problem('invalid request, naming the field'), 413: problem('body too large'), 415: problem('not JSON'), 422: problem('Idempotency-Key reused with another body') },
        },
        get: {
          summary: 'List executions, newest first',
          parameters: [query('status', { enum: Object.values(ExecutionStatus) }), query('language', { enum: [...LANGUAGES] }), query('owner', { type: 'string' }), query('cursor', { type: 'string' }, 'nextCursor of the previous page'), query('limit', { type: 'integer', minimum: 1, maximum: 100, default: 20 })],
          responses: { 200: { description: 'a page', content: json({ type: 'object', properties: { items: { type: 'array', items: ref('Execution') }, nextCursor: { type: ['string', 'null'] } } }) }, 400: problem('bad query') },
        },
      },
      '/api/v1/executions/batch': {
        post: {
          summary: 'Submit up to 100 executions; answered per item',
          parameters: [header('Idempotency-Key', 'covers the batch: item i uses <key>#<i>')],
          requestBody: bodyOf({ type: 'object', required: ['items'], additionalProperties: false, properties: { items: { type: 'array', minItems: 1, maxItems: 100, items: ref('ExecutionRequest') } } }),
          responses: { 200: { description: 'per-item status with execution or problem', content: json({ type: 'object', properties: { items: { type: 'array', items: { type: 'object', properties: { index: { type: 'integer' }, status: { type: 'integer' }, location: { type: 'string' }, execution: ref('Execution'), problem: ref('Problem') } } }, accepted: { type: 'integer' }, failed: { type: 'integer' } } }) }, 400: problem('not a batch'), 415: problem('not JSON') },
        },
      },
      '/api/v1/executions/{id}': {
        get: { summary: 'One execution, with its live state while it runs', parameters: [idParam('execution id')], responses: { 200: { description: 'the execution', content: json(ref('Execution')) }, 404: problem('unknown') } },
      },
      '/api/v1/executions/{id}/events': {
        get: { summary: 'Audit trail and emitted events', parameters: [idParam('execution id')], responses: { 200: { description: 'transitions and events with publish state', content: json({ type: 'object' }) }, 404: problem('unknown') } },
      },
      '/api/v1/executions/{id}/stream': {
        get: {
          summary: 'Server-Sent Events: each domain event, then `end` with the execution; closes on any terminal state',
          parameters: [idParam('execution id'), header('Last-Event-ID', 'resume after this sequence')],
          responses: { 200: { description: 'event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, 400: problem('bad Last-Event-ID'), 404: problem('unknown') },
        },
      },
      '/api/v1/executions/{id}/cancel': {
        post: { summary: 'Cancel a queued or running execution', parameters: [idParam('execution id')], requestBody: bodyOf(reasonBody(false), false), responses: { 202: { description: 'accepted', content: json(ref('Execution')) }, 400: problem('bad body'), 404: problem('unknown'), 409: problem('already ended'), 415: problem('not JSON') } },
      },
      '/api/v1/executions/{id}/retry': {
        post: { summary: 'Run a finished execution again as a new one', parameters: [idParam('execution id')], responses: { 201: { description: 'the new execution', content: json(ref('Execution')) }, 404: problem('unknown'), 409: problem('still running') } },
      },
      '/api/v1/runtimes': { get: { summary: 'Languages, versions, default and maximum limits', responses: { 200: { description: 'runtimes', content: json({ type: 'object' }) } } } },
      '/api/v1/schemas/events': { get: { summary: 'JSON Schema of every event, with topics and .dlq topics', responses: { 200: { description: 'schemas', content: json({ type: 'object' }) } } } },
      '/api/v1/dlq': {
        get: {
          summary: 'Dead letters, newest first',
          parameters: [query('eventType', { type: 'string' }), query('executionId', { type: 'string', format: 'uuid' }), query('cursor', { type: 'string' }), query('limit', { type: 'integer', minimum: 1, maximum: 100, default: 20 })],
          responses: { 200: { description: 'a page of dead letters', content: json({ type: 'object' }) }, 400: problem('bad query') },
        },
      },
      '/api/v1/dlq/retry': {
        post: {
          summary: 'Retry dead letters in bulk (up to 1000 a call)',
          requestBody: bodyOf({ type: 'object', additionalProperties: false, properties: { eventType: { type: 'string' }, executionId: { type: 'string', format: 'uuid' }, all: { const: true }, reason: { type: 'string' } } }),
          responses: { 200: { description: 'how many were retried', content: json({ type: 'object', properties: { retried: { type: 'integer' }, ids: { type: 'array', items: { type: 'string' } }, more: { type: 'boolean' } } }) }, 400: problem('no filter and no "all"') },
        },
      },
      '/api/v1/dlq/{id}/retry': {
        post: { summary: 'Retry one dead letter', parameters: [idParam('event id')], requestBody: bodyOf(reasonBody(false), false), responses: { 200: { description: 'now pending', content: json({ type: 'object' }) }, 404: problem('unknown'), 409: problem('not dead') } },
      },
      '/api/v1/dlq/{id}/discard': {
        post: { summary: 'Discard one dead letter (kept, audited)', parameters: [idParam('event id')], requestBody: bodyOf(reasonBody(true)), responses: { 200: { description: 'now discarded', content: json({ type: 'object' }) }, 400: problem('no reason'), 404: problem('unknown'), 409: problem('not dead') } },
      },
      '/api/v1/openapi.json': { get: { summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1', content: json({ type: 'object' }) } } } },
      '/healthz': { get: { summary: 'Liveness', responses: { 200: { description: 'alive' } } } },
      '/readyz': { get: { summary: 'Readiness: Postgres, Temporal (Kafka reported)', responses: { 200: { description: 'ready' }, 503: { description: 'not ready, naming what' } } } },
      '/codec/encode': { post: codecOperation('Encrypt payloads (Temporal codec-server protocol)') },
      '/codec/decode': { post: codecOperation('Decrypt payloads for the Temporal Web UI and CLI (Temporal codec-server protocol); unencrypted payloads come back as they are') },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'text exposition', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
    },
    components: {
      schemas: {
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
