import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createDataConverter } from '../../payload-codec/encryption-codec';
import { generateKeyEntry, parseKeyring } from '../../payload-codec/keyring';
import { sagaBundle } from '../support/workflow-bundle';
import { installTracing, TRACE_PROPAGATION_MODULE, workerTracingInterceptors, workflowSpanSinks } from '../../observability/tracing';

const dir = path.join(__dirname, '..', 'replay', 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
const dataConverter = createDataConverter(parseKeyring(generateKeyEntry()));
const exporter = new InMemorySpanExporter();
const tracing = installTracing({ tracing: { otlpEndpoint: null, serviceName: 'replay-test' } }, null, [new SimpleSpanProcessor(exporter)]);

afterAll(() => tracing.shutdown());

// The worker bundles Temporal's OpenTelemetry workflow interceptors with the saga: every history recorded
// before they existed must still replay through that bundle.
test.each(files)('history %s replays with the worker’s tracing interceptors in the workflow bundle', async (file) => {
  const history = historyFromJSON(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
  const { workflowModules } = workerTracingInterceptors();
  await Worker.runReplayHistory({ workflowBundle: await sagaBundle(workflowModules), dataConverter, sinks: workflowSpanSinks(tracing) }, history, file);
}, 60_000);

// Without an exporter the worker bundles the lighter trace propagation instead: the same histories replay through it.
test.each(files)('history %s replays with the trace propagation bundled when no span is recorded', async (file) => {
  const history = historyFromJSON(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
  const { workflowModules } = workerTracingInterceptors(false);
  expect(workflowModules).toEqual([TRACE_PROPAGATION_MODULE]);
  await Worker.runReplayHistory({ workflowBundle: await sagaBundle(workflowModules), dataConverter }, history, file);
}, 60_000);

test('a replay exports no workflow span again (the sink is not called while replaying)', () => {
  expect(exporter.getFinishedSpans().filter((s) => s.name.startsWith('RunWorkflow:'))).toEqual([]);
});
