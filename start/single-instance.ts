import fs from 'node:fs';
import path from 'node:path';
import { isPortOpen } from '../stack/port';
import { commandLine, isAlive, readPidFile, removeFile } from '../stack/process';

// A second `npm start`, or an API port held by another program, would otherwise be found out only
// after the stack is up (or after minutes of building): refuse at once, saying what to do.

export class StartRefused extends Error {
  override name = 'StartRefused';
}

export interface StartClaim {
  release(): void;
}

const MARKER = 'main.js';

export interface StartPlace {
  /** `.stack/run/npm-start.lock`: the pid of the running start. */
  pidFile: string;
  host: string;
  port: number;
}

/** Throws StartRefused if another start of this checkout runs, or the API port is taken; claims nothing. */
export async function refuseIfTaken(place: StartPlace): Promise<void> {
  const other = runningStart(place.pidFile);
  if (other !== undefined && other !== process.pid) {
    throw new StartRefused(
      `another npm start of this checkout is running (pid ${other}): use it, or stop it first (Ctrl-C in its terminal, or kill -INT ${other})`,
    );
  }
  if (place.port !== 0 && (await isPortOpen(place.host, place.port))) {
    throw new StartRefused(
      `port ${place.port} on ${place.host} (the API, PORT) is taken by another program (\`ss -ltnp 'sport = :${place.port}'\` shows which): stop it, or start with PORT=<a free port>`,
    );
  }
}

/** Claims this checkout's one `npm start` and checks the API port is free; throws StartRefused otherwise. */
export async function claimStart(place: StartPlace): Promise<StartClaim> {
  fs.mkdirSync(path.dirname(place.pidFile), { recursive: true });
  if (!tryWrite(place.pidFile)) {
    await refuseIfTaken({ ...place, port: 0 });
    // Left by a start that died without cleaning up.
    removeFile(place.pidFile);
    if (!tryWrite(place.pidFile)) throw new StartRefused(`another npm start is starting right now (${place.pidFile} appeared); try again`);
  }
  const release = (): void => {
    if (readPidFile(place.pidFile) === process.pid) removeFile(place.pidFile);
  };
  try {
    await refuseIfTaken(place);
  } catch (err) {
    release();
    throw err;
  }
  return { release };
}

/** The pid of a live start recorded in the pid file, if any. */
function runningStart(pidFile: string): number | undefined {
  const pid = readPidFile(pidFile);
  if (pid === undefined || !isAlive(pid) || !(commandLine(pid) ?? '').includes(MARKER)) return undefined;
  return pid;
}

function tryWrite(file: string): boolean {
  try {
    fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}
