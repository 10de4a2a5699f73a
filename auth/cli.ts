import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { stackEndpoints } from '../stack/paths';
import { createDb } from '../store/db';
import { runMigrations } from '../store/migrate';
import { API_KEY_ROLES, apiKeyView, createApiKeyService, keyPrefixSchema, ownerIdSchema } from './api-keys';
import type { ApiKeyRole } from '../store/api-keys';

// npm run keys -- create --owner <id> [--role user|admin] [--name <text>]
//                 list
//                 revoke <prefix>
// On DATABASE_URL, else the local stack's Postgres (as `npm start` uses it). A created key is printed
// once, alone on stdout (the rest goes to stderr), so `npm run -s keys -- create … > file` keeps just the key.

const USAGE = `usage: npm run keys -- create --owner <owner id> [--role ${API_KEY_ROLES.join('|')}] [--name <text>]
       npm run keys -- list
       npm run keys -- revoke <prefix>`;

class UsageError extends Error {}

const out = (line: string) => process.stdout.write(`${line}\n`);
const note = (line: string) => process.stderr.write(`${line}\n`);

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { owner: { type: 'string' }, role: { type: 'string', default: 'user' }, name: { type: 'string' } },
  });
  const [command, ...rest] = positionals;
  if (!command || !['create', 'list', 'revoke'].includes(command)) throw new UsageError(USAGE);

  const config = loadConfig(process.env);
  const databaseUrl = config.databaseUrl ?? stackEndpoints().databaseUrl;
  try {
    await runMigrations(databaseUrl);
  } catch (err) {
    throw new Error(`cannot reach or migrate the database at ${databaseUrl} (start it: npm start, or npm run stack -- up postgres; or set DATABASE_URL):\n${err instanceof Error ? err.message : String(err)}`);
  }
  const db = createDb(databaseUrl, { maxConnections: 1 });
  const keys = createApiKeyService(db);
  try {
    if (command === 'create') {
      const owner = ownerIdSchema.safeParse(values.owner);
      if (!owner.success) throw new UsageError(`--owner ${values.owner === undefined ? 'is required' : owner.error.issues[0]?.message}\n${USAGE}`);
      if (!(API_KEY_ROLES as readonly string[]).includes(values.role)) throw new UsageError(`--role must be one of ${API_KEY_ROLES.join(', ')}\n${USAGE}`);
      const { key, token } = await keys.create({ ownerId: owner.data, role: values.role as ApiKeyRole, name: values.name ?? null });
      note(`created ${key.role} key ${key.prefix} for owner ${key.ownerId}; it is shown once, here:`);
      out(token);
    } else if (command === 'list') {
      const rows = (await keys.list()).map(apiKeyView);
      out(['prefix', 'role', 'owner', 'created', 'last used', 'revoked', 'name'].join('\t'));
      for (const k of rows) out([k.prefix, k.role, k.ownerId, k.createdAt, k.lastUsedAt ?? '-', k.revokedAt ?? '-', k.name ?? ''].join('\t'));
    } else {
      const prefix = keyPrefixSchema.safeParse(rest[0]);
      if (!prefix.success) throw new UsageError(`revoke needs a key prefix (10 hex digits, as \`list\` shows)\n${USAGE}`);
      const key = await keys.revoke(prefix.data);
      if (!key) throw new Error(`no API key has the prefix ${prefix.data}`);
      note(`revoked key ${key.prefix} (owner ${key.ownerId}) at ${key.revokedAt?.toISOString()}`);
    }
  } finally {
    await db.$disconnect();
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`npm run keys: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
