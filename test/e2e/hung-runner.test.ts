import { decodeTimeoutType } from '@temporalio/common';
import type { Runner } from '../../runners/runner';
import { apiClient } from '../support/api-client';
import { startService } from '../support/harness';
import type { RunningService } from '../support/harness';

/**
 * Fault injection around the real local runner: its first run hangs without a heartbeat (a runner stuck
 * before its process starts, or a worker whose event loop froze), and gives up only when the worker stops.
 */
function hangingFirstRun(runner: Runner): Runner & { hung: number } {
  const wrapped = {
    hung: 0,
    run: (...args: Parameters<Runner['run']>) => {
      if (wrapped.hung > 0) return runner.run(...args);
      wrapped.hung++;
      const signal = args[1]?.signal;
      return new Promise<never>((_, reject) => signal?.addEventListener('abort', () => reject(new Error('hung run abandoned'))));
    },
    destroy: (executionId: string) => runner.destroy(executionId),
    active: () => runner.active(),
  };
  return wrapped;
}

let service: RunningService;
let runner: ReturnType<typeof hangingFirstRun>;

beforeAll(async () => {
  service = await startService({}, { wrapRunner: (local) => (runner = hangingFirstRun(local)) });
}, 120_000);
afterAll(() => service?.stop());

test('a run that hangs without heartbeats (fault-injected) is detected by its heartbeat timeout and retried to completion', async () => {
  const api = apiClient(service.api.url, service.adminKey);
  const { json } = await api.submit({ language: 'python', script: 'print("second attempt")' });
  const done = await api.waitForStatus(json.id, (s) => s !== 'queued' && s !== 'running', 60_000);
  expect(runner.hung).toBe(1);
  expect(done.status).toBe('completed');
  expect(done.result.stdout).toBe('second attempt\n');

  const history = await service.temporal.workflow.getHandle(json.id).fetchHistory();
  const scheduled = history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runScript');
  expect(scheduled).toHaveLength(1);
  const started = history.events!.find((e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.toString() === scheduled[0]!.eventId!.toString());
  expect(started!.activityTaskStartedEventAttributes!.attempt).toBe(2);
  expect(decodeTimeoutType(started!.activityTaskStartedEventAttributes!.lastFailure?.timeoutFailureInfo?.timeoutType)).toBe('HEARTBEAT');
}, 90_000);
