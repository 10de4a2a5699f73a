import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { createApiKeyService } from '../../auth/api-keys';
import { ensureLocalAdminKey } from '../../auth/local-admin-key';
import { createDb } from '../../store/db';
import type { Db } from '../../store/db';
import { runMigrations } from '../../store/migrate';
import { findApiKeyByPrefix, touchApiKey } from '../../store/api-keys';

// `npm run keys` and `npm start`'s machine key, each on a database of its own: the local admin key is made
// only where there is no key at all.

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..');
const DATABASE = 'eo_test_keys';
let databaseUrl: string;
let db: Db;

beforeAll(async () => {
  const adminUrl = process.env.EO_ADMIN_DATABASE_URL!;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${DATABASE}`;
  databaseUrl = url.toString();
  await runMigrations(databaseUrl);
  db = createDb(databaseUrl);
}, 60_000);
afterAll(async () => {
  await db?.$disconnect();
  const admin = new pg.Client({ connectionString: process.env.EO_ADMIN_DATABASE_URL! });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await admin.end();
});

const keysCli = (...args: string[]) =>
  run(process.execPath, [require.resolve('tsx/cli', { paths: [ROOT] }), 'auth/cli.ts', ...args], { cwd: ROOT, env: { ...process.env, DATABASE_URL: databaseUrl }, timeout: 60_000 });

describe("npm start's admin key for this machine", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eo-admin-key-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('with no key in the database, one admin key is created and kept mode 0600; later starts read it back; a revoked one is not shown', async () => {
    const keys = createApiKeyService(db);
    const file = path.join(dir, 'state', 'admin-key');
    const first = await ensureLocalAdminKey(keys, file);
    expect(first).toMatchObject({ created: true, token: expect.stringMatching(/^eo_/) });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8')).toBe(`${first.token}\n`);
    expect(await keys.authenticate(first.token!)).toMatchObject({ role: 'admin', ownerId: 'local' });

    const again = await ensureLocalAdminKey(keys, file);
    expect(again).toEqual({ token: first.token, created: false, file });
    expect(await keys.count()).toBe(1);

    await keys.revoke(first.token!.split('_')[1]!);
    expect(await ensureLocalAdminKey(keys, file)).toEqual({ token: null, created: false, file });
    expect(await ensureLocalAdminKey(keys, path.join(dir, 'absent'))).toEqual({ token: null, created: false, file: path.join(dir, 'absent') });
    expect(await keys.count()).toBe(1);
  });
});

describe('npm run keys', () => {
  test('create prints the key alone on stdout, once; list shows it without its secret; revoke refuses it from then on', async () => {
    const created = await keysCli('create', '--owner', 'carol', '--role', 'user', '--name', 'carol laptop');
    const token = created.stdout.trim();
    expect(token).toMatch(/^eo_[0-9a-f]{10}_[A-Za-z0-9_-]{43}$/);
    const prefix = token.split('_')[1]!;
    expect(created.stderr).toContain(`created user key ${prefix} for owner carol`);
    const keys = createApiKeyService(db);
    expect(await keys.authenticate(token)).toMatchObject({ ownerId: 'carol', role: 'user', name: 'carol laptop' });

    const listed = await keysCli('list');
    const row = listed.stdout.split('\n').find((l) => l.startsWith(prefix));
    expect(row?.split('\t').slice(0, 3)).toEqual([prefix, 'user', 'carol']);
    expect(listed.stdout).not.toContain(token.slice(`eo_${prefix}_`.length)); // the secret is base64url: it may contain '_'

    const revoked = await keysCli('revoke', prefix);
    expect(revoked.stderr).toContain(`revoked key ${prefix} (owner carol)`);
    expect(await keys.authenticate(token)).toBeNull();
    expect((await keysCli('list')).stdout.split('\n').find((l) => l.startsWith(prefix))?.split('\t')[5]).toMatch(/^\d{4}-/);
  }, 60_000);

  test('a missing owner, an unknown role or an unknown prefix is refused, saying what to give', async () => {
    await expect(keysCli('create')).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--owner is required') });
    await expect(keysCli('create', '--owner', 'x', '--role', 'root')).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--role must be one of user, admin') });
    await expect(keysCli('revoke', '0123456789')).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('no API key has the prefix 0123456789') });
    await expect(keysCli('rotate')).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('usage: npm run keys') });
  }, 60_000);
});

// Last: the tests above begin with no key in the database.
test('a key read by its prefix (raw, on every request) is the row as Prisma reads it, revoked or not; an unknown prefix is null', async () => {
  const keys = createApiKeyService(db);
  const { key } = await keys.create({ ownerId: 'raw-read', role: 'user', name: 'raw read' });
  await touchApiKey(db, key.id, new Date(), new Date());
  expect(await findApiKeyByPrefix(db, key.prefix)).toEqual(await db.apiKey.findUniqueOrThrow({ where: { prefix: key.prefix } }));
  await keys.revoke(key.prefix);
  const revoked = await findApiKeyByPrefix(db, key.prefix);
  expect(revoked?.revokedAt).toBeInstanceOf(Date);
  expect(revoked).toEqual(await db.apiKey.findUniqueOrThrow({ where: { prefix: key.prefix } }));
  expect(await findApiKeyByPrefix(db, 'no-such-prefix')).toBeNull();
});
