import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Payload } from '@temporalio/common';
import { ConfigError, loadConfig } from '../../config';
import { ENCRYPTED_ENCODING, EncryptionCodec, METADATA_KEY_ID } from '../../payload-codec/encryption-codec';
import { generateKeyEntry, localKeyring, parseKeyring } from '../../payload-codec/keyring';

const secret = { script: 'print("tenant secret 7f3a")', stdin: 'password=hunter2' };
const plain = (): Payload => defaultPayloadConverter.toPayload(secret);
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? new Uint8Array()).toString('utf8');
const oldEntry = generateKeyEntry();
const newEntry = generateKeyEntry();

test('an encoded payload carries binary/encrypted and the key id, holds none of the plaintext, and decodes back to the original', async () => {
  const codec = new EncryptionCodec(parseKeyring(oldEntry));
  const [encoded] = await codec.encode([plain()]);
  expect(text(encoded!.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
  expect(text(encoded!.metadata![METADATA_KEY_ID])).toBe(oldEntry.split(':')[0]);
  expect(Buffer.from(encoded!.data!).includes('tenant secret')).toBe(false);
  expect(Buffer.from(encoded!.data!).includes('json/plain')).toBe(false);
  const [decoded] = await codec.decode([encoded!]);
  expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual(secret);
});

test('the same payload encrypts differently each time (a random IV per payload)', async () => {
  const codec = new EncryptionCodec(parseKeyring(oldEntry));
  const [a, b] = await codec.encode([plain(), plain()]);
  expect(Buffer.from(a!.data!).subarray(0, 12).equals(Buffer.from(b!.data!).subarray(0, 12))).toBe(false);
  expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
});

test('a payload that is not encrypted (an old history, a replay fixture) decodes as it is', async () => {
  const codec = new EncryptionCodec(parseKeyring(oldEntry));
  const original = plain();
  const [decoded] = await codec.decode([original]);
  expect(decoded).toBe(original);
});

test('rotation: after a new key is added first, new payloads use it and payloads of the old key still decode', async () => {
  const before = new EncryptionCodec(parseKeyring(oldEntry));
  const [old] = await before.encode([plain()]);
  const after = new EncryptionCodec(parseKeyring(`${newEntry},${oldEntry}`));
  expect(defaultPayloadConverter.fromPayload((await after.decode([old!]))[0]!)).toEqual(secret);
  const [fresh] = await after.encode([plain()]);
  expect(text(fresh!.metadata![METADATA_KEY_ID])).toBe(newEntry.split(':')[0]);
  await expect(before.decode([fresh!])).rejects.toThrow(/key id "k\d{8}-[0-9a-f]{6}", which PAYLOAD_CODEC_KEYS does not hold/);
});

test('a payload whose key id is missing, or whose key under that id is another, fails with a message saying so', async () => {
  const codec = new EncryptionCodec(parseKeyring(oldEntry));
  const [encoded] = await codec.encode([plain()]);
  const withoutId = { ...encoded!, metadata: { encoding: encoded!.metadata!.encoding! } };
  await expect(codec.decode([withoutId])).rejects.toThrow(/carries no encryption-key-id/);
  const sameIdOtherKey = new EncryptionCodec(parseKeyring(`${oldEntry.split(':')[0]}:${newEntry.split(':')[1]}`));
  await expect(sameIdOtherKey.decode([encoded!])).rejects.toThrow(/does not authenticate/);
  // One byte flipped: zeroing it changed nothing when it was 0 already (1 run in 256; seen in CI).
  const data = Buffer.from(encoded!.data!);
  data[20]! ^= 0xff;
  const altered = { ...encoded!, data };
  await expect(codec.decode([altered])).rejects.toThrow(/does not authenticate/);
});

test.each([
  ['no colon', 'k1'],
  ['a short key', `k1:${Buffer.alloc(16).toString('base64')}`],
  ['a key that is not base64', 'k1:not*base64'],
  ['a bad key id', `k 1:${Buffer.alloc(32).toString('base64')}`],
  ['a key id twice', `k1:${Buffer.alloc(32).toString('base64')},k1:${Buffer.alloc(32, 1).toString('base64')}`],
])('PAYLOAD_CODEC_KEYS with %s stops start-up naming the variable, never the key', (_what, value) => {
  expect(() => loadConfig({ PAYLOAD_CODEC_KEYS: value })).toThrow(ConfigError);
  expect(() => loadConfig({ PAYLOAD_CODEC_KEYS: value })).toThrow(/PAYLOAD_CODEC_KEYS: /);
  try {
    loadConfig({ PAYLOAD_CODEC_KEYS: value });
  } catch (err) {
    expect((err as Error).message).not.toContain(value.split(':')[1] || '\u0000');
  }
});

test('the local key of npm start is made once, kept 0600, and the same on every later start', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'eo-codec-'));
  try {
    const file = path.join(dir, 'secrets', 'payload-codec-keys');
    const first = localKeyring(file);
    expect(first.created).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    const second = localKeyring(file);
    expect(second.created).toBe(false);
    expect(second.keyring[0]!.key.equals(first.keyring[0]!.key)).toBe(true);
    expect(readFileSync(file, 'utf8').trim()).toMatch(/^k\d{8}-[0-9a-f]{6}:[A-Za-z0-9+/]{43}=$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
