import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The project root: the nearest folder above this file holding prisma/schema.prisma (works from source and dist/). */
export function projectRoot(from = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'prisma', 'schema.prisma'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`prisma/schema.prisma not found above ${from}`);
  }
}

/** Applies committed migrations (`prisma migrate deploy`) through the offline CLI setup of prisma.config.ts. */
export async function runMigrations(databaseUrl: string): Promise<string> {
  const root = projectRoot();
  const cli = require.resolve('prisma/build/index.js', { paths: [root] });
  const { stdout } = await run(process.execPath, [cli, 'migrate', 'deploy'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: databaseUrl, NODE_OPTIONS: `--require=${path.join(root, 'prisma', 'cli-preload.cjs')}` },
    timeout: 120_000,
  });
  return stdout;
}
