import { ApplicationFailure, Context } from '@temporalio/activity';
import { FailureType } from '../domain/failure-types';
import { RUNTIMES, limitViolations } from '../domain/runtimes';
import type { Language, RunLimits } from '../domain/runtimes';
import { isTerminal } from '../domain/execution-status';
import type { ErrorType } from '../domain/execution-status';
import { SAGA_ACTOR } from '../domain/saga';
import type { ExecutionOutcome, ExecutionSagaInput, ReconcileSummary } from '../domain/saga';
import type { Logger } from '../observability/logger';
import type { WorkerMetrics } from '../observability/metrics';
import { inSpan, SpanAttr } from '../observability/tracing';
import { trace } from '@opentelemetry/api';
import { coerceError } from '../observability/logger';
import type { Runner, RunResult } from '../runners/runner';
import type { Execution } from '../generated/prisma/client';
import type { Db } from '../store/db';
import type { Producer } from '../store/envelope';
import { TransitionRefusedError } from '../store/errors';
import { executionExists, findExecution, getExecution, needingReconciliation, statusOf } from '../store/executions';
import { applyTransition, createExecution, newExecutionFrom } from '../store/transitions';
import type { ResultFields } from '../store/transitions';
import { release, reserve } from '../store/capacity';
import type { CapacityLimits, Reservation } from '../store/capacity';
import { classifyRun } from './run-outcome';
import { terminalRecordFor } from './reconcile';
import type { TerminalRecord } from './reconcile';
import type { ClosedSaga, ClosedSagaSource } from '../reconciler/closed-sagas';
import { createWebhookActivities } from './completion-webhook';
import type { WebhookDeps } from './completion-webhook';

export interface ActivityDeps {
  db: Db;
  runner: Runner;
  log: Logger;
  producer: Producer;
  /** Executions by status and language, queue wait, run duration, runner failures. @default none recorded */
  metrics?: WorkerMetrics;
  capacity: CapacityLimits;
  limitMaxima: RunLimits;
  /** Tells a waiting saga it now holds a slot (a Temporal signal); the saga also re-checks on its own. */
  notifyCapacityGranted: (executionId: string) => Promise<void>;
  /** Sagas Temporal closed without recording their end, for the reconciler. */
  closedSagas: ClosedSagaSource;
  /** Closed sagas one reconciler pass records at most (config RECONCILE_BATCH_SIZE). @default 500 */
  reconcileBatchSize?: number;
  /** Completion webhooks: the SSRF-safe sender and the owners' secrets. Absent: every webhook is recorded as refused. */
  webhooks?: Pick<WebhookDeps, 'sender' | 'secretOf'>;
}

/** Without webhook deps (a worker built for a test of something else), nothing is sent and the refusal is recorded. */
const NO_WEBHOOKS: Pick<WebhookDeps, 'sender' | 'secretOf'> = {
  sender: { send: () => Promise.resolve({ kind: 'refused', reason: 'webhooks are not configured in this worker', address: null }) },
  secretOf: () => Promise.resolve('whsec_'),
};

/** Closed sagas one reconciler pass handles at most by default; the rest wait for the next pass. */
const RECONCILE_BATCH = 500;
/** Candidates checked against the database at once. */
const RECONCILE_PAGE = 200;

export interface ExecutionRef {
  executionId: string;
}

export type { TerminalRecord };

/** Builds the saga's activities around explicit dependencies. */
export function createActivities(deps: ActivityDeps) {
  const { db, runner, producer } = deps;
  // A failed notification is not fatal: the waiting saga re-checks the queue on its own timer.
  const notifyAll = async (executionIds: string[], by: string) => {
    for (const id of executionIds) {
      await deps.notifyCapacityGranted(id).catch((err: unknown) => logFor(by).warn({ granted_execution_id: id, err: coerceError(err).message }, 'capacity grant notification failed; the saga will re-check'));
    }
  };
  const logFor = (executionId: string) => {
    const info = Context.current().info;
    return deps.log.child({ execution_id: executionId, workflow_id: info.workflowExecution?.workflowId, activity: info.activityType, attempt: info.attempt });
  };

  // First terminal state wins: one already recorded (e.g. the result was stored just before a cancel
  // arrived) stands, and the call reports it instead of failing.
  const counted = <T extends { execution: Execution; applied?: boolean }>(result: T): T => {
    if (result.applied !== false) deps.metrics?.executions.inc({ status: result.execution.status, language: result.execution.language });
    trace.getActiveSpan()?.setAttribute(SpanAttr.status, result.execution.status);
    return result;
  };
  const recordTerminalState = async (rec: TerminalRecord) => {
    try {
      return counted(await applyTransition(db, {
        executionId: rec.executionId,
        from: ['queued', 'running'],
        to: rec.to,
        actor: rec.actor,
        reason: rec.reason,
        fields: { errorType: rec.errorType, errorMessage: rec.errorMessage, finishedAt: new Date() },
        producer,
      }));
    } catch (err) {
      if (err instanceof TransitionRefusedError && err.current && isTerminal(err.current)) {
        return { execution: await getExecution(db, rec.executionId), applied: false };
      }
      throw err;
    }
  };

  return {
    ...createWebhookActivities({ db, log: deps.log, metrics: deps.metrics, ...(deps.webhooks ?? NO_WEBHOOKS) }),

    /**
     * Ensures the execution row exists (idempotent) and checks the runtime and limits against the maxima.
     * @throws ValidationFailed when the runtime is unknown or a limit is above its maximum.
     */
    async validateExecution(input: ExecutionSagaInput): Promise<void> {
      // The API writes the row before it starts the saga, so it is there: one read, not a transaction.
      if (!(await executionExists(db, input.executionId))) await createExecution(db, newExecutionFrom(input), SAGA_ACTOR, producer);
      // Counted once per saga (its first attempt), whichever of the API and this activity wrote the row.
      if (Context.current().info.attempt === 1) deps.metrics?.executions.inc({ status: 'queued', language: input.language });
      const problems: string[] = [];
      if (!(input.language in RUNTIMES)) problems.push(`language: unknown runtime ${input.language}`);
      for (const [field, message] of limitViolations(input.limits, deps.limitMaxima)) problems.push(`limits.${field}: ${message}`);
      if (problems.length > 0) {
        throw ApplicationFailure.nonRetryable(`validation failed: ${problems.join('; ')}`, FailureType.ValidationFailed, { problems });
      }
    },

    /** Joins the fair capacity queue (idempotent); not granted means the saga waits for a `capacityGranted` signal. */
    async reserveCapacity(input: Pick<ExecutionSagaInput, 'executionId' | 'ownerId' | 'language'>): Promise<Reservation> {
      const { reservation, grantedOthers } = await reserve(db, deps.capacity, { executionId: input.executionId, ownerId: input.ownerId, language: input.language });
      await notifyAll(grantedOthers, input.executionId);
      return reservation;
    },

    /** Compensation of reserveCapacity: leaves the queue or frees the slot (idempotent), and wakes whoever it frees room for. */
    async releaseCapacity(ref: ExecutionRef): Promise<void> {
      await notifyAll(await release(db, deps.capacity, ref.executionId), ref.executionId);
    },

    /**
     * queued → running.
     * @throws TransitionRefused when the execution is no longer queued (e.g. cancelled meanwhile).
     */
    async markRunning(ref: ExecutionRef): Promise<void> {
      const { execution } = await transitionOrFail(() =>
        applyTransition(db, { executionId: ref.executionId, from: ['queued'], to: 'running', actor: SAGA_ACTOR, fields: { startedAt: new Date() }, producer }),
      );
      counted({ execution });
      deps.metrics?.queueWait.observe({ language: execution.language }, Math.max(0, (execution.startedAt ?? new Date()).getTime() - execution.createdAt.getTime()) / 1000);
    },

    /**
     * Runs the script in the runner, heartbeating; cancellation kills the process group.
     * A retried attempt re-runs the script from the start (the runner attaches if this worker still runs it).
     * @throws ExecutionNotFound when the row is gone; RunnerUnavailable when the interpreter cannot start.
     */
    async runScript(ref: ExecutionRef): Promise<RunResult> {
      const ctx = Context.current();
      const log = logFor(ref.executionId);
      const execution = await findExecution(db, ref.executionId);
      if (!execution) throw ApplicationFailure.nonRetryable(`execution ${ref.executionId} not found`, FailureType.ExecutionNotFound);
      log.info({ language: execution.language }, 'runner starting');
      const attributes = { [SpanAttr.executionId]: execution.id, [SpanAttr.ownerId]: execution.ownerId, [SpanAttr.language]: execution.language, [SpanAttr.correlationId]: execution.correlationId };
      trace.getActiveSpan()?.setAttributes(attributes); // the activity's span (Temporal's interceptor) knows only the execution id
      const result = await inSpan('runner.run', attributes, async (span) => {
        try {
          const run = await runner.run(
            {
              executionId: execution.id,
              language: execution.language as Language,
              script: execution.script,
              stdin: execution.stdin ?? undefined,
              limits: execution.limits as unknown as RunLimits,
            },
            { signal: ctx.cancellationSignal, onHeartbeat: (beat) => ctx.heartbeat(beat) },
          );
          span.setAttributes({ 'runner.termination': run.termination, 'runner.exit_code': run.exitCode ?? -1 });
          deps.metrics?.runDuration.observe({ language: execution.language, termination: run.termination }, run.wallTimeMs / 1000);
          return run;
        } catch (err) {
          if (!ctx.cancellationSignal.aborted) deps.metrics?.runnerFailures.inc({ type: failureTypeOf(err) });
          throw err;
        }
      });
      // A run killed because this activity was cancelled reports the cancellation, not a script failure.
      if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
      log.info({ termination: result.termination, exit_code: result.exitCode, wall_time_ms: result.wallTimeMs }, 'runner finished');
      return result;
    },

    /** Compensation of runScript: kills the execution's process group; idempotent. */
    async destroyRunner(ref: ExecutionRef): Promise<void> {
      const killed = await runner.destroy(ref.executionId);
      if (killed) logFor(ref.executionId).info('runner destroyed');
    },

    /** Stores the run result with its terminal transition (running → completed | failed | timed_out). */
    async storeResult(args: ExecutionRef & { result: RunResult }): Promise<ExecutionOutcome> {
      const { status, errorType, errorMessage } = classifyRun(args.result);
      const r = args.result;
      const fields: ResultFields = {
        exitCode: r.exitCode,
        signal: r.signal,
        stdout: r.stdout,
        stdoutTruncated: r.stdoutTruncated,
        stderr: r.stderr,
        stderrTruncated: r.stderrTruncated,
        wallTimeMs: Math.round(r.wallTimeMs),
        cpuTimeMs: r.cpuTimeMs === null ? null : Math.round(r.cpuTimeMs),
        peakMemoryKb: r.peakMemoryKb,
        // A result recorded before these fields existed (an old history) has neither: unknown.
        oomKilled: r.oomKilled ?? null,
        sandboxed: r.sandboxed ?? null,
        errorType,
        errorMessage,
        startedAt: new Date(r.startedAt),
        finishedAt: new Date(r.finishedAt),
      };
      const { execution } = await transitionOrFail(() =>
        applyTransition(db, { executionId: args.executionId, from: ['running'], to: status, actor: SAGA_ACTOR, fields, producer }),
      );
      counted({ execution });
      return outcomeOf(execution);
    },

    /** Records `cancelled`, `error` or (saga deadline) `timed_out` from whichever non-terminal state the execution is in. */
    async recordTerminal(rec: TerminalRecord): Promise<ExecutionOutcome> {
      const { execution } = await transitionOrFail(() => recordTerminalState(rec));
      return outcomeOf(execution);
    },

    /**
     * The reconciler's pass: records the end of every saga Temporal closed without recording one (terminated,
     * past its run timeout) and frees its capacity. Idempotent; a saga already recorded only has its capacity re-released.
     */
    async reconcileClosedSagas(): Promise<ReconcileSummary> {
      // Every candidate, page by page: a saga recorded by an earlier pass still matches the visibility query
      // (its search attribute can no longer change), so only the database tells which ones still need us.
      const batchSize = deps.reconcileBatchSize ?? RECONCILE_BATCH;
      const closed: ClosedSaga[] = [];
      let examined = 0;
      let page: ClosedSaga[] = [];
      const takeUnfinished = async () => {
        examined += page.length;
        const open = await needingReconciliation(db, page.map((s) => s.executionId));
        closed.push(...page.filter((s) => open.has(s.executionId)).slice(0, batchSize - closed.length));
        page = [];
      };
      for await (const saga of deps.closedSagas.all()) {
        page.push(saga);
        if (page.length < RECONCILE_PAGE) continue;
        Context.current().heartbeat(`scanning: ${examined} examined`);
        await takeUnfinished();
        if (closed.length >= batchSize) break;
      }
      if (page.length > 0 && closed.length < batchSize) await takeUnfinished();
      const recorded: ReconcileSummary['recorded'] = [];
      const failed: string[] = [];
      for (const saga of closed) {
        Context.current().heartbeat(saga.executionId);
        try {
          const status = await statusOf(db, saga.executionId);
          if (status && !isTerminal(status)) {
            const termination = saga.workflowStatus === 'TERMINATED' ? await deps.closedSagas.terminationOf(saga) : null;
            const { execution, applied } = await recordTerminalState(terminalRecordFor(saga, termination));
            if (applied) {
              recorded.push({ executionId: saga.executionId, workflowStatus: saga.workflowStatus, status: execution.status });
              deps.log.warn({ execution_id: saga.executionId, workflow_status: saga.workflowStatus, status: execution.status }, 'saga closed without recording its end: recorded by the reconciler');
            }
          }
          await notifyAll(await release(db, deps.capacity, saga.executionId), saga.executionId);
        } catch (err) {
          // One saga that cannot be recorded must not hold back the others; the pass still fails (and retries) below.
          deps.log.error({ execution_id: saga.executionId, err: coerceError(err) }, 'reconciler could not record a closed saga');
          failed.push(saga.executionId);
        }
      }
      // Runs a crashed worker or an uncompensated saga left behind (Kubernetes pods): collected once their execution has ended.
      // The pass's records stand if this fails (e.g. the cluster API is down); the next pass tries again.
      try {
        const orphans = (await runner.collectOrphans?.(async (ids) => {
          const finished = new Set<string>();
          for (const id of ids) {
            const status = await statusOf(db, id);
            if (!status || isTerminal(status)) finished.add(id);
          }
          return finished;
        })) ?? [];
        if (orphans.length > 0) deps.log.warn({ execution_ids: orphans }, 'reconciler collected orphaned runs');
      } catch (err) {
        deps.log.error({ err: coerceError(err) }, 'reconciler could not collect orphaned runs; the next pass tries again');
      }
      if (failed.length > 0) throw new Error(`reconciler could not record ${failed.length} closed saga(s): ${failed.join(', ')}`);
      return { examined, recorded };
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;

function outcomeOf(execution: Execution): ExecutionOutcome {
  return { executionId: execution.id, status: execution.status, errorType: execution.errorType as ErrorType | null, exitCode: execution.exitCode };
}

/** A runner failure's type for the metrics: the domain failure type it carries, else `transient` (it is retried). */
function failureTypeOf(err: unknown): string {
  return err instanceof ApplicationFailure && err.type ? err.type : 'transient';
}

/** A refused transition is a business fact, not a blip: report it non-retryable with its type. */
async function transitionOrFail<T>(apply: () => Promise<T>): Promise<T> {
  try {
    return await apply();
  } catch (err) {
    if (err instanceof TransitionRefusedError) {
      throw ApplicationFailure.nonRetryable(err.message, FailureType.TransitionRefused, { current: err.current, to: err.to });
    }
    throw err;
  }
}
