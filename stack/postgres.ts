import fs from 'node:fs';
import path from 'node:path';
import { DATABASE_NAME, HOST, logFile, partDataDir, stackEndpoints, stackPorts } from './paths';
import type { Log, PartDefinition, ReadyContext } from './part';
import type { Progress } from './progress';
import { isPortOpen } from './port';
import { isAlive, pidExists, runCommand, runChecked } from './process';
import { waitFor } from './wait';

// The local stack's PostgreSQL cluster, from the Debian packages, kept in the state dir.

const POSTGRES_ROOT = '/usr/lib/postgresql';

/** The bin dir of the newest installed major version, e.g. /usr/lib/postgresql/15/bin. */
function binDir(): string {
  let versions: string[] = [];
  try {
    versions = fs.readdirSync(POSTGRES_ROOT).filter((v) => /^\d+$/.test(v));
  } catch {
    // Reported below.
  }
  const usable = versions
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => path.join(POSTGRES_ROOT, v, 'bin'))
    .filter((dir) => fs.existsSync(path.join(dir, 'postgres')) && fs.existsSync(path.join(dir, 'initdb')));
  const newest = usable[0];
  if (!newest) throw new Error(`no PostgreSQL server found in ${POSTGRES_ROOT}/*/bin (apt-get install postgresql)`);
  return newest;
}

function dataDir(): string {
  return path.join(partDataDir('postgres'), 'data');
}

/**
 * initdb and postgres refuse to run as root. As root they run in a user namespace of their own, where root
 * appears as an ordinary uid (the `postgres` system user's, or 1000): the files stay root's, in the checkout,
 * reached however private its parent directories are (a clone in /root or in a 0700 `mktemp -d`), with the
 * same file access as any non-root user's cluster has — its own user's. `unshare` execs, so the pid is the
 * server's own.
 */
function asNonRoot(command: string, args: string[]): { command: string; args: string[] } {
  if (process.getuid?.() !== 0) return { command, args };
  const inside = String(postgresSystemUid() ?? 1000);
  return { command: 'unshare', args: ['--user', `--map-user=${inside}`, `--map-group=${inside}`, '--', command, ...args] };
}

function postgresSystemUid(): number | undefined {
  const fields = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'))
    ?.split(':');
  const uid = Number(fields?.[2]);
  return Number.isInteger(uid) && uid > 0 ? uid : undefined;
}

/** Earlier versions ran a root start's cluster as the `postgres` user: such a cluster becomes root's again. */
function takeBackOwnership(dir: string, log: Log): void {
  const uid = process.getuid?.();
  if (uid !== 0 || !fs.existsSync(dir) || fs.statSync(dir).uid === uid) return;
  log(`taking back ${dir} from uid ${fs.statSync(dir).uid} (the cluster now runs in a user namespace as root's)`);
  fs.chownSync(dir, 0, 0);
  for (const entry of fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })) fs.lchownSync(path.join(dir, entry), 0, 0);
}

async function initCluster(progress: Progress): Promise<void> {
  const data = dataDir();
  if (fs.existsSync(path.join(data, 'PG_VERSION'))) return;
  // A data dir without PG_VERSION is a failed initdb: start over.
  fs.rmSync(data, { recursive: true, force: true });
  fs.mkdirSync(data, { recursive: true, mode: 0o700 });
  const initdb = asNonRoot(path.join(binDir(), 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-instructions']);
  const step = { what: 'creating the Postgres cluster (initdb)', label: 'initdb', typically: '2–5 s', cachedIn: data, logFile: logFile('postgres') };
  await progress.step(step, () =>
    runChecked(initdb.command, initdb.args, { timeoutMs: 120_000, cwd: data, logFile: logFile('postgres') }),
  );
}

/**
 * After a kill -9 the old postmaster can linger as a zombie until init reaps it, and
 * Postgres refuses to start while the pid in postmaster.pid exists. A zombie holds no
 * resources, so its lock file may go; Postgres still checks the shared memory segment
 * named in it is unused when the pid is really gone, so wait for that first.
 */
async function releaseDeadPostmasterLock(log: Log): Promise<void> {
  const lock = path.join(dataDir(), 'postmaster.pid');
  const pid = Number(fs.existsSync(lock) ? fs.readFileSync(lock, 'utf8').split('\n')[0] : NaN);
  if (!Number.isInteger(pid) || pid <= 1 || isAlive(pid)) return;
  try {
    await waitFor(`dead postmaster ${pid} to be reaped`, async () => !pidExists(pid), {
      deadlineMs: 10_000,
      intervalMs: 200,
    });
  } catch {
    log(`postmaster ${pid} is a zombie nobody reaps; removing its ${lock}`);
    fs.rmSync(lock, { force: true });
  }
}

function psqlArgs(database: string, sql: string): string[] {
  const port = String(stackPorts().postgres);
  return ['-X', '-q', '-h', HOST, '-p', port, '-U', 'postgres', '-d', database, '-v', 'ON_ERROR_STOP=1', '-tAc', sql];
}

const psqlEnv = (): NodeJS.ProcessEnv => ({ ...process.env, PGCONNECT_TIMEOUT: '3' });

async function psql(database: string, sql: string): Promise<string> {
  const out = await runChecked(path.join(binDir(), 'psql'), psqlArgs(database, sql), {
    timeoutMs: 15_000,
    env: psqlEnv(),
  });
  return out.trim();
}

async function ensureDatabase(log: Log): Promise<void> {
  const exists = await psql('postgres', `select 1 from pg_database where datname = '${DATABASE_NAME}'`);
  if (exists === '1') return;
  log(`creating database ${DATABASE_NAME}`);
  await psql('postgres', `create database ${DATABASE_NAME}`);
}

async function acceptsConnections(): Promise<boolean> {
  const port = String(stackPorts().postgres);
  const result = await runCommand(path.join(binDir(), 'pg_isready'), ['-q', '-h', HOST, '-p', port, '-U', 'postgres', '-d', 'postgres', '-t', '2'], {
    timeoutMs: 5000,
  });
  return result.code === 0;
}

export const postgres: PartDefinition = {
  part: 'postgres',
  endpoint: () => stackEndpoints().databaseUrl,
  get marker() {
    return dataDir();
  },
  startDeadlineMs: 60_000,
  stopDeadlineMs: 30_000,
  // SIGINT is Postgres' "fast" shutdown (SIGTERM would wait for every client to disconnect).
  stopSignal: 'SIGINT',
  stopLeaderOnly: true,

  async prepare(log, progress) {
    takeBackOwnership(partDataDir('postgres'), log);
    await initCluster(progress);
    await releaseDeadPostmasterLock(log);
  },

  serverCommand() {
    const data = dataDir();
    const settings = {
      listen_addresses: HOST,
      // No unix sockets: the default /var/run/postgresql may be missing, and TCP is the endpoint.
      unix_socket_directories: '',
      max_connections: '200',
      // The local stack's promise, the same as the Temporal dev server's SQLite in WAL mode: anything may be
      // killed at any moment and nothing committed is lost or corrupted; only an OS crash or power loss may
      // lose the last fraction of a second of commits (synchronous_commit off: WAL is flushed in the
      // background, not at each commit), never corrupt the cluster (fsync and full-page writes on).
      fsync: 'on',
      synchronous_commit: 'off',
      full_page_writes: 'on',
      logging_collector: 'off',
    };
    const args = ['-D', data, '-p', String(stackPorts().postgres)];
    for (const [key, value] of Object.entries(settings)) args.push('-c', `${key}=${value}`);
    return { ...asNonRoot(path.join(binDir(), 'postgres'), args), cwd: data };
  },

  async waitUntilReady(ctx: ReadyContext) {
    const port = stackPorts().postgres;
    await waitFor(`postgres to accept connections on ${HOST}:${port}`, acceptsConnections, {
      deadlineMs: ctx.remainingMs(),
      giveUp: ctx.giveUp,
    });
    await ensureDatabase(ctx.log);
  },

  async checkHealth() {
    try {
      const one = await psql(DATABASE_NAME, 'select 1');
      return one === '1' ? undefined : `unexpected answer to select 1: ${one}`;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  },

  portInUse: () => isPortOpen(HOST, stackPorts().postgres),
};
