import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { EVENT_TYPES } from '../../domain/events';
import { createDb } from '../../store/db';
import type { Db } from '../../store/db';
import { collectKafka } from '../support/kafka-collector';
import { bearer, createTestKey, removeReconcilerSchedule, resetDatabase, testConfig, waitFor } from '../support/harness';
import { parsePrometheusText } from './prometheus-text';
import { freeLoopbackPort } from '../../stack/port';

// The API, the worker and the relay each as its own process, as deployed (`node dist/…` — here through tsx),
// exporting spans over OTLP/HTTP to a receiver in this test and writing JSON logs on stdout.

const root = path.join(__dirname, '..', '..');
const config = testConfig();
const taskQueue = config.temporal.taskQueue;

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Array<{ key: string; value: { stringValue?: string; intValue?: string | number } }>;
  service: string;
}

const spans: OtlpSpan[] = [];
let receiver: Server;
let otlpEndpoint: string;
const children: Array<{ name: string; child: ChildProcess; lines: Array<Record<string, unknown>> }> = [];
let db: Db;
let kafka: Awaited<ReturnType<typeof collectKafka>>;
let ports: { api: number; worker: number; relay: number };

/** An OTLP/HTTP (JSON) trace receiver: keeps every span with the service name of its resource. */
async function startReceiver(): Promise<void> {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.headers['content-type']?.startsWith('application/json')) {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans: Array<{ resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: Array<{ spans: Omit<OtlpSpan, 'service'>[] }> }> };
        for (const rs of body.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
          for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service });
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else {
        res.writeHead(415).end();
      }
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  otlpEndpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
}

function spawnProcess(name: string, entry: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, entry)], {
    cwd: root,
    env: { ...process.env, TEMPORAL_TASK_QUEUE: taskQueue, LOG_FORMAT: 'json', LOG_LEVEL: 'info', OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) if (line.startsWith('{')) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(`[${name}] ${chunk.toString('utf8')}`));
  children.push({ name, child, lines });
  return lines;
}

const exited = () => children.find((c) => c.child.exitCode !== null || c.child.signalCode !== null)?.name;

async function scrape(port: number, pathname: string, headers: Record<string, string> = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${pathname}`, { headers });
  return { status: res.status, text: await res.text() };
}

beforeAll(async () => {
  db = createDb(config.databaseUrl);
  await resetDatabase(db);
  await startReceiver();
  ports = { api: await freeLoopbackPort(), worker: await freeLoopbackPort(), relay: await freeLoopbackPort() };
  spawnProcess('worker', 'worker.ts', { OPS_PORT: String(ports.worker) });
  spawnProcess('relay', 'relay/main.ts', { OPS_PORT: String(ports.relay) });
  spawnProcess('api', 'api/server.ts', { PORT: String(ports.api) });
  for (const [name, port, probe] of [['worker', ports.worker, '/readyz'], ['relay', ports.relay, '/readyz'], ['api', ports.api, '/readyz']] as const) {
    await waitFor(`the ${name} to be ready`, async () => (await scrape(port, probe)).status === 200, { deadlineMs: 90_000, intervalMs: 250, giveUp: () => (exited() ? `the ${exited()} process exited` : undefined) });
  }
  // After the relay made the topics (a fresh broker has none).
  kafka = await collectKafka(config.kafka.brokers!, EVENT_TYPES);
}, 120_000);

afterAll(async () => {
  for (const { child } of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(children.map(({ child }) => (child.exitCode === null && child.signalCode === null ? once(child, 'exit') : undefined)));
  await kafka?.close();
  await new Promise((resolve) => receiver?.close(resolve));
  await removeReconcilerSchedule(config);
  await db?.$disconnect();
}, 60_000);

const attr = (span: OtlpSpan, key: string) => {
  const v = span.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue !== undefined ? String(v.intValue) : undefined);
};

test('one execution’s log lines, Kafka event headers and exported spans (API, workflow, activities, runner, relay) share its trace id and correlation id', async () => {
  const adminKey = await createTestKey(db, 'admin', 'trace-owner');
  const correlationId = `corr-${randomUUID()}`;
  const res = await fetch(`http://127.0.0.1:${ports.api}/api/v1/executions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-correlation-id': correlationId, ...bearer(adminKey) },
    body: JSON.stringify({ language: 'python', script: 'print("traced")' }),
  });
  expect(res.status).toBe(201);
  const { id } = (await res.json()) as { id: string };
  // Read from Postgres, not by GET: each GET is a trace of its own, and a log line it writes about the execution
  // (a live-state query that timed out on a busy machine) would carry that trace, not the execution's.
  await waitFor(`execution ${id} to complete`, async () => ((await db.execution.findUnique({ where: { id } }))?.status === 'completed' ? true : undefined), { deadlineMs: 60_000 });

  const events = await waitFor('the execution’s three events on Kafka', async () => (kafka.forKey(id).length >= 3 ? kafka.forKey(id) : undefined));
  const traceparents = events.map((e) => e.headers.get('traceparent') ?? '');
  const traceId = traceparents[0]!.split('-')[1]!;
  expect(traceId).toMatch(/^[0-9a-f]{32}$/);
  for (const tp of traceparents) expect(tp.split('-')[1]).toBe(traceId);
  for (const e of events) expect((JSON.parse(e.value) as { correlation_id: string }).correlation_id).toBe(correlationId);

  // Spans are batched by each process (BatchSpanProcessor, 5 s by default): wait for the last ones.
  const needed = ['POST /api/v1/executions', 'StartWorkflow:executionSaga', 'RunWorkflow:executionSaga', 'RunActivity:runScript', 'runner.run', 'publish execution_completed'];
  const traced = await waitFor('the execution’s spans from the three processes', async () => {
    const inTrace = spans.filter((s) => s.traceId === traceId);
    return needed.every((n) => inTrace.some((s) => s.name === n)) ? inTrace : undefined;
  }, { deadlineMs: 30_000, intervalMs: 500 });
  expect(new Set(traced.map((s) => s.service))).toEqual(new Set(['execution-orchestrator-api', 'execution-orchestrator-worker', 'execution-orchestrator-relay']));
  const named = (n: string) => traced.find((s) => s.name === n)!;
  for (const n of ['POST /api/v1/executions', 'runner.run', 'publish execution_completed']) {
    expect(attr(named(n), 'execution.id')).toBe(id);
    expect(attr(named(n), 'correlation.id')).toBe(correlationId);
  }
  for (const n of ['POST /api/v1/executions', 'RunActivity:validateExecution', 'RunActivity:runScript', 'runner.run']) {
    expect(attr(named(n), 'execution.owner')).toBe('trace-owner');
    expect(attr(named(n), 'execution.language')).toBe('python');
  }
  expect(attr(named('POST /api/v1/executions'), 'execution.status')).toBe('queued');
  expect(attr(traced.find((s) => s.name === 'RunActivity:storeResult')!, 'execution.status')).toBe('completed');
  // Each Kafka header names the relay's publish span of that event as its parent: consumers continue a real span.
  const spanIds = new Set(traced.map((s) => s.spanId));
  for (const tp of traceparents) expect(spanIds.has(tp.split('-')[2]!)).toBe(true);

  // Log lines about this execution, in every process that wrote one, carry its trace id.
  const logLines: Array<Record<string, unknown>> = children.flatMap(({ name, lines }) => lines.filter((l) => l.execution_id === id).map((l) => ({ ...l, process: name })));
  expect(new Set(logLines.map((l) => l.process))).toEqual(new Set(['api', 'worker']));
  for (const line of logLines) expect(line.trace_id).toBe(traceId);
  // The API's line for the submission: `execution accepted; …` with deferred starts (the default), `execution started` inline.
  const submitted = logLines.find((l) => l.process === 'api' && /^execution (accepted|started)\b/.test(String(l.msg)));
  expect(submitted?.correlation_id).toBe(correlationId);
}, 120_000);

test('the worker’s and the relay’s ops servers serve /healthz, /readyz and their Prometheus series, the Temporal SDK’s included', async () => {
  for (const port of [ports.worker, ports.relay]) expect(await scrape(port, '/healthz')).toEqual({ status: 200, text: JSON.stringify({ status: 'ok' }) });
  const workerReady = JSON.parse((await scrape(ports.worker, '/readyz')).text) as { checks: Record<string, { ok: boolean }> };
  expect(workerReady).toMatchObject({ status: 'ready', checks: { temporal: { ok: true }, worker: { ok: true, state: 'RUNNING', task_queue: taskQueue } } });
  const relayReady = JSON.parse((await scrape(ports.relay, '/readyz')).text) as unknown;
  expect(relayReady).toMatchObject({ status: 'ready', checks: { postgres: { ok: true }, kafka: { ok: true, circuit: 'closed' } } });

  // One execution ran (the test above): each count is exactly one.
  const worker = parsePrometheusText((await scrape(ports.worker, '/metrics')).text);
  expect(worker.find('eo_executions_total', { status: 'queued', language: 'python' })[0]?.value).toBe(1);
  expect(worker.find('eo_executions_total', { status: 'running', language: 'python' })[0]?.value).toBe(1);
  expect(worker.find('eo_executions_total', { status: 'completed', language: 'python' })[0]?.value).toBe(1);
  expect(worker.find('eo_execution_queue_wait_seconds_count', { language: 'python' })[0]?.value).toBe(1);
  expect(worker.find('eo_execution_run_duration_seconds_count', { language: 'python', termination: 'exited' })[0]?.value).toBe(1);
  expect(worker.types.get('eo_runner_failures_total')).toBe('counter');
  expect(worker.types.get('eo_worker_process_cpu_seconds_total')).toBe('counter');
  // The SDK's own worker metrics, bridged from its exporter.
  expect(worker.find('temporal_worker_start', { task_queue: taskQueue }).length).toBeGreaterThan(0);
  expect(worker.find('temporal_workflow_task_schedule_to_start_latency_bucket').length + worker.find('temporal_activity_schedule_to_start_latency_bucket').length).toBeGreaterThan(0);

  // A dead letter appears in the relay's DLQ gauge at the next scrape (read from Postgres).
  const completed = await db.outboxEvent.findFirstOrThrow({ where: { eventType: 'execution_completed' } });
  await db.outboxEvent.update({ where: { id: completed.id }, data: { state: 'dead' } });
  const relay = parsePrometheusText((await scrape(ports.relay, '/metrics')).text);
  expect(relay.find('eo_relay_dlq_events')[0]?.value).toBe(1);
  expect(relay.find('eo_relay_published_total', { event_type: 'execution_completed' })[0]?.value).toBe(1);
  expect(relay.find('eo_relay_publish_duration_seconds_count', { outcome: 'ok' })[0]?.value).toBeGreaterThanOrEqual(1);
  expect(relay.types.get('eo_relay_publish_failures_total')).toBe('counter');
  expect(relay.find('eo_relay_circuit_open')[0]?.value).toBe(0);
  expect(relay.find('eo_relay_broker_configured')[0]?.value).toBe(1);
  expect(relay.find('eo_relay_backlog_readable')[0]?.value).toBe(1);
  expect(relay.find('eo_relay_outbox_lag_seconds')[0]?.value).toBeGreaterThanOrEqual(0);
  expect(relay.find('eo_relay_outbox_pending_events').length).toBe(1);
  expect(relay.types.get('eo_relay_process_resident_memory_bytes')).toBe('gauge');
}, 60_000);

test('a relay whose broker cannot be reached stays ready (Postgres answers), reports the open circuit in /readyz and counts the outage in its series', async () => {
  const port = await freeLoopbackPort();
  spawnProcess('relay-without-broker', 'relay/main.ts', { OPS_PORT: String(port), KAFKA_BROKERS: '127.0.0.1:1' });
  const ready = await waitFor('the relay to find the broker unreachable', async () => {
    const r = await scrape(port, '/readyz');
    return r.status === 200 && (JSON.parse(r.text) as { checks: { kafka: { circuit: string } } }).checks.kafka.circuit === 'open' ? (JSON.parse(r.text) as unknown) : undefined;
  }, { deadlineMs: 30_000, giveUp: () => (exited() ? `the ${exited()} process exited` : undefined) });
  expect(ready).toMatchObject({ status: 'ready', checks: { postgres: { ok: true }, kafka: { ok: false, circuit: 'open' } } });
  const metrics = parsePrometheusText((await scrape(port, '/metrics')).text);
  expect(metrics.find('eo_relay_circuit_open')[0]?.value).toBe(1);
  expect(metrics.find('eo_relay_publish_failures_total', { kind: 'broker_unavailable' })[0]?.value).toBeGreaterThanOrEqual(1);
}, 60_000);
