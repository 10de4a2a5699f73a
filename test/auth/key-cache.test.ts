import pg from 'pg';
import { createApiKeyService } from '../../auth/api-keys';
import { startApiKeyCache, type ApiKeyCache } from '../../auth/key-cache';
import { createDb, type Db } from '../../store/db';
import { findApiKeyByPrefix, type ApiKey } from '../../store/api-keys';
import { testConfig, testLog, waitFor } from '../support/harness';

// The API's key cache on the real Postgres: a key is read once, and a change made anywhere — another process's
// UPDATE, with no call into this one — reaches it through the api_keys trigger's notification.

const databaseUrl = testConfig().databaseUrl;
let db: Db;
let other: pg.Client; // another process's connection: the CLI's, an operator's psql
let cache: ApiKeyCache;

beforeAll(async () => {
  db = createDb(databaseUrl);
  other = new pg.Client({ connectionString: databaseUrl });
  await other.connect();
});

afterAll(async () => {
  await other.end();
  await db.$disconnect();
});

afterEach(async () => {
  await cache.close();
});

async function newKey(owner: string): Promise<{ key: ApiKey; token: string }> {
  return createApiKeyService(db).create({ ownerId: owner, role: 'user' });
}

/** `findApiKeyByPrefix`, counting its reads. */
function countedLoad() {
  const load = Object.assign(async (prefix: string) => {
    load.reads++;
    return findApiKeyByPrefix(db, prefix);
  }, { reads: 0 });
  return load;
}

const revokeElsewhere = (prefix: string) => other.query('UPDATE api_keys SET revoked_at = now() WHERE prefix = $1', [prefix]);

test('a key is read once; revoked by another process\'s UPDATE it is refused as soon as the notification arrives; a use does not drop it', async () => {
  cache = startApiKeyCache(databaseUrl, testLog, { ttlMs: 60_000 });
  await cache.listening();
  const { key, token } = await newKey('cache-revoke');
  const keys = createApiKeyService(db, cache);
  const load = countedLoad();
  for (let i = 0; i < 5; i++) expect((await cache.lookup(key.prefix, load))?.id).toBe(key.id);
  expect(load.reads).toBe(1);
  expect(await keys.authenticate(token)).toMatchObject({ id: key.id, lastUsedAt: expect.any(Date) }); // a use: last_used_at written
  expect((await cache.lookup(key.prefix, load))?.id).toBe(key.id);
  expect(load.reads).toBe(1); // the use's UPDATE notified nothing

  await revokeElsewhere(key.prefix);
  await waitFor('the revocation to reach the cache', async () => (await keys.authenticate(token)) === null, { deadlineMs: 2_000, intervalMs: 5 });
  expect((await cache.lookup(key.prefix, load))?.revokedAt).toBeInstanceOf(Date);
});

test('a cached key\'s use is written at most once a minute, as without the cache', async () => {
  cache = startApiKeyCache(databaseUrl, testLog, { ttlMs: 120_000 });
  await cache.listening();
  const { key, token } = await newKey('cache-last-use');
  const keys = createApiKeyService(db, cache);
  const lastUsed = async () => (await db.apiKey.findUniqueOrThrow({ where: { prefix: key.prefix } })).lastUsedAt;
  const now = Date.now();
  await keys.authenticate(token, new Date(now));
  expect((await lastUsed())?.getTime()).toBe(now);
  await keys.authenticate(token, new Date(now + 59_000));
  expect((await lastUsed())?.getTime()).toBe(now);
  await keys.authenticate(token, new Date(now + 61_000)); // the same cached row, a minute on
  expect((await lastUsed())?.getTime()).toBe(now + 61_000);
});

test('the process that revokes a key refuses it at once, before any notification', async () => {
  cache = startApiKeyCache(databaseUrl, testLog, { ttlMs: 60_000 });
  await cache.listening();
  const { token } = await newKey('cache-own-revoke');
  const keys = createApiKeyService(db, cache);
  expect(await keys.authenticate(token)).not.toBeNull();
  await keys.revoke(token.split('_')[1]!);
  expect(await keys.authenticate(token)).toBeNull();
});

test('while its LISTEN connection is lost every lookup reads Postgres, and a key revoked meanwhile is refused', async () => {
  cache = startApiKeyCache(databaseUrl, testLog, { ttlMs: 60_000 });
  await cache.listening();
  const { key } = await newKey('cache-lost');
  const load = countedLoad();
  await cache.lookup(key.prefix, load);
  await cache.lookup(key.prefix, load);
  expect(load.reads).toBe(1);

  const ended = await other.query<{ ended: boolean }>("SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE application_name = 'eo api key cache' AND query = 'LISTEN api_key_changes'");
  expect(ended.rows.map((r) => r.ended)).toEqual([true]);
  // Noticed: the next lookups read Postgres (or, once it listens again, start from an empty cache).
  await waitFor('the lost connection to be noticed', async () => {
    const before = load.reads;
    await cache.lookup(key.prefix, load);
    return load.reads > before;
  }, { deadlineMs: 5_000, intervalMs: 20 });
  await revokeElsewhere(key.prefix); // heard by nobody if the connection is still down
  expect((await cache.lookup(key.prefix, load))?.revokedAt).toBeInstanceOf(Date);
});

test('a row read while a change was heard is not kept: the next lookup reads the key again', async () => {
  cache = startApiKeyCache(databaseUrl, testLog, { ttlMs: 60_000 });
  await cache.listening();
  const { key } = await newKey('cache-race');
  let reads = 0;
  const staleRead = async (prefix: string) => {
    reads++;
    const row = await findApiKeyByPrefix(db, prefix);
    if (reads === 1) {
      await revokeElsewhere(prefix); // revoked after this row was read, before it is returned
      await new Promise((resolve) => setTimeout(resolve, 500)); // the notification arrives meanwhile
    }
    return row;
  };
  expect((await cache.lookup(key.prefix, staleRead))?.revokedAt).toBeNull(); // what that read saw
  expect((await cache.lookup(key.prefix, staleRead))?.revokedAt).toBeInstanceOf(Date);
  expect(reads).toBe(2);
});

test('a row is read again once its time is up; an unknown prefix is never kept', async () => {
  cache = startApiKeyCache(databaseUrl, testLog, { ttlMs: 200 });
  await cache.listening();
  const { key } = await newKey('cache-ttl');
  const load = countedLoad();
  await cache.lookup(key.prefix, load);
  await cache.lookup(key.prefix, load);
  expect(load.reads).toBe(1);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await cache.lookup(key.prefix, load);
  expect(load.reads).toBe(2);
  expect(await cache.lookup('0000000000', load)).toBeNull();
  expect(await cache.lookup('0000000000', load)).toBeNull();
  expect(load.reads).toBe(4);
});
