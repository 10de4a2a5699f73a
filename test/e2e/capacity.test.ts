import { apiClient, TERMINAL } from '../support/api-client';
import { startService, waitFor } from '../support/harness';
import type { RunningService } from '../support/harness';

let service: RunningService;
let api: ReturnType<typeof apiClient>;

beforeAll(async () => {
  service = await startService({ CAPACITY_GLOBAL: '2', CAPACITY_PER_OWNER: '2' });
  api = apiClient(service.api.url);
}, 120_000);
afterAll(() => service?.stop());

/** Capacity is released after the terminal transition (the saga's last step): wait for it, with a deadline. */
const capacityFree = () => waitFor('all capacity to be released', async () => ((await service.db.capacityReservation.count()) === 0 ? true : undefined), 10_000);

test('with capacity 2, ten submissions from two owners never run more than 2 at once, and the owners alternate', async () => {
  const script = { language: 'bash', script: 'sleep 2' };
  const ids: string[] = [];
  for (const owner of ['alice', 'bob']) {
    for (let i = 0; i < 5; i++) ids.push((await api.submit(script, owner)).json.id);
  }
  const lastBob = ids.at(-1)!;
  const queued = await waitFor('the last submission to report its place in the queue', async () => {
    const state = await service.temporal.workflow.getHandle(lastBob).query<{ step: string; capacityPosition: number | null }>('sagaState');
    return state.capacityPosition !== null ? state : undefined;
  });
  expect(queued.step).toBe('reserving_capacity');
  expect(queued.capacityPosition).toBeGreaterThan(0);

  await Promise.all(ids.map((id) => api.waitForStatus(id, (s) => TERMINAL.includes(s), 60_000)));
  const runs = await service.db.execution.findMany({ where: { id: { in: ids } }, orderBy: { startedAt: 'asc' } });
  expect(runs.every((r) => r.status === 'completed')).toBe(true);

  // Sweep the run intervals: at no instant more than 2 scripts ran.
  const edges = runs.flatMap((r) => [[r.startedAt!.getTime(), 1], [r.finishedAt!.getTime(), -1]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let running = 0;
  let peak = 0;
  for (const [, delta] of edges) peak = Math.max(peak, (running += delta));
  expect(peak).toBe(2);

  // Alice's five were queued first; once Bob arrives, slots go to the owners in turn.
  expect(runs.map((r) => r.ownerId)).toEqual(['alice', 'alice', 'bob', 'alice', 'bob', 'alice', 'bob', 'alice', 'bob', 'bob']);
  await capacityFree();
}, 90_000);

test('capacity is released on failure and timeout as well as success', async () => {
  const outcomes = await Promise.all(
    [
      { language: 'bash', script: 'exit 4' },
      { language: 'python', script: 'import time; time.sleep(10)', limits: { wallTimeMs: 500 } },
      { language: 'node', script: 'console.log(1)' },
    ].map(async (body) => api.waitForStatus((await api.submit(body)).json.id, (s) => TERMINAL.includes(s))),
  );
  expect(outcomes.map((o) => o.status)).toEqual(['failed', 'timed_out', 'completed']);
  await capacityFree();
}, 60_000);
