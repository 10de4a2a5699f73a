import { StartsInFlight } from '../../api/saga-start';

// A stopping API waits for the deferred starts it set going (api/server.ts), then closes its Temporal connection.

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test('counts the starts in flight, and settles once every one tracked so far has ended', async () => {
  const starts = new StartsInFlight();
  const [a, b] = [deferred(), deferred()];
  starts.track(a.promise);
  starts.track(b.promise);
  expect(starts.size).toBe(2);
  let settled = false;
  const waiting = starts.settled().then(() => (settled = true));
  a.resolve();
  await a.promise;
  await new Promise((r) => setImmediate(r));
  expect([starts.size, settled]).toEqual([1, false]);
  b.resolve();
  await waiting;
  expect([starts.size, settled]).toEqual([0, true]);
});

test('a start that rejects still ends: it is not counted, and settling does not throw', async () => {
  const starts = new StartsInFlight();
  const failing = Promise.reject(new Error('Temporal went away'));
  starts.track(failing);
  await expect(starts.settled()).resolves.toBeUndefined();
  expect(starts.size).toBe(0);
});
