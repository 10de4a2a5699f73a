import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { projectRoot } from '../../project-root';

/**
 * Lints each `code` as a file beside its `filePath`, in one eslint run (type-aware lint takes seconds to start),
 * returning the rules that fired per case. The files are written for the run (and removed): type-aware lint only
 * parses files its TypeScript project can find on disk.
 */
async function lintAll(cases: Record<string, { filePath: string; code: string }>): Promise<Record<string, string[]>> {
  const root = projectRoot();
  const eslint = path.join(root, 'node_modules', 'eslint', 'bin', 'eslint.js');
  const files = Object.fromEntries(Object.entries(cases).map(([name, c]) => [name, path.join(root, c.filePath.replace(/\.ts$/, `-${randomUUID()}.ts`))]));
  for (const [name, c] of Object.entries(cases)) writeFileSync(files[name]!, c.code);
  try {
    const child = execFile(process.execPath, [eslint, '--format', 'json', ...Object.values(files)], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await once(child, 'close');
    const results = JSON.parse(out) as Array<{ filePath: string; messages: Array<{ ruleId: string | null; message: string }> }>;
    return Object.fromEntries(
      Object.entries(files).map(([name, file]) => {
        const result = results.find((r) => r.filePath === file);
        if (!result) throw new Error(`eslint reported nothing on ${file}`);
        return [name, result.messages.map((m) => `${m.ruleId}: ${m.message}`)];
      }),
    );
  } finally {
    for (const file of Object.values(files)) rmSync(file, { force: true });
  }
}

const forbiddenInWorkflows: Array<[string, string]> = [
  ['a Node built-in', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;"],
  ['a bare Node built-in', "import { randomUUID } from 'crypto';\nexport const x = randomUUID;"],
  ['Prisma', "import { PrismaClient } from '@prisma/client';\nexport const x = PrismaClient;"],
  ['the generated Prisma client', "import { PrismaClient } from '../generated/prisma/client';\nexport const x = PrismaClient;"],
  ['a Kafka client', "import { Producer } from '@platformatic/kafka';\nexport const x = Producer;"],
  ['the config module', "import { loadConfig } from '../config';\nexport const x = loadConfig;"],
  ['activities as values', "import { createActivities } from '../activities';\nexport const x = createActivities;"],
];

let problems: Record<string, string[]>;
beforeAll(async () => {
  problems = await lintAll({
    ...Object.fromEntries(forbiddenInWorkflows.map(([what, code]) => [what, { filePath: 'workflows/forbidden.ts', code }])),
    'workflow: activities as types': { filePath: 'workflows/allowed.ts', code: "import type { Activities } from '../activities';\nexport type X = Activities;" },
    'api: workflow code as values': { filePath: 'api/forbidden.ts', code: "import { executionSaga } from '../workflows/execution-saga';\nexport const x = executionSaga;" },
    'api: workflow code as types': { filePath: 'api/allowed.ts', code: "import type { executionSaga } from '../workflows/execution-saga';\nexport type X = typeof executionSaga;" },
  });
}, 120_000);

test.each(forbiddenInWorkflows)('workflow code importing %s fails lint', (what) => {
  expect(problems[what]!.some((p) => p.startsWith('no-restricted-imports'))).toBe(true);
});

test('workflow code importing activities as types passes lint', () => {
  expect(problems['workflow: activities as types']).toEqual([]);
});

test('API code importing workflow code as values fails lint; as types it passes', () => {
  expect(problems['api: workflow code as values']!.some((p) => p.startsWith('no-restricted-imports'))).toBe(true);
  expect(problems['api: workflow code as types']).toEqual([]);
});
