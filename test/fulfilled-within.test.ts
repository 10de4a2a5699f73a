import { fulfilledWithin } from '../fulfilled-within';

const after = <T>(ms: number, settle: () => T): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(settle()), ms));

test('a promise that fulfils in time answers true, and leaves no timer behind', async () => {
  jest.useFakeTimers();
  try {
    await expect(fulfilledWithin(Promise.resolve('done'), 10_000)).resolves.toBe(true);
    expect(jest.getTimerCount()).toBe(0);
  } finally {
    jest.useRealTimers();
  }
});

test('a promise slower than the deadline answers false at the deadline, and its later rejection is not reported', async () => {
  const unhandled: unknown[] = [];
  const hear = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', hear);
  try {
    const slow = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('too late to matter')), 1_000));
    const started = performance.now();
    await expect(fulfilledWithin(slow, 30)).resolves.toBe(false);
    expect(performance.now() - started).toBeLessThan(800); // not held until the promise settles
    await after(1_100, () => undefined);
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', hear);
  }
});

test('a promise that rejects in time throws its error', async () => {
  await expect(fulfilledWithin(Promise.reject(new Error('refused')), 10_000)).rejects.toThrow('refused');
});
