import { envelopeSchema, eventPayloadSchemas, EVENT_TYPES } from '../../domain/events';
import type { EventType } from '../../domain/events';
import { collectKafka } from '../support/kafka-collector';
import { bearer, startService, waitFor } from '../support/harness';
import type { RunningService } from '../support/harness';

let service: RunningService;
let kafka: Awaited<ReturnType<typeof collectKafka>>;

beforeAll(async () => {
  service = await startService();
  kafka = await collectKafka(service.config.kafka.brokers!, EVENT_TYPES);
}, 120_000);

afterAll(async () => {
  await kafka?.close();
  await service?.stop();
});

interface ExecutionBody {
  id: string;
  status: string;
  result: { exitCode: number | null; stdout: string | null; stderr: string | null; wallTimeMs: number | null; errorType: string | null; oomKilled: boolean | null; sandboxed: boolean | null };
  startedAt: string | null;
  finishedAt: string | null;
}

async function submit(body: object, headers: Record<string, string> = {}): Promise<{ status: number; location: string | null; json: ExecutionBody }> {
  const res = await fetch(`${service.api.url}/api/v1/executions`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(service.adminKey), ...headers }, body: JSON.stringify(body) });
  return { status: res.status, location: res.headers.get('location'), json: (await res.json()) as ExecutionBody };
}

async function waitForTerminal(id: string, deadlineMs = 30_000): Promise<ExecutionBody> {
  return waitFor(`execution ${id} to end`, async () => {
    const res = await fetch(`${service.api.url}/api/v1/executions/${id}`, { headers: bearer(service.adminKey) });
    const body = (await res.json()) as ExecutionBody;
    return ['completed', 'failed', 'timed_out', 'cancelled', 'error'].includes(body.status) ? body : undefined;
  }, { deadlineMs });
}

/** The execution's events on Kafka, in publish order, once all `expected` types have arrived. */
async function eventsOnKafka(id: string, expected: EventType[]) {
  const messages = await waitFor(`Kafka events ${expected.join(', ')} for ${id}`, async () => {
    const found = kafka.forKey(id);
    return found.length >= expected.length ? found : undefined;
  });
  const outbox = await service.db.outboxEvent.findMany({ where: { executionId: id }, orderBy: { sequence: 'asc' } });
  const sequenceOf = new Map(outbox.map((o) => [o.id, o.sequence]));
  // One topic per event type, so Kafka has no order across them: order by the outbox sequence.
  return messages
    .map((m) => ({ topic: m.topic, headers: m.headers, envelope: envelopeSchema.parse(JSON.parse(m.value)) }))
    .sort((a, b) => sequenceOf.get(a.envelope.event_id)! - sequenceOf.get(b.envelope.event_id)!);
}

async function expectEventsAndAudit(id: string, expected: EventType[], statuses: string[]) {
  const events = await eventsOnKafka(id, expected);
  expect(events.map((e) => e.envelope.event_type)).toEqual(expected);
  for (const { topic, envelope } of events) {
    expect(topic).toBe(envelope.event_type);
    expect(envelope.aggregate_id).toBe(id);
    expect(envelope.event_version).toBe(1);
    expect(envelope.producer.service).toBe('execution-orchestrator');
    expect(envelope.correlation_id).toBe(id);
    expect(() => eventPayloadSchemas[envelope.event_type].parse(envelope.payload)).not.toThrow();
  }
  // Each event is caused by the one before it.
  expect(events[0]!.envelope.causation_id).toBeNull();
  for (let i = 1; i < events.length; i++) expect(events[i]!.envelope.causation_id).toBe(events[i - 1]!.envelope.event_id);

  // Every outbox row was published exactly once on Kafka, in sequence order.
  const outbox = await service.db.outboxEvent.findMany({ where: { executionId: id }, orderBy: { sequence: 'asc' } });
  expect(outbox.map((o) => o.id)).toEqual(events.map((e) => e.envelope.event_id));
  expect(outbox.every((o) => o.state === 'published')).toBe(true);
  const publishedAt = outbox.map((o) => o.publishedAt!.getTime());
  expect(publishedAt).toEqual([...publishedAt].sort((a, b) => a - b));

  const audit = await service.db.executionTransition.findMany({ where: { executionId: id }, orderBy: { at: 'asc' } });
  expect(audit.map((a) => [a.fromStatus, a.toStatus])).toEqual(statuses.map((to, i) => [i === 0 ? null : statuses[i - 1], to]));
  expect(audit.map((a) => a.eventId)).toEqual(events.map((e) => e.envelope.event_id));
}

test('a python script printing a line completes with exit 0 and its stdout', async () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const created = await submit({ language: 'python', script: 'print("hello from python")' }, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
  expect(created.status).toBe(201);
  expect(created.location).toBe(`/api/v1/executions/${created.json.id}`);
  expect(created.json.status).toBe('queued');

  const done = await waitForTerminal(created.json.id);
  expect(done.status).toBe('completed');
  expect(done.result.exitCode).toBe(0);
  expect(done.result.stdout).toBe('hello from python\n');
  expect(done.result.sandboxed).toBe(true);
  expect(done.result.oomKilled).toBe(false);
  await expectEventsAndAudit(created.json.id, ['execution_requested', 'execution_started', 'execution_completed'], ['queued', 'running', 'completed']);

  // The request's trace continues on every event, each with a parent id of its own.
  const parents = (await eventsOnKafka(created.json.id, ['execution_requested', 'execution_started', 'execution_completed'])).map((e) => {
    const [, trace, parent] = (e.headers.get('traceparent') ?? '').split('-');
    expect(trace).toBe(traceId);
    return parent;
  });
  expect(new Set(parents).size).toBe(3);
});

test('a script allocating past its memory limit fails as resource_limit with the OOM kill recorded on the execution and its event', async () => {
  const created = await submit({ language: 'python', script: 'x = bytearray(300 * 1024 * 1024)', limits: { memoryMb: 128 } });
  const done = await waitForTerminal(created.json.id);
  expect(done.status).toBe('failed');
  expect(done.result.errorType).toBe('resource_limit');
  expect(done.result.oomKilled).toBe(true);
  expect(done.result.sandboxed).toBe(true);
  const events = await eventsOnKafka(created.json.id, ['execution_requested', 'execution_started', 'execution_failed']);
  const failed = events.find((e) => e.envelope.event_type === 'execution_failed');
  expect(failed?.envelope.payload).toMatchObject({ oom_killed: true, sandboxed: true, error_type: 'resource_limit' });
});

test('a malformed traceparent is ignored, as W3C Trace Context asks: the execution starts a trace of its own', async () => {
  const res = await submit({ language: 'python', script: 'print(1)' }, { traceparent: 'not-a-trace' });
  expect(res.status).toBe(201);
  const row = await service.db.execution.findUniqueOrThrow({ where: { id: res.json.id } });
  expect(row.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  await waitForTerminal(res.json.id);
});

test('a script exiting 3 fails with exit code 3 and a script_error', async () => {
  const created = await submit({ language: 'bash', script: 'echo oops >&2; exit 3' });
  const done = await waitForTerminal(created.json.id);
  expect(done.status).toBe('failed');
  expect(done.result.exitCode).toBe(3);
  expect(done.result.errorType).toBe('script_error');
  expect(done.result.stderr).toBe('oops\n');
  await expectEventsAndAudit(created.json.id, ['execution_requested', 'execution_started', 'execution_failed'], ['queued', 'running', 'failed']);
});

test('a script sleeping past its wall limit is timed out within limit + 1 s', async () => {
  const wallTimeMs = 1_000;
  const created = await submit({ language: 'python', script: 'import time\ntime.sleep(30)', limits: { wallTimeMs } });
  const done = await waitForTerminal(created.json.id);
  expect(done.status).toBe('timed_out');
  expect(done.result.errorType).toBe('timeout');
  expect(done.result.wallTimeMs).toBeGreaterThanOrEqual(wallTimeMs);
  expect(done.result.wallTimeMs).toBeLessThanOrEqual(wallTimeMs + 1_000);
  const ranFor = Date.parse(done.finishedAt!) - Date.parse(done.startedAt!);
  expect(ranFor).toBeLessThanOrEqual(wallTimeMs + 1_000);
  await expectEventsAndAudit(created.json.id, ['execution_requested', 'execution_started', 'execution_timeout'], ['queued', 'running', 'timed_out']);
});

test('retrying a finished execution runs it again as a new execution linked to the old one; a running one cannot be retried', async () => {
  const first = await submit({ language: 'bash', script: 'echo "attempt"; exit 3' });
  const failed = await waitForTerminal(first.json.id);
  expect(failed.status).toBe('failed');

  const res = await fetch(`${service.api.url}/api/v1/executions/${first.json.id}/retry`, { method: 'POST', headers: bearer(service.adminKey) });
  expect(res.status).toBe(201);
  const retried = (await res.json()) as ExecutionBody & { retryOf: string };
  expect(res.headers.get('location')).toBe(`/api/v1/executions/${retried.id}`);
  expect(retried.id).not.toBe(first.json.id);
  expect(retried.retryOf).toBe(first.json.id);
  const done = await waitForTerminal(retried.id);
  expect(done).toMatchObject({ status: 'failed', result: { exitCode: 3, stdout: 'attempt\n' } });
  await expectEventsAndAudit(retried.id, ['execution_requested', 'execution_started', 'execution_failed'], ['queued', 'running', 'failed']);
  const requested = (await eventsOnKafka(retried.id, ['execution_requested']))[0]!;
  expect(requested.envelope.payload.retry_of).toBe(first.json.id);

  const running = await submit({ language: 'bash', script: 'sleep 5' });
  const conflict = await fetch(`${service.api.url}/api/v1/executions/${running.json.id}/retry`, { method: 'POST', headers: bearer(service.adminKey) });
  expect(conflict.status).toBe(409);
  expect(conflict.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  await fetch(`${service.api.url}/api/v1/executions/${running.json.id}/cancel`, { method: 'POST', headers: bearer(service.adminKey) });
  expect((await fetch(`${service.api.url}/api/v1/executions/${'0191e8a0-0000-7000-8000-000000000000'}/retry`, { method: 'POST', headers: bearer(service.adminKey) })).status).toBe(404);
});
