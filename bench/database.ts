import pg from 'pg';
import { stackEndpoints } from '../stack';
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
