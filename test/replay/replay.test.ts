import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';

const dir = path.join(__dirname, 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

test('recorded histories exist for every way an execution ends, and for a reconciler pass', () => {
  const scenarios = new Set(files.map((f) => f.replace(/^v\d+-|\.json$/g, '')));
  expect([...scenarios].sort()).toEqual(['cancelled', 'compensated', 'completed', 'failed', 'reconciler', 'timed_out']);
});

test.each(files)('history %s replays deterministically against the current workflow code', async (file) => {
  const history = historyFromJSON(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
  await Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows') }, history, file);
}, 60_000);
