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

/** Claims this checkout's one `npm start` and checks the API port is free; throws StartRefused otherwise. */
export async function claimStart(opts: { pidFile: string; host: string; port: number }): Promise<StartClaim> {
  fs.mkdirSync(path.dirname(opts.pidFile), { recursive: true });
  if (!tryWrite(opts.pidFile)) {
    const other = readPidFile(opts.pidFile);
    if (other !== undefined && isAlive(other) && (commandLine(other) ?? '').includes(MARKER)) {
      throw new StartRefused(
        `another npm start of this checkout is running (pid ${other}): use it, or stop it first (Ctrl-C in its terminal, or kill -INT ${other})`,
      );
    }
    // Left by a start that died without cleaning up.
    removeFile(opts.pidFile);
    if (!tryWrite(opts.pidFile)) throw new StartRefused(`another npm start is starting right now (${opts.pidFile} appeared); try again`);
  }
  const release = (): void => {
    if (readPidFile(opts.pidFile) === process.pid) removeFile(opts.pidFile);
  };
  if (opts.port !== 0 && (await isPortOpen(opts.host, opts.port))) {
    release();
    throw new StartRefused(
      `port ${opts.port} on ${opts.host} (the API, PORT) is taken by another program (\`ss -ltnp 'sport = :${opts.port}'\` shows which): stop it, or start with PORT=<a free port>`,
    );
  }
  return { release };
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
