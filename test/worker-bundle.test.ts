import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TRACE_PROPAGATION_MODULE, WORKFLOW_INTERCEPTOR_MODULE } from '../observability/tracing';
import { prebuiltWorkflowBundle } from '../worker-bundle';

// A compiled tree of the shape `npm run build` leaves (dist/), with times set by hand: a worker takes a prebuilt
// bundle only while nothing it is made of is newer, so a stale bundle never runs other workflow code than the build's.
let root: string;
const later = (seconds: number) => new Date(Date.now() + seconds * 1000);
const touch = (file: string, at: Date) => {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '');
  utimesSync(file, at, at);
};
const untraced = () => path.join(root, 'workflow-bundles', 'saga-workflow-trace-propagation.js');

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'eo-bundle-'));
  for (const dir of ['workflows', 'domain', 'observability']) touch(path.join(root, dir, 'module.js'), later(0));
  touch(untraced(), later(10));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

test('a bundle newer than the compiled workflows, domain and observability code is taken, for its own interceptor modules only', () => {
  expect(prebuiltWorkflowBundle([TRACE_PROPAGATION_MODULE], root)).toBe(untraced());
  // Built for the traced set too? Not here: that file is missing.
  expect(prebuiltWorkflowBundle([WORKFLOW_INTERCEPTOR_MODULE], root)).toBeUndefined();
  // A test's own interceptor modules are never prebuilt.
  expect(prebuiltWorkflowBundle([TRACE_PROPAGATION_MODULE, '/elsewhere/fault-injection.js'], root)).toBeUndefined();
});

test.each(['workflows', 'domain', 'observability'])('a bundle older than a compiled module of %s/ is not taken: the worker bundles at start', (dir) => {
  touch(path.join(root, dir, 'changed.js'), later(20));
  expect(prebuiltWorkflowBundle([TRACE_PROPAGATION_MODULE], root)).toBeUndefined();
});

test('run from the sources (no compiled tree) there is no prebuilt bundle', () => {
  expect(prebuiltWorkflowBundle([TRACE_PROPAGATION_MODULE])).toBeUndefined();
});
