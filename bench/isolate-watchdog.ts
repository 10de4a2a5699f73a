// What holding a call into a vm context to a deadline costs: node's vm `timeout` (a watchdog thread started and
// joined per call, what the Temporal SDK passes on each call into a workflow) against the shared watchdog's
// guardedCall (workflow-threads/isolate-watchdog.cc) and no deadline at all, on the main thread and on a worker
// thread (where the SDK runs workflows). Usage: npm run bench:watchdog -- [calls=20000]
import vm from 'node:vm';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { buildIsolateWatchdog, loadIsolateWatchdog } from '../workflow-threads/isolate-watchdog';

const DEADLINE_MS = 5_000;

interface Row { thread: string; way: string; wallUs: number; cpuUs: number }

/** Each thread loads the addon the main thread built (the same file: one per Node ABI). */
function measure(calls: number, thread: string): Row[] {
  const load = loadIsolateWatchdog();
  if ('unavailable' in load) throw new Error(`isolate watchdog: ${load.unavailable}`);
  const context = vm.createContext({ n: 0 }, { microtaskMode: 'afterEvaluate' });
  const script = new vm.Script('n++');
  const ways: Record<string, () => unknown> = {
    'node vm timeout (a thread per call)': () => script.runInContext(context, { timeout: DEADLINE_MS }),
    'shared watchdog (guardedCall)': () => load.addon.guardedCall(() => script.runInContext(context), DEADLINE_MS),
    'no deadline': () => script.runInContext(context),
  };
  return Object.entries(ways).map(([way, call]) => {
    for (let i = 0; i < 1_000; i++) call();
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) call();
    const used = process.cpuUsage(cpu);
    return { thread, way, wallUs: Number(process.hrtime.bigint() - started) / 1e3 / calls, cpuUs: (used.user + used.system) / calls };
  });
}

async function main(): Promise<void> {
  const calls = Number(process.argv[2] ?? 20_000);
  if (!Number.isInteger(calls) || calls < 1) throw new Error(`calls must be a positive integer, got ${process.argv[2]}`);
  const build = buildIsolateWatchdog();
  if ('skipped' in build) throw new Error(`isolate watchdog not built: ${build.skipped}`);
  const rows = measure(calls, 'main');
  const worker = new Worker(__filename, { workerData: { calls }, execArgv: process.execArgv });
  rows.push(...(await new Promise<Row[]>((resolve, reject) => worker.once('message', resolve).once('error', reject))));
  process.stdout.write(`${calls} calls of a one-line script each, node ${process.version}\n\n| thread | deadline | wall µs/call | CPU µs/call |\n| --- | --- | --- | --- |\n`);
  for (const row of rows) process.stdout.write(`| ${row.thread} | ${row.way} | ${row.wallUs.toFixed(2)} | ${row.cpuUs.toFixed(2)} |\n`);
}

if (isMainThread) {
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exitCode = 1;
  });
} else {
  const { calls } = workerData as { calls: number };
  parentPort!.postMessage(measure(calls, 'worker'));
}
