import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { temporalInBack } from './back-cpu-group';
import { withLock } from './lock';
import { up, type Log, type PartDefinition, type ReadyContext } from './part';
import { cacheDir, HOST, logFile, partDataDir, stackEndpoints, stackPorts, uiCodecEndpoint } from './paths';
import { isPortOpen } from './port';
import { postgres } from './postgres';
import { runChecked } from './process';
import type { Progress } from './progress';
import { ensureTemporalBinary, findGo } from './temporal-binary';
import { missingSearchAttributes, registerSearchAttributes, serving, temporalCli, TEMPORAL_NAMESPACE } from './temporal';
import { waitFor } from './wait';

// The production Temporal server (`go.temporal.io/server`, EO_TEMPORAL_SERVER=production): frontend, history,
// matching and worker services in one process, persistence and visibility in their own databases on the
// local Postgres, and the Web UI server (`github.com/temporalio/ui-server/v2`, which embeds the UI) beside it in
// the same process group. Both are built once from the Go module proxy into the cache dir.

const SERVER_MODULE = 'go.temporal.io/server';
const SERVER_VERSION = 'v1.32.2';
const UI_MODULE = 'github.com/temporalio/ui-server/v2';
const UI_VERSION = 'v2.42.1'; // the UI the dev server embeds; later versions need modules the proxy does not serve here
/** Both modules declare `go 1.26.10`; the go command fetches this toolchain from the module proxy if older. */
const GO_TOOLCHAIN = 'go1.27.3';
const BUILD_DEADLINE_MS = 45 * 60_000;

export const PERSISTENCE_DATABASE = 'temporal';
export const VISIBILITY_DATABASE = 'temporal_visibility';
/** Fixed forever once the persistence database is set up; 4 is plenty for one node on a small machine. */
const HISTORY_SHARDS = 4;
const MAX_MEMBERSHIP_PORT = 32_767;

interface Built {
  server: string;
  sqlTool: string;
  uiServer: string;
  /** `schema/postgresql/v12` of the server module: `temporal/versioned` and `visibility/versioned`. */
  schemaDir: string;
}

function serverDir(): string {
  return path.join(cacheDir(), `temporal-server-${SERVER_VERSION}`);
}

function uiDir(): string {
  return path.join(cacheDir(), `temporal-ui-server-${UI_VERSION}`);
}

export function builtBinaries(): Built {
  return {
    server: path.join(serverDir(), 'temporal-server'),
    sqlTool: path.join(serverDir(), 'temporal-sql-tool'),
    uiServer: path.join(uiDir(), 'temporal-ui-server'),
    schemaDir: path.join(serverDir(), 'schema', 'postgresql', 'v12'),
  };
}

/** True when every binary and the schema are in the cache (nothing to build). */
export function isBuilt(): boolean {
  const b = builtBinaries();
  return [b.server, b.sqlTool, b.uiServer, path.join(b.schemaDir, 'temporal', 'versioned')].every((f) => fs.existsSync(f));
}

function stateDir(): string {
  return path.join(partDataDir('temporal'), 'production');
}

function configFile(): string {
  return path.join(stateDir(), 'config.yaml');
}

function goEnv(go: string, name: string): Promise<string> {
  return runChecked(go, ['env', name], { timeoutMs: 60_000, env: { ...process.env, GOTOOLCHAIN: GO_TOOLCHAIN } }).then((s) => s.trim());
}

/** `go install module/pkg@version` at the lowest priority into a private dir; returns that dir. */
async function goInstall(go: string, packages: string[], version: string, into: string): Promise<void> {
  fs.rmSync(into, { recursive: true, force: true });
  fs.mkdirSync(into, { recursive: true });
  for (const pkg of packages) {
    await runChecked('nice', ['-n', '19', go, 'install', `${pkg}@${version}`], {
      timeoutMs: BUILD_DEADLINE_MS,
      env: { ...process.env, GOBIN: into, GOTOOLCHAIN: GO_TOOLCHAIN },
      logFile: logFile('temporal'),
    });
  }
}

async function buildServer(go: string, progress: Progress): Promise<void> {
  const b = builtBinaries();
  if ([b.server, b.sqlTool, path.join(b.schemaDir, 'temporal', 'versioned')].every((f) => fs.existsSync(f))) return;
  const dir = serverDir();
  const tmp = `${dir}.build-${process.pid}`;
  const step = {
    what: `building the Temporal server and its SQL schema tool (go install ${SERVER_MODULE}/cmd/server@${SERVER_VERSION}, GOTOOLCHAIN=${GO_TOOLCHAIN})`,
    label: 'Temporal server build',
    typically: '10–20 min on 2 shared cores',
    cachedIn: dir,
    logFile: logFile('temporal'),
  };
  try {
    await progress.step(step, async () => {
      await goInstall(go, [`${SERVER_MODULE}/cmd/server`, `${SERVER_MODULE}/cmd/tools/sql`], SERVER_VERSION, tmp);
      // The versioned SQL schemas ship in the module's source, not in the binaries.
      const source = path.join(await goEnv(go, 'GOMODCACHE'), `${SERVER_MODULE}@${SERVER_VERSION}`, 'schema', 'postgresql', 'v12');
      fs.cpSync(source, path.join(tmp, 'schema', 'postgresql', 'v12'), { recursive: true });
      fs.renameSync(path.join(tmp, 'server'), path.join(tmp, 'temporal-server'));
      fs.renameSync(path.join(tmp, 'sql'), path.join(tmp, 'temporal-sql-tool'));
      for (const entry of fs.readdirSync(tmp, { recursive: true, encoding: 'utf8' })) {
        const file = path.join(tmp, entry);
        fs.chmodSync(file, fs.statSync(file).isDirectory() ? 0o755 : entry.startsWith('temporal-') ? 0o755 : 0o644);
      }
      fs.rmSync(dir, { recursive: true, force: true });
      fs.renameSync(tmp, dir);
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function buildUi(go: string, progress: Progress): Promise<void> {
  const { uiServer } = builtBinaries();
  if (fs.existsSync(uiServer)) return;
  const tmp = `${uiDir()}.build-${process.pid}`;
  const step = {
    what: `building the Temporal Web UI server (go install ${UI_MODULE}/cmd/server@${UI_VERSION})`,
    label: 'Temporal UI server build',
    typically: '2–5 min on 2 shared cores',
    cachedIn: uiDir(),
    logFile: logFile('temporal'),
  };
  try {
    await progress.step(step, async () => {
      await goInstall(go, [`${UI_MODULE}/cmd/server`], UI_VERSION, tmp);
      fs.mkdirSync(uiDir(), { recursive: true });
      fs.renameSync(path.join(tmp, 'server'), uiServer);
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Builds the server, the SQL tool and the UI server once (shared by every checkout through the cache dir). */
export async function ensureTemporalServerBuilt(log: Log, progress: Progress): Promise<Built> {
  if (isBuilt()) return builtBinaries();
  fs.mkdirSync(cacheDir(), { recursive: true });
  return withLock(path.join(cacheDir(), `.temporal-server-${SERVER_VERSION}-build.lock`), BUILD_DEADLINE_MS, async () => {
    if (isBuilt()) return builtBinaries();
    log('the production Temporal server is not built yet');
    const go = findGo();
    await buildServer(go, progress);
    await buildUi(go, progress);
    return builtBinaries();
  });
}

async function withClient<T>(database: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const url = Object.assign(new URL(stackEndpoints().databaseUrl), { pathname: `/${database}` }).toString();
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

function sqlTool(built: Built, database: string, args: string[]): Promise<string> {
  const { postgres: port } = stackPorts();
  return runChecked(built.sqlTool, ['--db', database, ...args], {
    timeoutMs: 120_000,
    env: { ...process.env, SQL_PLUGIN: 'postgres12', SQL_HOST: HOST, SQL_PORT: String(port), SQL_USER: 'postgres', SQL_PASSWORD: '' },
    logFile: logFile('temporal'),
  });
}

/** Creates the database and its schema on first use; applies newer schema versions every time (idempotent). */
async function ensureSchema(built: Built, database: string, versioned: string, log: Log): Promise<void> {
  const exists = await withClient('postgres', async (c) => (await c.query('select 1 from pg_database where datname = $1', [database])).rowCount === 1);
  if (!exists) {
    log(`creating database ${database}`);
    await sqlTool(built, database, ['create-database']);
  }
  const versionTable = await withClient(database, async (c) => (await c.query("select to_regclass('public.schema_version') is not null as present")).rows[0].present as boolean);
  if (!versionTable) await sqlTool(built, database, ['setup-schema', '-v', '0.0']);
  await sqlTool(built, database, ['update-schema', '-d', path.join(built.schemaDir, versioned)]);
}

function serverConfig(): string {
  const ports = stackPorts();
  const { postgres: pgPort } = ports;
  const store = (database: string, maxConns: number) => `
      sql:
        pluginName: postgres12
        databaseName: ${database}
        connectAddr: "${HOST}:${pgPort}"
        connectProtocol: tcp
        user: postgres
        password: ""
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: 1h`;
  const service = (grpc: number, membership: number) => `
    rpc:
      grpcPort: ${grpc}
      membershipPort: ${membership}
      bindOnLocalHost: true`;
  const m = ports.temporalMembership;
  return `# Written by stack/temporal-server.ts on every start; edit that file, not this one.
log:
  stdout: true
  level: warn
persistence:
  defaultStore: pg-default
  visibilityStore: pg-visibility
  numHistoryShards: ${HISTORY_SHARDS}
  datastores:
    pg-default:${store(PERSISTENCE_DATABASE, 10)}
    pg-visibility:${store(VISIBILITY_DATABASE, 4)}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "${HOST}"
services:
  frontend:${service(ports.temporal, m)}
  history:${service(ports.temporalHistory, m + 1)}
  matching:${service(ports.temporalMatching, m + 2)}
  worker:${service(ports.temporalWorker, m + 3)}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "${HOST}:${ports.temporal}"
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: "${path.join(stateDir(), 'dynamicconfig.yaml')}"
  pollInterval: 10s
`;
}

// As the dev server sets it (more visibility RPS: the UI and the reconciler list workflows), plus search
// attributes usable as soon as they are registered.
const DYNAMIC_CONFIG = `frontend.namespaceRPS.visibility:
  - value: 100
system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
`;

function uiConfig(): string {
  const { temporal: port, temporalUi: uiPort } = stackPorts();
  return `# Written by stack/temporal-server.ts on every start.
temporalGrpcAddress: "${HOST}:${port}"
host: "${HOST}"
port: ${uiPort}
enableUi: true
defaultNamespace: ${TEMPORAL_NAMESPACE}
notifyOnNewVersion: false
codec:
  endpoint: "${uiCodecEndpoint()}"
`;
}

/** `operator cluster system`: the frontend's server version (the dev server embeds another). */
async function serverVersion(): Promise<string | undefined> {
  const out = await temporalCli(['operator', 'cluster', 'system']);
  return (JSON.parse(out) as { serverVersion?: string }).serverVersion;
}

async function namespaceExists(): Promise<boolean> {
  try {
    await temporalCli(['operator', 'namespace', 'describe', '--namespace', TEMPORAL_NAMESPACE]);
    return true;
  } catch (err) {
    if (/not found/i.test(String(err))) return false;
    throw err;
  }
}

async function ensureNamespace(log: Log): Promise<void> {
  if (await namespaceExists()) return;
  log(`registering namespace ${TEMPORAL_NAMESPACE}`);
  try {
    await temporalCli(['operator', 'namespace', 'create', '--namespace', TEMPORAL_NAMESPACE, '--retention', '72h']);
  } catch (err) {
    if (!/already (exists|registered)/i.test(String(err))) throw err;
  }
}

export const temporalServer: PartDefinition = {
  part: 'temporal',
  endpoint: () => stackEndpoints().temporalAddress,
  get marker() {
    return configFile();
  },
  // The first start also creates two databases and applies every schema version.
  startDeadlineMs: 120_000,
  stopDeadlineMs: 30_000,
  stopSignal: 'SIGTERM',
  // With deferred starts no submission waits on it (stack/back-cpu-group.ts).
  get inBack() {
    return temporalInBack();
  },

  async prepare(log, progress) {
    const membership = stackPorts().temporalMembership;
    // The server records each host's membership port in cluster_membership.rpc_port, a SMALLINT.
    if (membership + 3 > MAX_MEMBERSHIP_PORT) {
      throw new Error(`EO_TEMPORAL_MEMBERSHIP_PORT must be at most ${MAX_MEMBERSHIP_PORT - 3} (it and the next three are stored as a Postgres smallint), got ${membership}`);
    }
    fs.mkdirSync(path.join(stateDir(), 'ui'), { recursive: true });
    await ensureTemporalBinary(log, progress); // the CLI: health, namespace and search attributes
    const built = await ensureTemporalServerBuilt(log, progress);
    await up(postgres, { log: (line) => log(`postgres: ${line}`), progress });
    await ensureSchema(built, PERSISTENCE_DATABASE, 'temporal/versioned', log);
    await ensureSchema(built, VISIBILITY_DATABASE, 'visibility/versioned', log);
    fs.writeFileSync(path.join(stateDir(), 'dynamicconfig.yaml'), DYNAMIC_CONFIG);
    fs.writeFileSync(path.join(stateDir(), 'ui', 'base.yaml'), uiConfig());
    fs.writeFileSync(configFile(), serverConfig());
  },

  serverCommand() {
    const built = builtBinaries();
    // One process group: `stack down` stops both with one signal; the server is the group's leader.
    const script = '"$1" --root "$2" --config . --env local start & exec "$3" --config-file "$4" --allow-no-auth start';
    return {
      command: '/bin/sh',
      args: ['-c', script, 'temporal-production', built.uiServer, path.join(stateDir(), 'ui'), built.server, configFile()],
      cwd: stateDir(),
    };
  },

  async waitUntilReady(ctx: ReadyContext) {
    const { temporal: port, temporalUi: uiPort } = stackPorts();
    const opts = { giveUp: ctx.giveUp, intervalMs: 200 };
    await waitFor(`temporal to listen on ${HOST}:${port}`, () => isPortOpen(HOST, port), { ...opts, deadlineMs: ctx.remainingMs() });
    await waitFor(`temporal cluster health to be SERVING on ${HOST}:${port}`, serving, { ...opts, deadlineMs: ctx.remainingMs() });
    await waitFor(`namespace ${TEMPORAL_NAMESPACE}`, async () => (await ensureNamespace(ctx.log), namespaceExists()), {
      ...opts,
      deadlineMs: ctx.remainingMs(),
    });
    // A namespace just created reaches the search-attribute service only once the server's namespace cache has
    // refreshed ("Namespace default is not found" meanwhile, on a fresh database): register inside the wait, so
    // that it is asked again rather than fatal.
    const registered = async (): Promise<boolean> => {
      if ((await missingSearchAttributes()).length > 0) await registerSearchAttributes(ctx);
      return (await missingSearchAttributes()).length === 0;
    };
    await waitFor('search attributes', registered, { ...opts, deadlineMs: ctx.remainingMs() });
    await waitFor(`the temporal Web UI server on ${HOST}:${uiPort}`, () => isPortOpen(HOST, uiPort), { ...opts, deadlineMs: ctx.remainingMs() });
  },

  async checkHealth() {
    try {
      if (!(await serving())) return 'cluster health is not SERVING';
      const version = await serverVersion();
      // Another server on the port (e.g. the dev server left running) is not this one.
      if (version !== SERVER_VERSION.slice(1)) return `the server on the port is Temporal ${version}, not the production server ${SERVER_VERSION}`;
      const missing = await missingSearchAttributes();
      if (missing.length > 0) return `search attributes not registered: ${missing.join(', ')}`;
      const { temporalUi: uiPort } = stackPorts();
      return (await isPortOpen(HOST, uiPort)) ? undefined : `the Web UI server is not listening on ${HOST}:${uiPort}`;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  },

  async portInUse() {
    const p = stackPorts();
    const ports = [p.temporal, p.temporalUi, p.temporalHistory, p.temporalMatching, p.temporalWorker, p.temporalMembership];
    for (const port of ports) if (await isPortOpen(HOST, port)) return true;
    return false;
  },
};
