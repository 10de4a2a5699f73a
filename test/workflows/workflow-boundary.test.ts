import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { projectRoot } from '../../project-root';

/**
 * Lints `code` as a file beside `filePath`, returning the rule ids that fired. The file is written for the
 * run (and removed): type-aware lint only parses files its TypeScript project can find on disk.
 */
async function lintAs(filePath: string, code: string): Promise<string[]> {
  const root = projectRoot();
  const eslint = path.join(root, 'node_modules', 'eslint', 'bin', 'eslint.js');
  const file = path.join(root, filePath.replace(/\.ts$/, `-${randomUUID()}.ts`));
  writeFileSync(file, code);
  try {
    const child = execFile(process.execPath, [eslint, '--format', 'json', file], { cwd: root });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await once(child, 'close');
    const [result] = JSON.parse(out) as Array<{ messages: Array<{ ruleId: string | null; message: string }> }>;
    return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
  } finally {
    rmSync(file, { force: true });
  }
}

test.each([
  ['a Node built-in', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;"],
  ['a bare Node built-in', "import { randomUUID } from 'crypto';\nexport const x = randomUUID;"],
  ['Prisma', "import { PrismaClient } from '@prisma/client';\nexport const x = PrismaClient;"],
  ['the generated Prisma client', "import { PrismaClient } from '../generated/prisma/client';\nexport const x = PrismaClient;"],
  ['a Kafka client', "import { Producer } from '@platformatic/kafka';\nexport const x = Producer;"],
  ['the config module', "import { loadConfig } from '../config';\nexport const x = loadConfig;"],
  ['activities as values', "import { createActivities } from '../activities';\nexport const x = createActivities;"],
])('workflow code importing %s fails lint', async (_what, code) => {
  const problems = await lintAs('workflows/forbidden.ts', code);
  expect(problems.some((p) => p.startsWith('no-restricted-imports'))).toBe(true);
}, 30_000);

test('workflow code importing activities as types passes lint', async () => {
  const problems = await lintAs('workflows/allowed.ts', "import type { Activities } from '../activities';\nexport type X = Activities;");
  expect(problems).toEqual([]);
}, 30_000);

test('API code importing workflow code as values fails lint; as types it passes', async () => {
  const value = await lintAs('api/forbidden.ts', "import { executionSaga } from '../workflows/execution-saga';\nexport const x = executionSaga;");
  expect(value.some((p) => p.startsWith('no-restricted-imports'))).toBe(true);
  const types = await lintAs('api/allowed.ts', "import type { executionSaga } from '../workflows/execution-saga';\nexport type X = typeof executionSaga;");
  expect(types).toEqual([]);
}, 30_000);
