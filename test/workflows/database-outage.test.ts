import { apiClient, TERMINAL } from '../support/api-client';
import { startService, waitFor } from '../support/harness';
import type { RunningService } from '../support/harness';

let service: RunningService;
let api: ReturnType<typeof apiClient>;

beforeAll(async () => {
  // Two attempts per finishing step, then a one-second pause: the outage outlasts the preset within seconds.
  service = await startService({ RETRY_PRESETS_JSON: '{"immediate":{"maximumAttempts":2}}', SAGA_OUTAGE_PAUSE_MS: '1000' });
  api = apiClient(service.api.url, service.adminKey);
}, 120_000);
afterAll(async () => {
  await service?.db.$executeRawUnsafe('ALTER TABLE executions DROP CONSTRAINT IF EXISTS test_refuse_completed');
  await service?.stop();
});

test('a database outage longer than the result-storage preset delays the end but loses no result: the saga pauses, retries, and completes', async () => {
  // A real database failure: every attempt to store a completed result violates this constraint until it is dropped.
  await service.db.$executeRawUnsafe(`ALTER TABLE executions ADD CONSTRAINT test_refuse_completed CHECK (status <> 'completed') NOT VALID`);
  const { json } = await api.submit({ language: 'python', script: 'print("kept through the outage")' });
  const paused = await waitFor('the saga to use up storeResult’s preset twice and pause', async () => {
    const live = (await api.get(json.id)).json.live as { step: string; outagePauses: number } | null;
    return live && live.outagePauses >= 2 ? live : undefined;
  });
  expect(paused.step).toBe('storing_result');
  expect((await api.get(json.id)).json.status).toBe('running');
  await service.db.$executeRawUnsafe('ALTER TABLE executions DROP CONSTRAINT test_refuse_completed');

  const done = await api.waitForStatus(json.id, (s) => TERMINAL.includes(s), 30_000);
  expect(done.status).toBe('completed');
  expect(done.result.stdout).toBe('kept through the outage\n');
  const transitions = await service.db.executionTransition.findMany({ where: { executionId: json.id }, orderBy: { at: 'asc' } });
  expect(transitions.map((t) => t.toStatus)).toEqual(['queued', 'running', 'completed']);
  const events = await service.db.outboxEvent.findMany({ where: { executionId: json.id }, orderBy: { sequence: 'asc' } });
  expect(events.map((e) => e.eventType)).toEqual(['execution_requested', 'execution_started', 'execution_completed']);
  // The script ran once: the result came from the saga's history, not from running it again.
  const history = await service.temporal.workflow.getHandle(json.id).fetchHistory();
  const runs = history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runScript');
  expect(runs).toHaveLength(1);
}, 90_000);
