import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import type { Payload } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { createDataConverter, EncryptionCodec } from '../../payload-codec/encryption-codec';
import { generateKeyEntry, parseKeyring } from '../../payload-codec/keyring';

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
  await Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows'), dataConverter }, history, file);
}, 60_000);

type JsonPayload = { metadata?: Record<string, string>; data?: string };

/** Encrypts every `{payloads: [...]}` of a history in its JSON form (inputs, results, details; not patch markers), as the codec writes them. */
async function encryptPayloads(node: unknown, codec: EncryptionCodec): Promise<void> {
  if (Array.isArray(node)) {
    for (const item of node) await encryptPayloads(item, codec);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const record = node as Record<string, unknown>;
  if (Array.isArray(record.payloads)) {
    const plain: Payload[] = (record.payloads as JsonPayload[]).map((p) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
      data: Buffer.from(p.data ?? '', 'base64'),
    }));
    record.payloads = (await codec.encode(plain)).map((p) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
    }));
    return;
  }
  for (const [key, value] of Object.entries(record)) {
    // Patch markers are written by the SDK's core, never through the codec.
    if (key !== 'markerRecordedEventAttributes') await encryptPayloads(value, codec);
  }
}

test('a history whose payloads are encrypted replays deterministically with the keys, and not without them', async () => {
  const json = JSON.parse(readFileSync(path.join(dir, 'v2-completed.json'), 'utf8')) as unknown;
  await encryptPayloads(json, new EncryptionCodec(keyring));
  expect(JSON.stringify(json)).toContain(Buffer.from('binary/encrypted').toString('base64'));
  await Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows'), dataConverter }, historyFromJSON(json), 'v2-completed-encrypted');
  const otherKeys = createDataConverter(parseKeyring(generateKeyEntry()));
  await expect(Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows'), dataConverter: otherKeys }, historyFromJSON(json), 'v2-completed-other-key')).rejects.toThrow();
}, 60_000);
