import fs from 'node:fs';
import path from 'node:path';
import type { ApiKeyService } from './api-keys';

/** Owner of the admin key `npm start` creates for this machine. */
export const LOCAL_ADMIN_OWNER = 'local';

export interface LocalAdminKey {
  /** The key in the file, when it authenticates as an admin; null otherwise. */
  token: string | null;
  /** True when this start created it. */
  created: boolean;
  file: string;
}

/**
 * `npm start`'s key for this machine: with no key in the database, creates an admin key and writes it, mode
 * 0600, to `file` (under the state dir). Otherwise reads the file back, if there is one holding a valid admin key.
 */
export async function ensureLocalAdminKey(keys: ApiKeyService, file: string): Promise<LocalAdminKey> {
  if ((await keys.count()) === 0) {
    const { token } = await keys.create({ ownerId: LOCAL_ADMIN_OWNER, role: 'admin', name: 'local admin key created by npm start' });
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
    fs.chmodSync(file, 0o600); // writeFileSync's mode applies only to a new file
    return { token, created: true, file };
  }
  let stored: string;
  try {
    stored = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { token: null, created: false, file };
    throw err;
  }
  const key = await keys.authenticate(stored);
  return { token: key?.role === 'admin' ? stored : null, created: false, file };
}
