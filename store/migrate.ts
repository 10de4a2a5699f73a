import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../project-root';

const run = promisify(execFile);

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
