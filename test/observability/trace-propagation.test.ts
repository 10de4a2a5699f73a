import { randomBytes } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { installTracing, spansRecorded } from '../../observability/tracing';
import { bearer, serviceForThisFile, waitFor } from '../support/harness';

// As `npm start` without OTEL_EXPORTER_OTLP_ENDPOINT: spans are made (their ids go to logs and Kafka headers)
// but recorded nowhere, so the worker bundles the lighter trace propagation instead of OpenTelemetry's
// workflow interceptors. Each activity notes the trace it runs in (this interceptor runs inside its span).
installTracing({ tracing: { otlpEndpoint: null, serviceName: 'propagation-test' } }, 'test');
const seen: Array<{ workflowId: string; activity: string; traceId: string | undefined }> = [];
const ctx = serviceForThisFile({}, {
  interceptors: {
    activity: [
      (activity) => ({
        inbound: {
          async execute(input, next) {
            seen.push({ workflowId: activity.info.workflowExecution!.workflowId, activity: activity.info.activityType, traceId: trace.getActiveSpan()?.spanContext().traceId });
            return next(input);
          },
        },
      }),
    ],
  },
});

test('with no span recorded, every step of a saga (local activities and the run) continues the trace of the request that started it', async () => {
  expect(spansRecorded()).toBe(false);
  const traceId = randomBytes(16).toString('hex');
  const res = await fetch(`${ctx.service.api.url}/api/v1/executions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`, ...bearer(ctx.service.adminKey) },
    body: JSON.stringify({ language: 'bash', script: 'echo traced' }),
  });
  expect(res.status).toBe(201);
  const { id } = (await res.json()) as { id: string };
  await waitFor(`execution ${id} to complete`, async () => {
    const body = (await (await fetch(`${ctx.service.api.url}/api/v1/executions/${id}`, { headers: bearer(ctx.service.adminKey) })).json()) as { status: string };
    return body.status === 'completed';
  }, { deadlineMs: 60_000 });

  const steps = seen.filter((s) => s.workflowId === id);
  expect(steps.map((s) => s.activity)).toEqual(['validateExecution', 'reserveCapacity', 'markRunning', 'runScript', 'storeResult', 'releaseCapacity']);
  for (const step of steps) expect(step).toMatchObject({ traceId });
}, 90_000);
