import fs from 'node:fs';
import path from 'node:path';
import { isAlive, readPidFile, removeFile } from './process';
import { waitFor } from './wait';

/**
 * Runs `fn` while holding a lock file, so two commands (e.g. parallel test setups) don't
 * start or build the same thing twice. A lock left by a dead process is taken over.
 */
export async function withLock<T>(file: string, deadlineMs: number, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await waitFor(
    `lock ${file} (held by pid ${readPidFile(file) ?? '?'})`,
    async () => tryAcquire(file),
    { deadlineMs, intervalMs: 200 },
  );
  try {
    return await fn();
  } finally {
    if (readPidFile(file) === process.pid) removeFile(file);
  }
}

function tryAcquire(file: string): boolean {
  try {
    fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const owner = readPidFile(file);
  if (owner === process.pid) return false;
  // An empty file is a lock being written right now; only a dead owner's lock is taken over.
  if (owner !== undefined && !isAlive(owner)) removeFile(file);
  return false;
}
