import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import pg from 'pg';
import { waitFor } from '../../stack/wait';

const ROOT = path.join(__dirname, '..', '..');

/** A worker or relay running as its own process, which a fault test may SIGKILL. */
export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  /** Resolves with the signal (or exit code) the process ended with. */
  exited: Promise<string>;
  /** SIGKILL, and wait for it to be gone. */
  kill(): Promise<string>;
  /** SIGTERM (drain), and wait for it to be gone. */
  stop(): Promise<string>;
}

/** The database URL a process connects with, tagged with its name (Postgres's `application_name`). */
export function taggedDatabaseUrl(databaseUrl: string, name: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set('application_name', name);
  return url.toString();
}

/**
 * Starts `relay/main.ts` (the relay's production entry) as its own process, its Postgres connections named
 * `name`, and waits until it is started.
 */
export function startRelayProcess(name: string, env: NodeJS.ProcessEnv): Promise<ServiceProcess> {
  return startProcess(name, path.join(ROOT, 'relay', 'main.ts'), { ...env, DATABASE_URL: taggedDatabaseUrl(env.DATABASE_URL!, name), LOG_LEVEL: 'info', LOG_FORMAT: 'json' }, /"msg":"relay started"/);
}

/** Starts a real worker as its own process (the crash test's worker, crashing nowhere), and waits until it polls. */
export function startWorkerProcess(name: string, env: NodeJS.ProcessEnv, bundlePath: string): Promise<ServiceProcess> {
  return startProcess(name, path.join(ROOT, 'test', 'support', 'crashing-worker.ts'), { ...env, EO_TEST_WORKFLOW_BUNDLE: bundlePath, EO_TEST_CRASH_AT: '' }, /^worker ready$/);
}

async function startProcess(name: string, entry: string, env: NodeJS.ProcessEnv, ready: RegExp): Promise<ServiceProcess> {
  // node itself (tsx as a loader, not its wrapper process), so a SIGKILL reaches the process that does the work.
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? `exit ${code}`)));
  let isReady = false;
  const lines = readline.createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    if (ready.test(line)) isReady = true;
    else if (/"level":(40|50|60)/.test(line)) process.stderr.write(`[${name}] ${line}\n`);
  });
  let ended: string | undefined;
  void exited.then((how) => (ended = how));
  await waitFor(`${name} to start`, async () => isReady, { deadlineMs: 90_000, intervalMs: 100, giveUp: () => (ended ? `${name} ended (${ended})` : undefined) });
  const end = async (signal: NodeJS.Signals) => {
    if (ended === undefined) child.kill(signal);
    return exited;
  };
  return { name, child, exited, kill: () => end('SIGKILL'), stop: () => end('SIGTERM') };
}

/**
 * Waits until the relay named `name` holds claimed outbox rows between its claim and its commit — its
 * transaction open, its last statement the claim (`FOR UPDATE … SKIP LOCKED`), so it is publishing them (or
 * about to) — then SIGKILLs it at once.
 * Probes by freezing it (SIGSTOP) for a look and letting it go on (SIGCONT) until the look finds that moment,
 * so the kill cannot land in a quieter instant than the one seen. Returns how many rows it held.
 */
export async function killRelayMidBatch(relay: ServiceProcess, databaseUrl: string, deadlineMs = 60_000): Promise<{ heldRows: number; probes: number }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  let probes = 0;
  try {
    const heldRows = await waitFor(`${relay.name} to be caught mid-batch`, async () => {
      probes++;
      relay.child.kill('SIGSTOP');
      try {
        const { rows } = await client.query<{ held: number }>(
          `SELECT (SELECT count(*)::int FROM outbox_events o WHERE o.state = 'pending' AND o.xmax::text = a.backend_xid::text) AS held
             FROM pg_stat_activity a
            WHERE a.application_name = $1 AND a.state = 'idle in transaction' AND a.backend_xid IS NOT NULL AND a.query LIKE '%SKIP LOCKED%'`,
          [relay.name],
        );
        const held = rows[0]?.held ?? 0;
        if (held > 0) {
          relay.child.kill('SIGKILL');
          return held;
        }
        return undefined;
      } finally {
        relay.child.kill('SIGCONT');
      }
    }, { deadlineMs, intervalMs: 3 + Math.floor(Math.random() * 5) });
    await relay.exited;
    return { heldRows, probes };
  } finally {
    await client.end();
  }
}
