import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../project-root';

const run = promisify(execFile);

test('the committed migrations produce exactly the schema in schema.prisma (no drift)', async () => {
  const root = projectRoot();
  const cli = require.resolve('prisma/build/index.js', { paths: [root] });
  // --exit-code: 0 = no difference, 2 = drift, 1 = error. The shadow database is made by prisma/cli-adapter.ts.
  const result = await run(process.execPath, [cli, 'migrate', 'diff', '--from-migrations', 'prisma/migrations', '--to-schema-datamodel', 'prisma/schema.prisma', '--exit-code'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: process.env.EO_ADMIN_DATABASE_URL, NODE_OPTIONS: `--require=${path.join(root, 'prisma', 'cli-preload.cjs')}` },
  }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
  );
  expect(result).toEqual({ code: 0, out: expect.stringContaining('No difference detected') });
}, 60_000);
