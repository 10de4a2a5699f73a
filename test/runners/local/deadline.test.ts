import { armDeadline } from '../../../runners/local/deadline';

const expireAfter = (startedAt: number, ms: number) =>
  new Promise<number>((resolve) => armDeadline(startedAt, ms, () => resolve(performance.now() - startedAt)));

describe('armDeadline', () => {
  it('never fires before the deadline, even when armed part-way into it (plain timers fire ~1 ms early)', async () => {
    const elapsed: number[] = [];
    for (let i = 0; i < 100; i++) {
      const startedAt = performance.now();
      const busyUntil = startedAt + (i % 7) * 0.3; // arm at a fractional offset, like the runner after spawn
      while (performance.now() < busyUntil);
      elapsed.push(await expireAfter(startedAt, 15));
    }
    expect(Math.min(...elapsed)).toBeGreaterThanOrEqual(15);
  });

  it('fires at once when the deadline has already passed', async () => {
    let fired = false;
    armDeadline(performance.now() - 50, 10, () => (fired = true));
    expect(fired).toBe(true);
  });

  it('does not fire once cleared', async () => {
    let fired = false;
    const deadline = armDeadline(performance.now(), 5, () => (fired = true));
    deadline.clear();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(fired).toBe(false);
  });
});
