import fs from 'node:fs';
import path from 'node:path';
import { withLock } from './lock';
import type { Log } from './part';
import type { Progress } from './progress';
import { cacheDir, logFile } from './paths';
import { commandLine, runChecked } from './process';
import { waitFor } from './wait';

// The Temporal CLI (which embeds the dev server and the Web UI), built from source with Go
// into the cache dir once. v1.5.1: later tags carry replace directives, which `go install` rejects.

const MODULE = 'github.com/temporalio/cli/cmd/temporal';
const VERSION = 'v1.5.1';
const BUILD_DEADLINE_MS = 30 * 60_000;

export function temporalBinary(): string {
  return path.join(cacheDir(), 'bin', 'temporal');
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** `go install` runs of the Temporal CLI, ours or anyone's (e.g. started by hand). */
function runningBuilds(): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = commandLine(Number(entry)) ?? '';
    if (cmd.includes('go install') && cmd.includes('temporalio/cli')) pids.push(Number(entry));
  }
  return pids;
}

export function findGo(): string {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/go/bin', '/usr/lib/go/bin'];
  for (const dir of dirs) {
    if (dir && isExecutable(path.join(dir, 'go'))) return path.join(dir, 'go');
  }
  throw new Error(`the Temporal CLI is missing (${temporalBinary()}) and Go is not installed to build it`);
}

export async function ensureTemporalBinary(log: Log, progress: Progress): Promise<string> {
  const binary = temporalBinary();
  const others = runningBuilds();
  if (others.length > 0) {
    // go install writes the binary only at the end; wait for it instead of racing it.
    log(`waiting for a running 'go install' of the Temporal CLI (pid ${others.join(', ')})`);
    await waitFor("the running 'go install' of the Temporal CLI", async () => runningBuilds().length === 0, {
      deadlineMs: BUILD_DEADLINE_MS,
      intervalMs: 1000,
    });
  }
  if (isExecutable(binary)) return binary;

  const binDir = path.dirname(binary);
  fs.mkdirSync(binDir, { recursive: true });
  return withLock(path.join(binDir, '.temporal-build.lock'), BUILD_DEADLINE_MS, async () => {
    if (isExecutable(binary)) return binary;
    const go = findGo();
    // Build into a private dir and rename, so a half-written binary is never taken as cached.
    const tmpBin = path.join(binDir, `.build-${process.pid}`);
    fs.rmSync(tmpBin, { recursive: true, force: true });
    const step = {
      what: `building the Temporal CLI (go install ${MODULE}@${VERSION})`,
      label: 'Temporal CLI build',
      typically: '3–6 min on 2 cores',
      cachedIn: binDir,
      logFile: logFile('temporal'),
    };
    try {
      await progress.step(step, () =>
        runChecked(go, ['install', `${MODULE}@${VERSION}`], {
          timeoutMs: BUILD_DEADLINE_MS,
          env: { ...process.env, GOBIN: tmpBin },
          logFile: logFile('temporal'),
        }),
      );
      fs.renameSync(path.join(tmpBin, 'temporal'), binary);
    } finally {
      fs.rmSync(tmpBin, { recursive: true, force: true });
    }
    return binary;
  });
}
