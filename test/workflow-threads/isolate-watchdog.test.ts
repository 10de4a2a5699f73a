import vm from 'node:vm';
import { Worker as NodeWorker } from 'node:worker_threads';
import { loadIsolateWatchdog } from '../../workflow-threads/isolate-watchdog';
import type { IsolateWatchdogAddon } from '../../workflow-threads/isolate-watchdog';

// The addon alone: the global setup builds it (npm run build's step).
let addon: IsolateWatchdogAddon;
let addonPath: string;
beforeAll(() => {
  const load = loadIsolateWatchdog();
  if ('unavailable' in load) throw new Error(`isolate watchdog: ${load.unavailable}`);
  ({ addon, addonPath } = load);
});

const context = vm.createContext({}, { microtaskMode: 'afterEvaluate' });
const timedOut = (ms: number) => expect.objectContaining({ code: 'ERR_SCRIPT_EXECUTION_TIMEOUT', message: `Script execution timed out after ${ms}ms` });

test('a call that ends in time returns its value, and its own error is thrown unchanged', () => {
  expect(addon.guardedCall(() => vm.runInContext('6 * 7', context), 1_000)).toBe(42);
  const error = new RangeError('its own');
  expect(() => addon.guardedCall(() => { throw error; }, 1_000)).toThrow(error);
});

test('a loop is stopped at its deadline with the error node vm throws, and the thread goes on', () => {
  const started = Date.now();
  expect(() => addon.guardedCall(() => vm.runInContext('for (;;) {}', context), 200)).toThrow(timedOut(200));
  const took = Date.now() - started;
  expect(took).toBeGreaterThanOrEqual(195);
  expect(took).toBeLessThan(5_000);
  expect(addon.guardedCall(() => vm.runInContext('"still running"', context), 1_000)).toBe('still running');
});

test('microtasks run within the deadline: an endless promise chain is stopped too', () => {
  expect(() => addon.guardedCall(() => vm.runInContext('Promise.resolve().then(function again() { return Promise.resolve().then(again); })', context), 200)).toThrow(timedOut(200));
});

test('nested calls: the inner deadline stops only the inner call, the outer one stops both', () => {
  const inner = addon.guardedCall(() => {
    try {
      return addon.guardedCall(() => vm.runInContext('for (;;) {}', context), 100);
    } catch (error) {
      return `inner stopped: ${(error as NodeJS.ErrnoException).code}`;
    }
  }, 5_000);
  expect(inner).toBe('inner stopped: ERR_SCRIPT_EXECUTION_TIMEOUT');
  expect(() => addon.guardedCall(() => addon.guardedCall(() => vm.runInContext('for (;;) {}', context), 60_000), 100)).toThrow(timedOut(100));
});

test('bad arguments are a TypeError naming what is expected', () => {
  // The addon's TypeError is of the test's outer realm, not of jest's sandbox: matched by name and message.
  const badArguments = expect.objectContaining({ name: 'TypeError', message: 'guardedCall(fn, timeoutMs): a function and a number of ms >= 0' });
  expect(() => (addon.guardedCall as (...args: unknown[]) => unknown)('not a function', 10)).toThrow(badArguments);
  expect(() => addon.guardedCall(() => 1, -1)).toThrow(badArguments);
});

test('a worker thread stopped inside a guarded loop still stops: a termination not its own is not swallowed', async () => {
  const thread = new NodeWorker(
    `const { guardedCall } = require(${JSON.stringify(addonPath)});
     require('node:worker_threads').parentPort.postMessage('looping');
     guardedCall(() => require('node:vm').runInNewContext('for (;;) {}'), 60000);`,
    { eval: true },
  );
  await new Promise((resolve) => thread.once('message', resolve));
  const started = Date.now();
  const exitCode = await thread.terminate();
  expect(exitCode).toBe(1);
  expect(Date.now() - started).toBeLessThan(5_000);
});
