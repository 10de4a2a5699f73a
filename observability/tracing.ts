import type { Attributes, Span, Tracer } from '@opentelemetry/api';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, NoopSpanProcessor } from '@opentelemetry/sdk-trace-node';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-node';
import { makeWorkflowExporter, OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor, OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { WorkerInterceptors, WorkerOptions } from '@temporalio/worker';
import type { Config } from '../config';

/** Names of the span attributes every span of an execution carries where known. */
export const SpanAttr = {
  executionId: 'execution.id',
  ownerId: 'execution.owner',
  language: 'execution.language',
  status: 'execution.status',
  correlationId: 'correlation.id',
} as const;

const TRACER_NAME = 'execution-orchestrator';

export interface Tracing {
  /** Where workflow spans (recorded in the sandbox, handed out through a sink) go: the provider's processors. */
  spanProcessor: SpanProcessor;
  resource: Resource;
  /** Exports what is still buffered, then stops. */
  shutdown(): Promise<void>;
}

let installed: Tracing | null = null;

/**
 * Installs this process's tracer provider once: spans are always made (ids for logs, Kafka headers and
 * Temporal headers) but recorded nowhere unless an OTLP endpoint is configured — then batched to
 * `<endpoint>/v1/traces`. Tests pass their own processors (an in-memory exporter).
 */
export function installTracing(config: Pick<Config, 'tracing'>, role: string | null, processors?: SpanProcessor[]): Tracing {
  if (installed) return installed;
  const endpoint = config.tracing.otlpEndpoint;
  const spanProcessors = processors ?? (endpoint ? [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint.replace(/\/$/, '')}/v1/traces` }))] : []);
  const resource = new Resource({ 'service.name': role ? `${config.tracing.serviceName}-${role}` : config.tracing.serviceName });
  const provider = new NodeTracerProvider({ resource, spanProcessors });
  // AsyncLocalStorage context and W3C trace-context propagation, for the API, activities and the relay.
  provider.register();
  const spanProcessor: SpanProcessor = spanProcessors.length > 0 ? multiProcessor(spanProcessors) : new NoopSpanProcessor();
  installed = {
    spanProcessor,
    resource,
    async shutdown() {
      await provider.shutdown();
    },
  };
  return installed;
}

function multiProcessor(processors: SpanProcessor[]): SpanProcessor {
  return {
    onStart: (span, ctx) => processors.forEach((p) => p.onStart(span, ctx)),
    onEnd: (span) => processors.forEach((p) => p.onEnd(span)),
    forceFlush: async () => void (await Promise.all(processors.map((p) => p.forceFlush()))),
    shutdown: async () => void (await Promise.all(processors.map((p) => p.shutdown()))),
  };
}

export const tracer = (): Tracer => trace.getTracer(TRACER_NAME);

/** The module the worker bundles with the workflows when spans are recorded: Temporal's workflow interceptors (spans per workflow run and per command). */
export const WORKFLOW_INTERCEPTOR_MODULE = require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');
/** The module bundled instead when no span is recorded: the start's trace context handed on to activities, no spans. */
export const TRACE_PROPAGATION_MODULE = require.resolve('./workflow-trace-propagation');

/** Whether this process's spans go anywhere (an OTLP endpoint, or a test's processors). */
export const spansRecorded = (): boolean => installed !== null && !(installed.spanProcessor instanceof NoopSpanProcessor);

/**
 * Temporal's OpenTelemetry interceptors for a worker, plus ours that names the execution on each activity
 * span: the trace of the request that started a saga continues through the workflow into every activity.
 * The workflow's own spans are made only when they are recorded (`recorded`): otherwise a lighter module
 * carries the trace context through the workflow (observability/workflow-trace-propagation.ts).
 */
export function workerTracingInterceptors(recorded = spansRecorded()): WorkerInterceptors {
  return {
    workflowModules: [recorded ? WORKFLOW_INTERCEPTOR_MODULE : TRACE_PROPAGATION_MODULE],
    activity: [
      (ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) }),
      (ctx) => ({
        inbound: {
          async execute(input, next) {
            // Activity ids are per saga; the workflow id is the execution id.
            const executionId = ctx.info.workflowExecution?.workflowId;
            if (executionId) trace.getActiveSpan()?.setAttributes({ [SpanAttr.executionId]: executionId, ...executionAttributes(input.args[0]) });
            return next(input);
          },
        },
      }),
    ],
  };
}

/** The sink workflow spans leave the sandbox through. */
export function workflowSpanSinks(tracing: Tracing | null = installed): NonNullable<WorkerOptions['sinks']> {
  const t = tracing ?? installedOrNoop();
  return { exporter: makeWorkflowExporter(t.spanProcessor, t.resource) };
}

function installedOrNoop(): Tracing {
  return installed ?? { spanProcessor: new NoopSpanProcessor(), resource: new Resource({}), shutdown: async () => undefined };
}

/** Client interceptors that start workflows in the caller's trace (the API's request span). */
export const clientTracingInterceptors = (): WorkflowClientInterceptor[] => [new OpenTelemetryWorkflowClientInterceptor()];

/** owner, language and correlation id out of an activity's or request's argument, when it carries them. */
export function executionAttributes(arg: unknown): Attributes {
  if (!arg || typeof arg !== 'object') return {};
  const a = arg as Record<string, unknown>;
  const attributes: Attributes = {};
  if (typeof a.ownerId === 'string') attributes[SpanAttr.ownerId] = a.ownerId;
  if (typeof a.language === 'string') attributes[SpanAttr.language] = a.language;
  if (typeof a.correlationId === 'string') attributes[SpanAttr.correlationId] = a.correlationId;
  return attributes;
}

/** Runs `work` in a new span (child of the active one), ending it with the outcome. */
export async function inSpan<T>(name: string, attributes: Attributes, work: (span: Span) => Promise<T>, kind: SpanKind = SpanKind.INTERNAL): Promise<T> {
  return tracer().startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await work(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Starts a span whose parent is the W3C `traceparent` given (a stored one), not the active context. */
export function startSpanUnder(traceparent: string | null | undefined, name: string, attributes: Attributes, kind: SpanKind): Span {
  const parent = traceparent ? propagation.extract(context.active(), { traceparent }) : context.active();
  return tracer().startSpan(name, { kind, attributes }, parent);
}

/** The W3C `traceparent` of a span, to carry in a message's headers. */
export function traceparentOf(span: Span): string {
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  return carrier.traceparent ?? '';
}

export { SpanKind, SpanStatusCode };
