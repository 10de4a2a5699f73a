import { randomUUID } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Activities } from '../../activities';
import { DEFAULT_RETRY_PRESETS } from '../../domain/retry-policies';
import type { RetryPresets } from '../../domain/retry-policies';
import { DEFAULT_LIMITS } from '../../domain/runtimes';
import { CANCEL_REQUESTED_SIGNAL, RUN_TIMEOUT_MARGIN_MS, SAGA_STATE_QUERY, WORKFLOW_NAME } from '../../domain/saga';
import type { ExecutionOutcome, ExecutionSagaInput, SagaState } from '../../domain/saga';
import type { RunResult } from '../../runners/runner';
import { waitFor } from '../support/harness';

/**
 * The fast tier: the saga's branches on the stack's Temporal dev server, with stub activities instead of the
 * database and the runner. Each test scripts its execution's activities; every call is recorded.
 */
type ActivityName = keyof Activities;
type Stub = (arg: { executionId: string } & Record<string, unknown>) => Promise<unknown>;

const taskQueue = `saga-branches-${randomUUID()}`;
const scripts = new Map<string, Partial<Record<ActivityName, Stub>>>();
const calls = new Map<string, Array<{ name: ActivityName; arg: Record<string, unknown> }>>();
const callsOf = (id: string) => calls.get(id) ?? [];
const namesCalled = (id: string) => callsOf(id).map((c) => c.name);

const ranToExit: RunResult = { termination: 'exited', exitCode: 0, signal: null, stdout: 'ok\n', stdoutTruncated: false, stderr: '', stderrTruncated: false, wallTimeMs: 5, cpuTimeMs: 1, peakMemoryKb: 1000, startedAt: new Date(), finishedAt: new Date() } as RunResult;

const defaults: Record<ActivityName, Stub> = {
  validateExecution: async () => undefined,
  reserveCapacity: async () => ({ granted: true, position: null }),
  releaseCapacity: async () => undefined,
  markRunning: async () => undefined,
  runScript: async () => ranToExit,
  destroyRunner: async () => undefined,
  storeResult: async ({ executionId }) => ({ executionId, status: 'completed', errorType: null, exitCode: 0 }),
  recordTerminal: async (rec) => ({ executionId: rec.executionId, status: rec.to, errorType: rec.errorType, exitCode: null }),
  reconcileClosedSagas: async () => ({ examined: 0, recorded: [] }),
  deliverCompletionWebhook: async () => 'delivered',
};

const stubActivities = Object.fromEntries(
  (Object.keys(defaults) as ActivityName[]).map((name) => [
    name,
    async (arg: { executionId: string } & Record<string, unknown>) => {
      calls.set(arg.executionId, [...callsOf(arg.executionId), { name, arg }]);
      return (scripts.get(arg.executionId)?.[name] ?? defaults[name])(arg);
    },
  ]),
);

let worker: Worker;
let running: Promise<void>;
let connection: Connection;
let client: Client;

beforeAll(async () => {
  const address = process.env.TEMPORAL_ADDRESS!;
  worker = await Worker.create({ connection: await NativeConnection.connect({ address }), taskQueue, workflowsPath: require.resolve('../../workflows'), activities: stubActivities });
  running = worker.run();
  connection = await Connection.connect({ address });
  client = new Client({ connection });
}, 120_000);
afterAll(async () => {
  worker?.shutdown();
  await running;
  await connection?.close();
});

/** Presets with short, few retries, so a branch is reached in seconds. */
function fastPresets(overrides: Partial<Record<keyof RetryPresets, Partial<RetryPresets['default']>>> = {}): RetryPresets {
  const quick = { initialIntervalMs: 10, backoffCoefficient: 1, maximumIntervalMs: 10 };
  const presets = Object.fromEntries(Object.entries(DEFAULT_RETRY_PRESETS).map(([name, p]) => [name, { ...p, ...quick, maximumAttempts: 2, ...overrides[name as keyof RetryPresets] }]));
  return presets as RetryPresets;
}

function startSaga(script: Partial<Record<ActivityName, Stub>>, input: Partial<ExecutionSagaInput> = {}) {
  const executionId = randomUUID();
  scripts.set(executionId, script);
  const args: ExecutionSagaInput = {
    executionId,
    ownerId: 'saga-branches',
    language: 'python',
    version: '3',
    script: 'print("ok")',
    stdin: null,
    limits: DEFAULT_LIMITS,
    correlationId: executionId,
    retryOfId: null,
    idempotencyKey: null,
    requestHash: null,
    retryPresets: fastPresets(),
    outagePauseMs: 100,
    ...input,
  };
  const started = client.workflow.start(WORKFLOW_NAME, { workflowId: executionId, taskQueue, args: [args], workflowRunTimeout: '2 minutes' });
  return { executionId, started, handle: client.workflow.getHandle(executionId) };
}

const stateOf = (handle: ReturnType<Client['workflow']['getHandle']>) => handle.query<SagaState>(SAGA_STATE_QUERY);

test('past the run deadline the saga abandons the run, runs its compensations and records timed_out', async () => {
  // The deadline is every allowed run attempt plus the longest backoffs: 2 × (1 s + 10 ms) here. The run fails
  // at once and asks for a 60 s pause before its next attempt, so only the deadline can end the wait.
  const wallTimeMs = 1_000 - RUN_TIMEOUT_MARGIN_MS;
  const { executionId, started, handle } = startSaga(
    { runScript: async () => Promise.reject(ApplicationFailure.create({ message: 'runner busy', nextRetryDelay: '60s' })) },
    { limits: { ...DEFAULT_LIMITS, wallTimeMs } },
  );
  await started;
  const startedAt = Date.now();
  const outcome = await handle.result();
  expect(Date.now() - startedAt).toBeLessThan(30_000);
  expect(outcome).toMatchObject({ executionId, status: 'timed_out', errorType: 'timeout' });
  expect(namesCalled(executionId)).toEqual(['validateExecution', 'reserveCapacity', 'markRunning', 'runScript', 'destroyRunner', 'releaseCapacity', 'recordTerminal']);
  expect(callsOf(executionId).at(-1)!.arg).toMatchObject({ to: 'timed_out', errorType: 'timeout', reason: 'deadline' });
  expect((await stateOf(handle)).step).toBe('done');
}, 60_000);

test('a queued saga whose grant signal was lost asks the queue again on its own and runs', async () => {
  let asked = 0;
  const { executionId, started, handle } = startSaga({ reserveCapacity: async () => (++asked === 1 ? { granted: false, position: 2 } : { granted: true, position: null }) });
  await started;
  const queued = await waitFor('the saga to wait in the queue', async () => {
    const state = await stateOf(handle);
    return state.capacityPosition === 2 ? state : undefined;
  });
  expect(queued.step).toBe('reserving_capacity');
  // No capacityGranted signal is sent: the re-check (every 30 s) finds the slot.
  const outcome = await handle.result();
  expect(outcome).toMatchObject({ status: 'completed' });
  expect(namesCalled(executionId)).toEqual(['validateExecution', 'reserveCapacity', 'reserveCapacity', 'markRunning', 'runScript', 'storeResult', 'releaseCapacity']);
}, 60_000);

test('cancelling a queued saga leaves the queue and records cancelled with the actor and reason; nothing runs', async () => {
  const { executionId, started, handle } = startSaga({ reserveCapacity: async () => ({ granted: false, position: 0 }) });
  await started;
  await waitFor('the saga to wait in the queue', async () => ((await stateOf(handle)).capacityPosition === 0 ? true : undefined));
  await handle.signal(CANCEL_REQUESTED_SIGNAL, { actor: 'api:saga-branches', reason: 'no longer needed' });
  await handle.cancel();
  const failure = await handle.result().then(
    () => null,
    (err: unknown) => err,
  );
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  expect(namesCalled(executionId)).toEqual(['validateExecution', 'reserveCapacity', 'releaseCapacity', 'recordTerminal']);
  expect(callsOf(executionId).at(-1)!.arg).toMatchObject({ to: 'cancelled', errorType: 'cancelled', actor: 'api:saga-branches', reason: 'no longer needed' });
}, 60_000);

test('storing the result outlasts an outage longer than its preset: the saga pauses, tries again and completes', async () => {
  let attempts = 0;
  const { executionId, started, handle } = startSaga(
    {
      storeResult: async ({ executionId: id }) => {
        // The `immediate` preset allows 2 attempts: 5 failures use it up twice and fail once more after the second pause.
        if (++attempts <= 5) throw new Error(`database down (attempt ${Context.current().info.attempt})`);
        return { executionId: id, status: 'completed', errorType: null, exitCode: 0 } satisfies ExecutionOutcome;
      },
    },
    { outagePauseMs: 200 },
  );
  await started;
  const outcome = await handle.result();
  expect(outcome).toMatchObject({ executionId, status: 'completed' });
  expect(attempts).toBe(6);
  expect((await stateOf(handle)).outagePauses).toBe(2);
  expect(namesCalled(executionId).filter((n) => n === 'storeResult')).toHaveLength(6);
  expect(namesCalled(executionId)).not.toContain('recordTerminal');
}, 60_000);

test('with a callbackUrl the webhook is sent last, after the end is recorded and capacity released; one that keeps failing does not fail the saga', async () => {
  const { executionId, started, handle } = startSaga(
    { deliverCompletionWebhook: async () => Promise.reject(new Error('receiver answered 500')) },
    { callbackUrl: 'https://hooks.example.com/done' },
  );
  await started;
  const outcome = await handle.result();
  expect(outcome).toMatchObject({ executionId, status: 'completed' });
  // The `webhook` preset of fastPresets: 2 attempts.
  expect(namesCalled(executionId)).toEqual(['validateExecution', 'reserveCapacity', 'markRunning', 'runScript', 'storeResult', 'releaseCapacity', 'deliverCompletionWebhook', 'deliverCompletionWebhook']);
  expect(callsOf(executionId).at(-1)!.arg).toEqual({ executionId, callbackUrl: 'https://hooks.example.com/done', maximumAttempts: 2 });
}, 60_000);

test('a saga whose end was recorded by compensation sends its webhook too, and a cancel during the webhook does not stop it', async () => {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let webhookStarted = false;
  const { executionId, started, handle } = startSaga(
    {
      runScript: async () => Promise.reject(ApplicationFailure.nonRetryable('interpreter missing', 'RunnerUnavailable')),
      deliverCompletionWebhook: async () => {
        webhookStarted = true;
        await held;
        return 'delivered';
      },
    },
    { callbackUrl: 'https://hooks.example.com/done' },
  );
  await started;
  await waitFor('the webhook to be under way', async () => (webhookStarted ? true : undefined));
  await handle.cancel();
  // Released only once the workflow has handled the cancel (a workflow task completed after the request).
  await waitFor('the saga to have seen the cancel', async () => {
    const events = (await handle.fetchHistory()).events ?? [];
    const requested = events.findIndex((e) => e.workflowExecutionCancelRequestedEventAttributes);
    return requested >= 0 && events.slice(requested).some((e) => e.workflowTaskCompletedEventAttributes) ? true : undefined;
  });
  release();
  await expect(handle.result()).rejects.toThrow();
  expect(namesCalled(executionId).slice(-3)).toEqual(['releaseCapacity', 'recordTerminal', 'deliverCompletionWebhook']);
  expect(callsOf(executionId).at(-2)!.arg).toMatchObject({ to: 'error' });
  // Exactly one attempt: the cancel neither interrupted it nor started another.
  expect(namesCalled(executionId).filter((n) => n === 'deliverCompletionWebhook')).toHaveLength(1);
}, 60_000);
