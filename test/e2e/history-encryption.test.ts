import { randomUUID } from 'node:crypto';
import { runCommand } from '../../stack/process';
import { temporalBinary } from '../../stack/temporal-binary';
import { apiClient } from '../support/api-client';
import { serviceForThisFile } from '../support/harness';

const ctx = serviceForThisFile({ CODEC_ENDPOINT_ACCESS: 'loopback' });

const id = () => randomUUID().replaceAll('-', '');
// Each appears in one place only: the script, stdin, stdout, stderr (the printed ones are assembled at run time).
const tokens = { script: `script-${id()}`, stdin: `stdin-${id()}`, stdout: `output-${id()}`, stderr: `errout-${id()}` };
const split = (token: string) => { const [head, tail] = token.split('-'); return `"${head}" + "-" + "${tail}"`; };
const script = [`# ${tokens.script}`, 'import sys', 'sys.stdin.read()', `print(${split(tokens.stdout)})`, `print(${split(tokens.stderr)}, file=sys.stderr)`].join('\n');

/** `temporal workflow show` of the execution, as JSON, with any extra flags. */
async function showHistory(workflowId: string, extra: string[] = []): Promise<string> {
  const args = ['workflow', 'show', '-w', workflowId, '--output', 'json', '--address', ctx.service.config.temporal.address, '--namespace', ctx.service.config.temporal.namespace, ...extra];
  const run = await runCommand(temporalBinary(), args, { timeoutMs: 30_000 });
  if (run.code !== 0) throw new Error(`temporal ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
  return run.stdout;
}

/** Every text the history shows: its strings, and those strings read as base64 (how the CLI prints payload data it cannot decode). */
function readableText(json: string): string {
  const out: string[] = [];
  const visit = (node: unknown): void => {
    if (typeof node === 'string') {
      out.push(node);
      if (node.length >= 8 && /^[A-Za-z0-9+/]+={0,2}$/.test(node)) out.push(Buffer.from(node, 'base64').toString('utf8'));
    } else if (node && typeof node === 'object') for (const v of Object.values(node)) visit(v);
  };
  visit(JSON.parse(json));
  return out.join('\n');
}

let executionId: string;

beforeAll(async () => {
  const api = apiClient(ctx.service.api.url, ctx.service.adminKey);
  const created = await api.submit({ language: 'python', script, stdin: tokens.stdin, limits: { wallTimeMs: 10_000 } });
  expect(created.status).toBe(201);
  executionId = created.json.id;
  const done = await api.waitForStatus(executionId, (s) => ['completed', 'failed', 'timed_out', 'cancelled', 'error'].includes(s));
  expect(done.status).toBe('completed');
  expect(done.result.stdout).toBe(`${tokens.stdout}\n`);
  expect(done.result.stderr).toBe(`${tokens.stderr}\n`);
}, 60_000);

test('the history of a completed execution, read with the Temporal CLI without the codec, holds no script, stdin, stdout or stderr', async () => {
  const text = readableText(await showHistory(executionId));
  expect(text).toContain('executionSaga'); // it is the history, just unreadable where it matters
  expect(text).toContain('binary/encrypted');
  for (const [what, token] of Object.entries(tokens)) expect([what, text.includes(token)]).toEqual([what, false]);
});

test('the same history read with --codec-endpoint pointing at the API shows script, stdin, stdout and stderr', async () => {
  const text = readableText(await showHistory(executionId, ['--codec-endpoint', `${ctx.service.api.url}/codec`]));
  for (const [what, token] of Object.entries(tokens)) expect([what, text.includes(token)]).toEqual([what, true]);
  expect(text).not.toContain('binary/encrypted');
});
