import { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import type { WorkerInterceptors } from '@temporalio/worker';
import { Registry } from 'prom-client';
import { CAPACITY_GRANTED_SIGNAL } from './domain/saga';
import { createActivities } from './activities';
import { codecKeyring, loadConfig } from './config';
import type { ResolvedConfig } from './config';
import type { Logger } from './observability/logger';
import { createLogger } from './observability/logger';
import { freeLoopbackAddress, installTemporalRuntime, temporalSdkMetrics } from './observability/temporal-runtime';
import { createWorkerMetrics, joinExpositions } from './observability/metrics';
import type { Readiness } from './observability/ops-server';
import { clientTracingInterceptors, workerTracingInterceptors, workflowSpanSinks } from './observability/tracing';
import { connectTemporalClient, connectTemporalNative } from './temporal-connection';
import { createLocalRunner } from './runners/local-runner';
import type { Runner } from './runners/runner';
import { createDb } from './store/db';
import { temporalClosedSagas } from './reconciler/closed-sagas';
import { ensureReconcilerSchedule } from './reconciler/schedule';
import { requireEndpoints, runWithOpsServer } from './process-lifecycle';
import { STOP_STEP_TIMEOUT_MS, stopStep } from './process-stop';
import { createDataConverter } from './payload-codec/encryption-codec';
import { createAddressPolicy } from './webhooks/address-policy';
import { createWebhookSecretService } from './webhooks/secrets';
import { createWebhookSender } from './webhooks/sender';
import { startRetention } from './retention/retention-timer';
import { prebuiltWorkflowBundle } from './worker-bundle';
import { loadIsolateWatchdog } from './workflow-threads/isolate-watchdog';
import { workerWithSharedWatchdog } from './workflow-threads/shared-watchdog-worker';

/** Runner heartbeat period, ms: bounds how long a cancel takes to reach the running script. */
const RUNNER_HEARTBEAT_MS = 500;
/** After the drain deadline, how long cancelled activities get to report back before the worker gives up on them, ms. */
const HAND_BACK_MS = 10_000;

export interface WorkerHandle {
  runner: Runner;
  /** This worker's series and the Temporal SDK's worker metrics, as Prometheus text. */
  metrics(): Promise<string>;
  /** Ready: connected to Temporal and polling its task queue. */
  readiness(): Promise<Readiness>;
  /**
   * Drains: no new tasks are taken; running activities get `DRAIN_TIMEOUT_MS` to finish, then are cancelled
   * (their script killed) and reported failed, so Temporal retries them on another worker; then connections close.
   */
  stop(): Promise<void>;
}

export interface WorkerOptions {
  /** Temporal worker interceptors (tracing, fault injection in tests). */
  interceptors?: WorkerInterceptors;
  /**
   * A prebuilt workflow bundle (`bundleWorkflowCode`, with `workflowInterceptorModules: [WORKFLOW_INTERCEPTOR_MODULE]`
   * from observability/tracing.ts for traced workflows); without it the worker takes the build's current one
   * (worker-bundle.ts), or bundles `workflows/` at start.
   */
  workflowBundlePath?: string;
  /** Wraps the runner (fault injection in tests). */
  wrapRunner?: (runner: Runner) => Runner;
  /** Where the worker's series are registered (the process's one registry under `npm start`). @default a registry of its own */
  registry?: Registry;
}

/** How long the readiness probe waits for Temporal, ms. */
const READY_CHECK_TIMEOUT_MS = 2_000;

/** The workflow interceptor modules a worker's workflow code carries: tracing's, then the options' own (a test's). */
export function workflowModulesOf(options: WorkerOptions, tracing: WorkerInterceptors = workerTracingInterceptors()): string[] {
  return [...(tracing.workflowModules ?? []), ...(options.interceptors?.workflowModules ?? [])];
}

/** The SDK's Worker, or one whose workflow threads share one deadlock watchdog thread (WORKFLOW_WATCHDOG). */
function workerClass(config: ResolvedConfig, log: Logger): typeof Worker {
  if (config.workflowWatchdog === 'per-call') {
    log.info({ workflow_watchdog: 'per call' }, 'workflow deadlock watchdog');
    return Worker;
  }
  const watchdog = loadIsolateWatchdog();
  if ('unavailable' in watchdog) {
    log.warn({ workflow_watchdog: 'per call', reason: watchdog.unavailable }, 'workflow deadlock watchdog: the shared one is unavailable, node starts a thread per call');
    return Worker;
  }
  log.info({ workflow_watchdog: 'shared', addon: watchdog.addonPath }, 'workflow deadlock watchdog');
  return workerWithSharedWatchdog(watchdog.addonPath);
}

/** Runs the Temporal worker: the saga workflow bundle and its activities, with the configured runner (RUNNER). */
export async function startWorker(config: ResolvedConfig, log: Logger, options: WorkerOptions = {}): Promise<WorkerHandle> {
  const dataConverter = createDataConverter(codecKeyring(config));
  // The SDK's exporter always runs (on a free loopback port unless WORKER_METRICS_ADDRESS says where): /metrics re-serves it.
  installTemporalRuntime(log, config.workerMetricsAddress ?? (await freeLoopbackAddress()));
  const registry = options.registry ?? new Registry();
  const metrics = createWorkerMetrics(registry);
  const db = createDb(config.databaseUrl);
  const runnerLog = { info: (msg: string, fields?: Record<string, unknown>) => log.info(fields ?? {}, msg), warn: (msg: string, fields?: Record<string, unknown>) => log.warn(fields ?? {}, msg) };
  const baseRunner =
    config.runner === 'kubernetes'
      ? // Loaded only here: the Kubernetes client is ~1,100 modules and ~0.6 s of every worker's start.
        (await import('./runners/kubernetes-runner.js')).createKubernetesRunner({ ...config.kubernetes, heartbeatIntervalMs: RUNNER_HEARTBEAT_MS, log: runnerLog })
      : createLocalRunner({
          workDir: config.runnerWorkDir,
          sandbox: config.runnerSandbox,
          runsCpuWeight: config.runnerCpuWeight,
          preparedSandboxes: config.runnerPreparedSandboxes,
          heartbeatIntervalMs: RUNNER_HEARTBEAT_MS,
          log: runnerLog,
        });
  const runner = options.wrapRunner ? options.wrapRunner(baseRunner) : baseRunner;
  const connection = await connectTemporalNative(config.temporal);
  const clientConnection = await connectTemporalClient(config.temporal);
  const client = new Client({ connection: clientConnection, namespace: config.temporal.namespace, dataConverter, interceptors: { workflow: clientTracingInterceptors() } });
  const tracing = workerTracingInterceptors();
  const workflowModules = workflowModulesOf(options, tracing);
  // A bundle carries its workflow interceptor modules already: a test's own, or the build's (worker-bundle.ts).
  const workflowBundlePath = options.workflowBundlePath ?? prebuiltWorkflowBundle(workflowModules);
  log.info({ workflow_bundle: workflowBundlePath ?? 'made at start' }, 'workflow code');
  const notifyCapacityGranted = (executionId: string) => client.workflow.getHandle(executionId).signal(CAPACITY_GRANTED_SIGNAL);
  const worker = await workerClass(config, log).create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    dataConverter,
    ...(workflowBundlePath ? { workflowBundle: { codePath: workflowBundlePath } } : { workflowsPath: require.resolve('./workflows') }),
    // Tracing first, so that a test's interceptors (fault injection) run inside the activity's span.
    interceptors: {
      ...options.interceptors,
      ...(workflowBundlePath ? {} : { workflowModules }),
      activity: [...(tracing.activity ?? []), ...(options.interceptors?.activity ?? [])],
    },
    sinks: workflowSpanSinks(),
    // A cancel reaches a running activity only through a heartbeat response: keep them frequent.
    maxHeartbeatThrottleInterval: RUNNER_HEARTBEAT_MS,
    defaultHeartbeatThrottleInterval: RUNNER_HEARTBEAT_MS,
    shutdownGraceTime: config.drainTimeoutMs,
    // Past this the worker stops waiting (its activities then time out on their heartbeat and are retried elsewhere).
    shutdownForceTime: config.drainTimeoutMs + HAND_BACK_MS,
    activities: createActivities({
      db,
      runner,
      log,
      metrics,
      producer: config.service,
      capacity: config.capacity,
      limitMaxima: config.limitMaxima,
      notifyCapacityGranted,
      closedSagas: temporalClosedSagas(client, config.temporal.taskQueue),
      reconcileBatchSize: config.reconciler.batchSize,
      webhooks: {
        sender: createWebhookSender({ policy: createAddressPolicy(config.webhooks.allowedNetworks), allowHttp: config.webhooks.allowHttp, timeoutMs: config.webhooks.timeoutMs }),
        secretOf: createWebhookSecretService(db, codecKeyring(config)).secretOf,
      },
    }),
  });
  await ensureReconcilerSchedule(client, {
    taskQueue: config.temporal.taskQueue,
    intervalMs: config.reconciler.intervalMs,
    input: { retryPresets: config.retryPresets },
  });
  const retention = startRetention(db, config.retention, log);
  const running = worker.run();
  log.info({ task_queue: config.temporal.taskQueue, temporal: config.temporal.address }, 'worker started');
  return {
    runner,
    metrics: () => joinExpositions([registry, temporalSdkMetrics]),
    async readiness() {
      const polling = worker.getState() === 'RUNNING';
      let temporal: { ok: boolean; error?: string };
      try {
        await clientConnection.withDeadline(Date.now() + READY_CHECK_TIMEOUT_MS, () => clientConnection.workflowService.getSystemInfo({}));
        temporal = { ok: true };
      } catch (err) {
        temporal = { ok: false, error: (err as Error).message };
      }
      return { ready: polling && temporal.ok, checks: { temporal, worker: { ok: polling, state: worker.getState(), task_queue: config.temporal.taskQueue } } };
    },
    async stop() {
      await stopStep(log, 'worker: retention sweeper', () => retention.stop());
      if (worker.getState() === 'RUNNING') {
        log.info({ drain_timeout_ms: config.drainTimeoutMs, activities_running: worker.getStatus().numInFlightActivities }, 'worker draining');
        worker.shutdown();
      }
      // The SDK forces its shutdown at shutdownForceTime; past that and a margin, the stop goes on without it.
      await stopStep(log, 'worker: Temporal worker shutdown', () => running, config.drainTimeoutMs + HAND_BACK_MS + STOP_STEP_TIMEOUT_MS);
      await stopStep(log, 'worker: runner', () => baseRunner.close?.());
      await stopStep(log, 'worker: Temporal worker connection', () => connection.close());
      await stopStep(log, 'worker: Temporal client connection', () => clientConnection.close());
      await stopStep(log, 'worker: Prisma', () => db.$disconnect());
    },
  };
}

if (require.main === module) {
  const config = requireEndpoints(loadConfig(process.env));
  const log = createLogger({ level: config.logLevel, format: config.logFormat, name: 'worker' });
  void runWithOpsServer('worker', config, log, (registry) => startWorker(config, log, { registry }));
}
