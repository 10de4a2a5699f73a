// Two commands in one checkout: one waits for the Temporal part's lock while the other starts the other server.
// The waiting one must refuse once it holds the lock, not forget the other server's pid file and use it as
// "a server this stack did not start" (it did, once: a dev-server bench measured the production server).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { upPart } from '../../stack';
import { lockFile, pidFile } from '../../stack/paths';
import { temporalServer } from '../../stack/temporal-server';

const idle = (...args: string[]): ChildProcess => spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', ...args], { stdio: 'ignore' });
const exited = (child: ChildProcess) => new Promise((resolve) => child.once('exit', resolve));

describe('the local stack, two commands in one checkout', () => {
  const saved = { EO_STATE_DIR: process.env.EO_STATE_DIR, EO_TEMPORAL_SERVER: process.env.EO_TEMPORAL_SERVER };
  let stateDir: string;
  const children: ChildProcess[] = [];

  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'eo-stack-'));
    process.env.EO_STATE_DIR = stateDir;
    delete process.env.EO_TEMPORAL_SERVER; // the dev server
  });

  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited(child);
      }
    }
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('refuses the dev server once it holds the lock when the production server started meanwhile, and keeps its pid file', async () => {
    // Another command holds the part's lock (as while it builds the production server).
    const holder = idle();
    children.push(holder);
    mkdirSync(dirname(lockFile('temporal')), { recursive: true });
    writeFileSync(lockFile('temporal'), `${holder.pid}\n`);

    const attempt = upPart('temporal');
    const outcome = attempt.then(() => 'started', (err: Error) => err.message);
    await new Promise((resolve) => setTimeout(resolve, 500));

    // Meanwhile it starts the production server (its command line carries that server's marker) and lets go.
    const production = idle(temporalServer.marker);
    children.push(production);
    writeFileSync(pidFile('temporal'), `${production.pid}\n`);
    holder.kill('SIGKILL');
    await exited(holder);

    expect(await outcome).toMatch(/the local production Temporal server is running, not the one EO_TEMPORAL_SERVER asks for/);
    expect(existsSync(pidFile('temporal'))).toBe(true);
    expect(readFileSync(pidFile('temporal'), 'utf8').trim()).toBe(String(production.pid));
    expect(existsSync(lockFile('temporal'))).toBe(false);
  });
});
