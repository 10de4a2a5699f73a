import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { createDataConverter, EncryptionCodec } from '../../payload-codec/encryption-codec';
import { generateKeyEntry, parseKeyring } from '../../payload-codec/keyring';
import { mapHistoryPayloads } from '../support/history-payloads';
import { sagaBundle } from '../support/workflow-bundle';

const dir = path.join(__dirname, 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
// Replay runs with the codec the worker runs with: histories recorded before encryption decode as they are.
const keyring = parseKeyring(generateKeyEntry());
const dataConverter = createDataConverter(keyring);

test('recorded histories exist for every way an execution ends, and for a reconciler pass', () => {
  const scenarios = new Set(files.map((f) => f.replace(/^v\d+-|\.json$/g, '')));
  expect([...scenarios].sort()).toEqual(['cancelled', 'compensated', 'completed', 'failed', 'reconciler', 'timed_out']);
});

test.each(files)('history %s replays deterministically against the current workflow code, through the payload codec', async (file) => {
  const history = historyFromJSON(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
  await Worker.runReplayHistory({ workflowBundle: await sagaBundle(), dataConverter }, history, file);
}, 60_000);

test('a history whose payloads are encrypted replays deterministically with the keys, and not without them', async () => {
  const json = JSON.parse(readFileSync(path.join(dir, 'v5-completed.json'), 'utf8')) as unknown;
  const codec = new EncryptionCodec(keyring);
  await mapHistoryPayloads(json, (payloads) => codec.encode(payloads));
  expect(JSON.stringify(json)).toContain(Buffer.from('binary/encrypted').toString('base64'));
  await Worker.runReplayHistory({ workflowBundle: await sagaBundle(), dataConverter }, historyFromJSON(json), 'v5-completed-encrypted');
  const otherKeys = createDataConverter(parseKeyring(generateKeyEntry()));
  await expect(Worker.runReplayHistory({ workflowBundle: await sagaBundle(), dataConverter: otherKeys }, historyFromJSON(json), 'v5-completed-other-key')).rejects.toThrow();
}, 60_000);
