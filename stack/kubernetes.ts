import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { withLock } from './lock';
import type { Log, PartDefinition, ReadyContext } from './part';
import { cacheDir, HOST, logFile, partDataDir, REPO_ROOT, stackPorts } from './paths';
import { isPortOpen } from './port';
import type { Progress } from './progress';
import { runChecked } from './process';
import { waitFor } from './wait';

// A local Kubernetes control plane for the Kubernetes runner's tests: etcd, kube-apiserver, kube-scheduler,
// kube-controller-manager and kwok (a simulated node: pods are scheduled and reach Running, but no container
// runs). All built from the Go module proxy through the wrapper modules under tools/ (their go.sum is
// committed), once per machine, into the cache dir. Each `up` starts a fresh cluster (empty etcd, new token).
// Not part of `npm start`: only `npm run stack -- up kubernetes` and the tests that need it start it.

const TOOLS = path.join(REPO_ROOT, 'tools');
const TOOL_MODULES = ['kubernetes', 'etcd', 'kwok'] as const;
const CONTROL_PLANE_SCRIPT = path.join(REPO_ROOT, 'stack', 'kubernetes', 'control-plane.sh');
const KWOK_OUTCOMES = path.join(REPO_ROOT, 'stack', 'kubernetes', 'kwok-outcomes.yaml');
/** kwok's own stages (from its Go module): nodes become Ready and keep a heartbeat, pods become Running, deleted pods go at once. */
const KWOK_STAGES = ['node/fast/node-initialize.yaml', 'node/heartbeat/node-heartbeat.yaml', 'pod/fast/pod-ready.yaml', 'pod/fast/pod-delete.yaml'];
const KWOK_LOGS_CRD = 'crd/bases/kwok.x-k8s.io_logs.yaml';
const BINARIES = ['etcd', 'kube-apiserver', 'kube-scheduler', 'kube-controller-manager', 'kwok'];
const BUILD_DEADLINE_MS = 60 * 60_000;

/** The simulated node every pod is scheduled on. */
export const KWOK_NODE_NAME = 'kwok-node-0';

const dataDir = (): string => partDataDir('kubernetes');
/** The kubeconfig of the running local control plane (an admin token; the server's self-signed certificate is not verified). */
export const kubeconfigPath = (): string => path.join(dataDir(), 'kubeconfig');
const tokenFile = (): string => path.join(dataDir(), 'tokens.csv');

/** The Kubernetes version the wrapper module builds, read from tools/kubernetes/go.mod (`k8s.io/kubernetes vX.Y.Z`). */
export function kubernetesVersion(): string {
  const goMod = fs.readFileSync(path.join(TOOLS, 'kubernetes', 'go.mod'), 'utf8');
  const match = /^\s*k8s\.io\/kubernetes (v\d+\.\d+\.\d+)/m.exec(goMod);
  if (!match?.[1]) throw new Error('tools/kubernetes/go.mod requires no k8s.io/kubernetes version');
  return match[1];
}

/** Where the binaries of the current tools/ modules are cached: a new go.mod or go.sum gets a new directory. */
export function kubernetesBinDir(): string {
  const hash = createHash('sha256');
  for (const tool of TOOL_MODULES) {
    for (const file of ['go.mod', 'go.sum']) hash.update(fs.readFileSync(path.join(TOOLS, tool, file))).update('\0');
  }
  return path.join(cacheDir(), 'bin', `kubernetes-${hash.digest('hex').slice(0, 12)}`);
}

function complete(dir: string): boolean {
  return BINARIES.every((b) => fs.existsSync(path.join(dir, b))) && fs.existsSync(path.join(dir, 'kwok-share', path.basename(KWOK_LOGS_CRD)));
}

function findGo(): string {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/go/bin', '/usr/lib/go/bin'];
  for (const dir of dirs) {
    const go = path.join(dir, 'go');
    if (dir && fs.existsSync(go)) return go;
  }
  throw new Error('the Kubernetes control plane is not built yet and Go is not installed to build it');
}

/** Builds the control plane's binaries from tools/ once (nice 19), into the cache; later calls return at once. */
export async function ensureKubernetesBinaries(log: Log, progress: Progress): Promise<string> {
  const binDir = kubernetesBinDir();
  if (complete(binDir)) return binDir;
  fs.mkdirSync(path.dirname(binDir), { recursive: true });
  return withLock(`${binDir}.lock`, BUILD_DEADLINE_MS, async () => {
    if (complete(binDir)) return binDir;
    const go = findGo();
    // Build into a private dir and rename, so a half-built set is never taken as cached.
    const tmp = `${binDir}.build-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(path.join(tmp, 'kwok-share'), { recursive: true });
    // The compiler's scratch dir off /tmp (a build died once when /tmp changed under it); the module source is go.sum-checked.
    const gotmp = path.join(cacheDir(), 'gotmp');
    fs.mkdirSync(gotmp, { recursive: true });
    const env = { ...process.env, GOTMPDIR: gotmp, GOFLAGS: '-mod=readonly' };
    const out = logFile('kubernetes');
    const build = (tool: string, args: string[]) =>
      runChecked('nice', ['-n', '19', go, 'build', '-trimpath', ...args], { cwd: path.join(TOOLS, tool), env, timeoutMs: BUILD_DEADLINE_MS, logFile: out });
    const version = kubernetesVersion();
    const [, major, minor] = /^v(\d+)\.(\d+)/.exec(version) ?? [];
    const ldflags = ['-s -w', `-X k8s.io/component-base/version.gitVersion=${version}`, `-X k8s.io/component-base/version.gitMajor=${major}`, `-X k8s.io/component-base/version.gitMinor=${minor}`, '-X k8s.io/component-base/version.gitTreeState=clean'].join(' ');
    const step = (what: string, label: string, typically: string) => ({ what, label, typically, cachedIn: binDir, logFile: out });
    try {
      log(`building the local Kubernetes control plane into ${binDir}`);
      await progress.step(step(`building kube-apiserver, kube-scheduler and kube-controller-manager ${version} (go build, tools/kubernetes)`, 'Kubernetes build', '6–12 min on 2 cores'), () =>
        build('kubernetes', ['-ldflags', ldflags, '-o', `${tmp}/`, 'k8s.io/kubernetes/cmd/kube-apiserver', 'k8s.io/kubernetes/cmd/kube-scheduler', 'k8s.io/kubernetes/cmd/kube-controller-manager']),
      );
      await progress.step(step('building etcd (go build, tools/etcd)', 'etcd build', '1–2 min'), () =>
        build('etcd', ['-ldflags', '-s -w', '-o', path.join(tmp, 'etcd'), 'go.etcd.io/etcd/server/v3']),
      );
      await progress.step(step('building kwok (go build, tools/kwok)', 'kwok build', '2–3 min'), () =>
        build('kwok', ['-ldflags', '-s -w', '-o', path.join(tmp, 'kwok'), 'sigs.k8s.io/kwok/cmd/kwok']),
      );
      // kwok's stages and its Logs CRD ship in its module, which the build has just downloaded (checked by go.sum).
      const moduleDir = (await runChecked(go, ['list', '-m', '-f', '{{.Dir}}', 'sigs.k8s.io/kwok'], { cwd: path.join(TOOLS, 'kwok'), env, timeoutMs: 60_000 })).trim();
      for (const file of [...KWOK_STAGES, KWOK_LOGS_CRD]) {
        fs.copyFileSync(path.join(moduleDir, 'kustomize', file.startsWith('crd/') ? '' : 'stage', file), path.join(tmp, 'kwok-share', path.basename(file)));
      }
      fs.rmSync(binDir, { recursive: true, force: true });
      fs.renameSync(tmp, binDir);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    return binDir;
  });
}

function readToken(): string {
  return fs.readFileSync(tokenFile(), 'utf8').split(',')[0] ?? '';
}

/** One call to the local apiserver as its admin; resolves with the status and the parsed body. */
function apiGet(urlPath: string, timeoutMs = 3000): Promise<{ status: number; body: unknown }> {
  const { kubeApiserver: port } = stackPorts();
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: HOST, port, path: urlPath, method: 'GET', rejectUnauthorized: false, timeout: timeoutMs, headers: { authorization: `Bearer ${readToken()}` } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // readyz answers plain text
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from the apiserver within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

async function nodeReady(): Promise<boolean> {
  const { status, body } = await apiGet(`/api/v1/nodes/${KWOK_NODE_NAME}`);
  if (status !== 200) return false;
  const conditions = (body as { status?: { conditions?: Array<{ type: string; status: string }> } }).status?.conditions ?? [];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}

/** What is wrong with the running control plane, or undefined. */
async function problem(): Promise<string | undefined> {
  if (!fs.existsSync(tokenFile())) return 'not started by this stack (no token)';
  const ready = await apiGet('/readyz');
  if (ready.status !== 200) return `kube-apiserver /readyz answered ${ready.status}`;
  if (!(await nodeReady())) return `node ${KWOK_NODE_NAME} is not Ready (kwok)`;
  // The controller-manager is working once it has made the default namespace's service account.
  const sa = await apiGet('/api/v1/namespaces/default/serviceaccounts/default');
  if (sa.status !== 200) return 'no default service account yet (kube-controller-manager)';
  return undefined;
}

function writeFile(file: string, text: string, mode = 0o600): void {
  fs.writeFileSync(file, text, { mode });
}

/** A fresh cluster's files: token, kubeconfig, service-account key, kwok's serving certificate, the node, the stages. */
async function writeClusterFiles(binDir: string): Promise<void> {
  const dir = dataDir();
  // A fresh cluster every start: an old etcd would hold an old run's pods, and a restarted kwok stalls on its old lease.
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { kubeApiserver: port } = stackPorts();
  const token = randomBytes(24).toString('hex');
  writeFile(tokenFile(), `${token},admin,admin,system:masters\n`);
  writeFile(
    kubeconfigPath(),
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- {name: local, cluster: {server: "https://${HOST}:${port}", insecure-skip-tls-verify: true}}`,
      'users:',
      `- {name: admin, user: {token: "${token}"}}`,
      'contexts:',
      '- {name: local, context: {cluster: local, user: admin, namespace: default}}',
      'current-context: local',
      '',
    ].join('\n'),
  );
  const openssl = (args: string[]) => runChecked('openssl', args, { cwd: dir, timeoutMs: 30_000 });
  await openssl(['genrsa', '-out', 'sa.key', '2048']);
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'kwok.key', '-out', 'kwok.crt', '-days', '7', '-subj', '/CN=kwok', '-addext', `subjectAltName=IP:${HOST}`]);
  writeFile(
    path.join(dir, 'node.yaml'),
    [
      'apiVersion: v1',
      'kind: Node',
      'metadata:',
      `  name: ${KWOK_NODE_NAME}`,
      '  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}',
      `  labels: {type: kwok, kubernetes.io/hostname: ${KWOK_NODE_NAME}, kubernetes.io/os: linux, kubernetes.io/arch: amd64}`,
      'status:',
      '  allocatable: {cpu: "32", memory: 256Gi, pods: "1000", ephemeral-storage: 1Ti}',
      '  capacity: {cpu: "32", memory: 256Gi, pods: "1000", ephemeral-storage: 1Ti}',
      '',
    ].join('\n'),
  );
  const stages = [...KWOK_STAGES.map((s) => path.join(binDir, 'kwok-share', path.basename(s))), KWOK_OUTCOMES].map((f) => fs.readFileSync(f, 'utf8').trim());
  writeFile(path.join(dir, 'kwok-stages.yaml'), `${stages.join('\n---\n')}\n`);
}

/** Whether a listener can bind the port now (a client socket of a stopped cluster may hold it in TIME_WAIT for a minute). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: HOST, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function ephemeralRange(): [number, number] | undefined {
  try {
    const [low, high] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return low && high ? [low, high] : undefined;
  } catch {
    return undefined; // not Linux: nothing to warn about
  }
}

/**
 * Waits until every port of the control plane can be bound. A port inside the kernel's ephemeral range can be
 * held by any client socket (the last cluster's apiserver → etcd connections linger a minute in TIME_WAIT): said once.
 */
async function awaitFreePorts(log: Log): Promise<void> {
  const ports = stackPorts();
  const mine = [ports.kubeApiserver, ports.kubeEtcd, ports.kubeEtcdPeer, ports.kubeKwok];
  const range = ephemeralRange();
  const risky = range ? mine.filter((p) => p >= range[0] && p <= range[1]) : [];
  if (risky.length > 0) log(`ports ${risky.join(', ')} are in the ephemeral range ${range?.join('-')}: a client socket may hold them; EO_KUBE_* ports below ${range?.[0]} avoid that`);
  await waitFor(`ports ${mine.join(', ')} to be free to bind`, async () => {
    for (const port of mine) if (!(await bindable(port))) return false;
    return true;
  }, { deadlineMs: 75_000, intervalMs: 500 });
}

let preparedBinDir: string | undefined;

export const kubernetes: PartDefinition = {
  part: 'kubernetes',
  endpoint: () => `https://${HOST}:${stackPorts().kubeApiserver}`,
  get marker() {
    return CONTROL_PLANE_SCRIPT;
  },
  startDeadlineMs: 90_000,
  stopDeadlineMs: 60_000,
  stopSignal: 'SIGTERM',
  // The script stops its parts in order (kwok … etcd); a signal to the whole group would stop etcd first.
  stopLeaderOnly: true,

  async prepare(log, progress) {
    preparedBinDir = await ensureKubernetesBinaries(log, progress);
    await writeClusterFiles(preparedBinDir);
    await awaitFreePorts(log);
  },

  serverCommand() {
    const ports = stackPorts();
    const binDir = preparedBinDir ?? kubernetesBinDir();
    return {
      command: 'bash',
      args: [CONTROL_PLANE_SCRIPT, dataDir(), binDir],
      cwd: dataDir(),
      env: {
        ...process.env,
        KUBE_APISERVER_PORT: String(ports.kubeApiserver),
        KUBE_ETCD_PORT: String(ports.kubeEtcd),
        KUBE_ETCD_PEER_PORT: String(ports.kubeEtcdPeer),
        KUBE_KWOK_PORT: String(ports.kubeKwok),
        KUBE_TOKEN_FILE: tokenFile(),
      },
    };
  },

  async waitUntilReady(ctx: ReadyContext) {
    await waitFor('the local Kubernetes control plane (apiserver ready, kwok node Ready, default service account)', async () => (await problem()) === undefined, {
      deadlineMs: ctx.remainingMs(),
      giveUp: ctx.giveUp,
      intervalMs: 100,
    });
  },

  async checkHealth() {
    try {
      return await problem();
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  },

  async portInUse() {
    const ports = stackPorts();
    for (const port of [ports.kubeApiserver, ports.kubeEtcd, ports.kubeEtcdPeer, ports.kubeKwok]) {
      if (await isPortOpen(HOST, port)) return true;
    }
    return false;
  },
};
