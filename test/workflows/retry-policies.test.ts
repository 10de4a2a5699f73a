import { randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { WorkflowHandle } from '@temporalio/client';
import { DEFAULT_LIMITS } from '../../domain/runtimes';
import type { ExecutionSagaInput } from '../../domain/saga';
import { apiClient, TERMINAL } from '../support/api-client';
import { startService, waitFor } from '../support/harness';
import type { RunningService } from '../support/harness';

let service: RunningService;
let api: ReturnType<typeof apiClient>;

beforeAll(async () => {
  service = await startService();
  api = apiClient(service.api.url, service.adminKey);
}, 120_000);
afterAll(async () => {
  await service?.db.$executeRawUnsafe('DROP TRIGGER IF EXISTS test_refuse_running ON executions');
  await service?.db.$executeRawUnsafe('DROP FUNCTION IF EXISTS test_refuse_running()');
  await service?.db.$executeRawUnsafe('DROP SEQUENCE IF EXISTS test_refused_running');
  await service?.stop();
});

/**
 * The attempt number at which each activity type last ran, from the workflow's history: an activity task's
 * started event, or a local activity's marker (the database steps run as local activities since the
 * local-database-steps patch; the marker keeps the last attempt).
 */
async function attemptsByActivity(handle: WorkflowHandle): Promise<Record<string, number>> {
  const history = await handle.fetchHistory();
  const typeByScheduledId = new Map<string, string>();
  const attempts: Record<string, number> = {};
  const record = (type: string, attempt: number) => {
    attempts[type] = Math.max(attempts[type] ?? 0, attempt);
  };
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) typeByScheduledId.set(String(event.eventId), scheduled.activityType!.name!);
    const started = event.activityTaskStartedEventAttributes;
    if (started) record(typeByScheduledId.get(String(started.scheduledEventId))!, started.attempt ?? 1);
    const marker = event.markerRecordedEventAttributes;
    if (marker?.markerName === 'core_local_activity') {
      // The marker's `data` is plain JSON written by the SDK's core (not through the payload codec).
      const data = JSON.parse(Buffer.from(marker.details!.data!.payloads![0]!.data!).toString()) as { activity_type: string; attempt: number };
      record(data.activity_type, data.attempt);
    }
  }
  return attempts;
}

test('a transient database error in a step is retried by its preset, and the execution completes', async () => {
  // A real database failure: the status update of markRunning is refused until the trigger is dropped. Each
  // refusal counts itself in a sequence, which the rolled-back transaction cannot take back.
  await service.db.$executeRawUnsafe('CREATE SEQUENCE test_refused_running');
  await service.db.$executeRawUnsafe(`CREATE FUNCTION test_refuse_running() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM nextval('test_refused_running'); RAISE EXCEPTION 'test: running refused'; END $$`);
  await service.db.$executeRawUnsafe(`CREATE TRIGGER test_refuse_running BEFORE UPDATE ON executions FOR EACH ROW WHEN (NEW.status = 'running') EXECUTE FUNCTION test_refuse_running()`);
  const { json } = await api.submit({ language: 'python', script: 'print("after the blip")' });
  const handle = service.temporal.workflow.getHandle(json.id);
  await waitFor('markRunning to fail at least three times', async () => {
    const [row] = await service.db.$queryRawUnsafe<Array<{ refused: bigint }>>('SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS refused FROM test_refused_running');
    const refused = row?.refused ?? 0n;
    return refused >= 3n ? refused : undefined;
  });
  await service.db.$executeRawUnsafe('DROP TRIGGER test_refuse_running ON executions');

  const done = await api.waitForStatus(json.id, (s) => TERMINAL.includes(s));
  expect(done.status).toBe('completed');
  expect(done.result.stdout).toBe('after the blip\n');
  expect((await attemptsByActivity(handle)).markRunning).toBeGreaterThanOrEqual(3);
  // The retried write left exactly one transition and one event behind.
  expect(await service.db.executionTransition.count({ where: { executionId: json.id, toStatus: 'running' } })).toBe(1);
  expect(await service.db.outboxEvent.count({ where: { executionId: json.id, eventType: 'execution_started' } })).toBe(1);
}, 60_000);

test('a validation failure is not retried: the saga records error at once', async () => {
  // Bypass the API's own validation, as a worker with lower maxima than the API would see it.
  const id = uuidv7();
  const input: ExecutionSagaInput = {
    executionId: id,
    ownerId: 'o1',
    language: 'python',
    version: '3',
    script: 'print(1)',
    stdin: null,
    limits: { ...DEFAULT_LIMITS, wallTimeMs: 24 * 60 * 60 * 1000 },
    correlationId: randomUUID(),
    retryOfId: null,
    idempotencyKey: null,
    requestHash: null,
    retryPresets: service.config.retryPresets,
  };
  const handle = await service.temporal.workflow.start('executionSaga', { workflowId: id, taskQueue: service.config.temporal.taskQueue, args: [input] });
  await expect(handle.result()).rejects.toMatchObject({ cause: { type: 'ValidationFailed' } });
  // One attempt of validation, none of the later steps, then the terminal record.
  expect(await attemptsByActivity(handle)).toEqual({ validateExecution: 1, recordTerminal: 1 });
  const row = await service.db.execution.findUniqueOrThrow({ where: { id } });
  expect(row).toMatchObject({ status: 'error', errorType: 'system_error' });
  expect(row.errorMessage).toMatch(/limits.wallTimeMs: must be at most/);
}, 60_000);
