// Workflow interceptors bundled with the saga when no span is recorded anywhere (no OTLP endpoint): they carry
// the trace context the workflow was started with (the API request's) on to every activity, and make no span.
// Temporal's own OpenTelemetry workflow interceptors, used when spans are exported, load OpenTelemetry's module
// graph into each workflow's sandbox — a third of the workflow thread's time per saga here (bench/ --profile).
// Neither adds a command to the history: a saga replays the same with either.
import type { Headers } from '@temporalio/common';
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';

/** The header Temporal's OpenTelemetry interceptors read and write (their TRACE_HEADER). */
const TRACE_HEADER = '_tracer-data';

export const interceptors: WorkflowInterceptorsFactory = () => {
  let started: Headers[string] | undefined;
  const carry = (headers: Headers): Headers => (started === undefined || headers[TRACE_HEADER] ? headers : { ...headers, [TRACE_HEADER]: started });
  return {
    inbound: [
      {
        execute(input, next) {
          started = input.headers[TRACE_HEADER];
          return next(input);
        },
      },
    ],
    outbound: [
      {
        scheduleActivity: (input, next) => next({ ...input, headers: carry(input.headers) }),
        scheduleLocalActivity: (input, next) => next({ ...input, headers: carry(input.headers) }),
      },
    ],
  };
};
