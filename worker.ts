import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { WorkerInterceptors } from '@temporalio/worker';
import { CAPACITY_GRANTED_SIGNAL } from './domain/saga';
import { createActivities } from './activities';
import { codecKeyring, loadConfig } from './config';
import type { ResolvedConfig } from './config';
import type { Logger } from './observability/logger';
import { createLogger } from './observability/logger';
import { installTemporalRuntime } from './observability/temporal-runtime';
import { createKubernetesRunner } from './runners/kubernetes-runner';
import { createLocalRunner } from './runners/local-runner';
import type { Runner } from './runners/runner';
import { createDb } from './store/db';
import { temporalClosedSagas } from './reconciler/closed-sagas';
import { ensureReconcilerSchedule } from './reconciler/schedule';
import { requireEndpoints, runUntilSignal } from './process-lifecycle';
import { createDataConverter } from './payload-codec/encryption-codec';

/** Runner heartbeat period, ms: bounds how long a cancel takes to reach the running script. */
const RUNNER_HEARTBEAT_MS = 500;

export interface WorkerHandle {
  runner: Runner;
  /** Drains: no new tasks are taken, running activities finish or are cancelled, then connections close. */
  stop(): Promise<void>;
}

export interface WorkerOptions {
  /** Temporal worker interceptors (tracing, fault injection in tests). */
  interceptors?: WorkerInterceptors;
  /** A prebuilt workflow bundle (`bundleWorkflowCode`); without it the worker bundles `workflows/` at start. */
  workflowBundlePath?: string;
  /** Wraps the runner (fault injection in tests). */
  wrapRunner?: (runner: Runner) => Runner;
}

/** Runs the Temporal worker: the saga workflow bundle and its activities, with the configured runner (RUNNER). */
export async function startWorker(config: ResolvedConfig, log: Logger, options: WorkerOptions = {}): Promise<WorkerHandle> {
  const dataConverter = createDataConverter(codecKeyring(config));
  installTemporalRuntime(log, config.workerMetricsAddress);
  const db = createDb(config.databaseUrl);
  const runnerLog = { info: (msg: string, fields?: Record<string, unknown>) => log.info(fields ?? {}, msg), warn: (msg: string, fields?: Record<string, unknown>) => log.warn(fields ?? {}, msg) };
  const baseRunner =
    config.runner === 'kubernetes'
      ? createKubernetesRunner({ ...config.kubernetes, heartbeatIntervalMs: RUNNER_HEARTBEAT_MS, log: runnerLog })
      : createLocalRunner({ workDir: config.runnerWorkDir, sandbox: config.runnerSandbox, heartbeatIntervalMs: RUNNER_HEARTBEAT_MS, log: runnerLog });
  const runner = options.wrapRunner ? options.wrapRunner(baseRunner) : baseRunner;
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const clientConnection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection: clientConnection, namespace: config.temporal.namespace, dataConverter });
  const notifyCapacityGranted = (executionId: string) => client.workflow.getHandle(executionId).signal(CAPACITY_GRANTED_SIGNAL);
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    dataConverter,
    ...(options.workflowBundlePath ? { workflowBundle: { codePath: options.workflowBundlePath } } : { workflowsPath: require.resolve('./workflows') }),
    interceptors: options.interceptors,
    // A cancel reaches a running activity only through a heartbeat response: keep them frequent.
    maxHeartbeatThrottleInterval: RUNNER_HEARTBEAT_MS,
    defaultHeartbeatThrottleInterval: RUNNER_HEARTBEAT_MS,
    activities: createActivities({
      db,
      runner,
      log,
      producer: config.service,
      capacity: config.capacity,
      limitMaxima: config.limitMaxima,
      notifyCapacityGranted,
      closedSagas: temporalClosedSagas(client, config.temporal.taskQueue),
      reconcileBatchSize: config.reconciler.batchSize,
    }),
  });
  await ensureReconcilerSchedule(client, {
    taskQueue: config.temporal.taskQueue,
    intervalMs: config.reconciler.intervalMs,
    input: { retryPresets: config.retryPresets },
  });
  const running = worker.run();
  log.info({ task_queue: config.temporal.taskQueue, temporal: config.temporal.address }, 'worker started');
  return {
    runner,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection.close();
      await clientConnection.close();
      await db.$disconnect();
    },
  };
}

if (require.main === module) {
  const config = requireEndpoints(loadConfig(process.env));
  const log = createLogger({ level: config.logLevel, format: config.logFormat, name: 'worker' });
  void runUntilSignal(log, () => startWorker(config, log));
}
