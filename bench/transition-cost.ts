// What one execution's database writes cost this process: each execution created (the API's transaction), then
// moved queued → running → completed (the saga's two guarded transitions), through the store's own functions on
// a fresh database of the local stack's Postgres. Reports CPU of this process (user + system) and of Postgres, and
// wall time per operation; CPU is what competes with everything else on a busy worker or API.
//
//   npm run bench:transitions -- --executions=2000 --concurrency=8
import { randomUUID } from 'node:crypto';
import { DEFAULT_LIMITS } from '../domain/runtimes';
import { upPart } from '../stack';
import { createDb } from '../store/db';
import { applyTransition, createExecution } from '../store/transitions';
import { cpuPerUnit, cpuSnapshot } from './cpu-account';
import { freshBenchDatabase } from './database';
import { numberFlag } from './flags';
import { runLanes, summarize } from './stats';

const DATABASE = 'eo_bench_transitions';
const PRODUCER = { service: 'bench', version: '0' };

type Operation = 'create' | 'mark running' | 'store result';

async function main(): Promise<void> {
  const executions = numberFlag('executions', 2_000);
  const concurrency = numberFlag('concurrency', 8);
  const warmup = numberFlag('warmup', 200);
  await upPart('postgres');
  const db = createDb(await freshBenchDatabase(DATABASE), { maxConnections: concurrency });

  const wall: Record<Operation, number[]> = { create: [], 'mark running': [], 'store result': [] };
  /** Wall time of one operation; CPU is measured for the whole run (the process's, shared by every lane). */
  const timed = async (op: Operation, measure: boolean, run: () => Promise<unknown>) => {
    const began = performance.now();
    await run();
    if (measure) wall[op].push(performance.now() - began);
  };
  const lifecycle = async (measure: boolean) => {
    const id = randomUUID();
    await timed('create', measure, () =>
      createExecution(db, { id, ownerId: 'bench', correlationId: id, language: 'bash', version: '5', script: 'true', stdin: null, limits: DEFAULT_LIMITS }, 'api', PRODUCER),
    );
    await timed('mark running', measure, () => applyTransition(db, { executionId: id, from: ['queued'], to: 'running', actor: 'saga', fields: { startedAt: new Date() }, producer: PRODUCER }));
    await timed('store result', measure, () =>
      applyTransition(db, {
        executionId: id,
        from: ['running'],
        to: 'completed',
        actor: 'saga',
        fields: { exitCode: 0, signal: null, stdout: 'ok\n', stdoutTruncated: false, stderr: '', stderrTruncated: false, wallTimeMs: 12, cpuTimeMs: 3, peakMemoryKb: 2048, oomKilled: false, sandboxed: true, errorType: null, errorMessage: null, startedAt: new Date(), finishedAt: new Date() },
        producer: PRODUCER,
      }),
    );
  };
  await runLanes(warmup, concurrency, () => lifecycle(false));
  const cpuBefore = process.cpuUsage();
  const machineBefore = cpuSnapshot();
  const seconds = (await runLanes(executions, concurrency, () => lifecycle(true))) / 1000;
  const used = process.cpuUsage(cpuBefore);
  // Postgres's side of the same statements: its backends (parsing, planning, executing) and what they wake.
  const postgresMs = cpuPerUnit(machineBefore, cpuSnapshot(), executions, {}).postgres ?? 0;
  const cpuMsPerExecution = (used.user + used.system) / 1000 / executions;
  await db.$disconnect();

  const rows = (Object.keys(wall) as Operation[]).map((op) => {
    const { p50, p99 } = summarize(wall[op]);
    return `| ${op} | ${p50} | ${p99} |`;
  });
  process.stdout.write(
    [
      `${executions} executions (create + 2 transitions each), concurrency ${concurrency}, ${(executions / seconds).toFixed(0)} executions/s`,
      `this process's CPU per execution: ${cpuMsPerExecution.toFixed(2)} ms (user ${(used.user / 1000 / executions).toFixed(2)}, system ${(used.system / 1000 / executions).toFixed(2)})`,
      `Postgres's CPU per execution: ${postgresMs.toFixed(1)} ms`,
      '',
      '| operation | wall p50 ms | wall p99 ms |',
      '| --- | --- | --- |',
      ...rows,
      '',
    ].join('\n'),
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
