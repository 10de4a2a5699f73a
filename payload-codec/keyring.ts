import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** One AES-256 key and the id written next to every payload it encrypts. */
export interface CodecKey {
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

/** Keys, newest first: the first encrypts, every one decrypts. */
export type Keyring = readonly CodecKey[];

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const KEY_BYTES = 32;

/**
 * Parses `id:base64key,id:base64key,…` (newest first). Throws an Error whose message says what is wrong
 * with which entry, never the key material.
 */
export function parseKeyring(raw: string): Keyring {
  const entries = raw.split(',').map((entry) => entry.trim());
  const keys: CodecKey[] = [];
  for (const [i, entry] of entries.entries()) {
    const colon = entry.indexOf(':');
    if (colon < 0) throw new Error(`entry ${i + 1} is not id:base64key`);
    const id = entry.slice(0, colon);
    const encoded = entry.slice(colon + 1);
    if (!KEY_ID.test(id)) throw new Error(`entry ${i + 1}: the key id must be 1-64 of A-Z a-z 0-9 . _ -`);
    if (keys.some((k) => k.id === id)) throw new Error(`entry ${i + 1}: key id "${id}" appears twice`);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw new Error(`entry ${i + 1} (key id "${id}"): the key is not base64`);
    const key = Buffer.from(encoded, 'base64');
    if (key.length !== KEY_BYTES) throw new Error(`entry ${i + 1} (key id "${id}"): the key must be ${KEY_BYTES} bytes (AES-256), it is ${key.length}`);
    keys.push({ id, key });
  }
  return keys;
}

/** A fresh key in the `id:base64key` form (the id says when it was made). */
export function generateKeyEntry(now = new Date()): string {
  const stamp = now.toISOString().slice(0, 10).replaceAll('-', '');
  return `k${stamp}-${randomBytes(3).toString('hex')}:${randomBytes(KEY_BYTES).toString('base64')}`;
}

/**
 * The key of this machine for `npm start` without PAYLOAD_CODEC_KEYS: read from `file`, or generated once
 * and written there readable by the owner only (0600, in a 0700 directory), like a local secret.
 */
export function localKeyring(file: string): { keyring: Keyring; created: boolean } {
  let raw: string;
  let created = false;
  try {
    raw = readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    raw = generateKeyEntry();
    try {
      // 'wx': two starts racing cannot overwrite each other's key; the loser reads the winner's.
      writeFileSync(file, `${raw}\n`, { mode: 0o600, flag: 'wx' });
      created = true;
    } catch (writeErr) {
      if ((writeErr as NodeJS.ErrnoException).code !== 'EEXIST') throw writeErr;
      raw = readFileSync(file, 'utf8').trim();
    }
  }
  chmodSync(file, 0o600);
  try {
    return { keyring: parseKeyring(raw), created };
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
}
