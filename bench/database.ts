import pg from 'pg';
import { createApiKeyService } from '../auth/api-keys';
import { stackEndpoints } from '../stack';
import { createDb } from '../store/db';
import { runMigrations } from '../store/migrate';

/** A database of the bench's own, `name`, dropped and created anew on the server of DATABASE_URL (else the local stack's), migrated; its URL. */
export async function freshBenchDatabase(name: string): Promise<string> {
  const adminUrl = process.env.DATABASE_URL ?? stackEndpoints().databaseUrl;
  const databaseUrl = Object.assign(new URL(adminUrl), { pathname: `/${name}` }).toString();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  await runMigrations(databaseUrl);
  return databaseUrl;
}

/** One API key per owner in the bench's database, made as `npm run keys` makes them; the tokens, in order. */
export async function createBenchKeys(databaseUrl: string, owners: ReadonlyArray<{ ownerId: string; role: 'user' | 'admin' }>, name: string): Promise<string[]> {
  const keyDb = createDb(databaseUrl, { maxConnections: 1 });
  try {
    const keys = createApiKeyService(keyDb);
    const tokens: string[] = [];
    for (const owner of owners) tokens.push((await keys.create({ ...owner, name })).token);
    return tokens;
  } finally {
    await keyDb.$disconnect();
  }
}
