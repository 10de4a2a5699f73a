import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApiException, CoreV1Api, CustomObjectsApi, KubeConfig, NetworkingV1Api, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { kubeconfigPath, upPart } from '../../stack';
import { podName, RUN_SELECTOR } from '../../runners/kubernetes/pod-spec';
import { STARTED_FILE } from './global-setup';
import { waitFor } from './harness';

// The local Kubernetes control plane for a test file (stack/kubernetes.ts: a real kube-apiserver, scheduler and
// controller-manager; kwok plays the node). A kwok node runs no container: how a run ends is told to it here,
// through the pod annotations its stages read (stack/kubernetes/kwok-outcomes.yaml), and its stdout through a
// kwok Logs object. Production code knows nothing of this.

export interface KubernetesTestCluster {
  kc: KubeConfig;
  core: CoreV1Api;
  kubeconfigPath: string;
  /** The runner namespace of this test file: PodSecurity `restricted` enforced, a deny-all NetworkPolicy. */
  namespace: string;
}

/** How the simulated node ends a run's pod. */
export interface SimulatedOutcome {
  exitCode?: number;
  /** The container's termination reason, e.g. OOMKilled. */
  reason?: string;
  /** The container's termination message: the run's stderr. */
  stderr?: string;
  /** The pod log: the run's stdout. */
  stdout?: string;
  /** `deadline`: the kubelet fails the pod at activeDeadlineSeconds (DeadlineExceeded). */
  outcome?: 'deadline';
  /** How long it runs before it ends (a Go duration). */
  runFor?: string;
}

/** Marks the control plane as started by this test run, so the global teardown stops it (as it stops the other parts). */
function recordStarted(): void {
  const started = existsSync(STARTED_FILE) ? (JSON.parse(readFileSync(STARTED_FILE, 'utf8')) as string[]) : [];
  if (!started.includes('kubernetes')) writeFileSync(STARTED_FILE, JSON.stringify([...started, 'kubernetes']));
}

/** Brings the control plane up (once per test run) and makes this file's runner namespace; deletes the namespace after the file. */
export function kubernetesForThisFile(): KubernetesTestCluster {
  // Known at once (a service's config is made when the file loads); usable once beforeAll has run.
  const cluster = { kubeconfigPath: kubeconfigPath(), namespace: `eo-runs-${randomUUID().slice(0, 8)}` } as KubernetesTestCluster;
  beforeAll(async () => {
    const up = await upPart('kubernetes', { log: (line) => console.log(`[stack] ${line}`) });
    if (!up.alreadyRunning) recordStarted();
    cluster.kc = new KubeConfig();
    cluster.kc.loadFromFile(cluster.kubeconfigPath);
    cluster.core = cluster.kc.makeApiClient(CoreV1Api);
    await createRunnerNamespace(cluster.kc, cluster.namespace);
  }, 30 * 60_000);
  afterAll(async () => {
    if (cluster.namespace) await cluster.core.deleteNamespace({ name: cluster.namespace }).catch(() => undefined);
  });
  return cluster;
}

/** What deploy/ makes for the runner: a `restricted` namespace whose pods may not talk to anything. */
async function createRunnerNamespace(kc: KubeConfig, namespace: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({
    body: {
      metadata: {
        name: namespace,
        labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' },
      },
    },
  });
  await kc.makeApiClient(NetworkingV1Api).createNamespacedNetworkPolicy({
    namespace,
    body: {
      metadata: { name: 'deny-all-runs' },
      spec: { podSelector: { matchLabels: { 'app.kubernetes.io/component': 'script-run' } }, policyTypes: ['Ingress', 'Egress'] },
    },
  });
  // Pods are admitted only once the controller-manager has made the namespace's default service account.
  await waitFor(`the default service account of ${namespace}`, async () => {
    await core.readNamespacedServiceAccount({ name: 'default', namespace });
    return true;
  }, { deadlineMs: 30_000, intervalMs: 100 });
}

/** The run pod of an execution, or undefined. */
export async function runPod(cluster: KubernetesTestCluster, executionId: string): Promise<V1Pod | undefined> {
  try {
    return await cluster.core.readNamespacedPod({ name: podName(executionId), namespace: cluster.namespace });
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  }
}

/** Waits until the execution's pod is Running on the simulated node. */
export function runningPod(cluster: KubernetesTestCluster, executionId: string, deadlineMs = 20_000): Promise<V1Pod> {
  return waitFor(`the run pod of ${executionId} to be Running`, async () => {
    const pod = await runPod(cluster, executionId);
    return pod?.status?.phase === 'Running' ? pod : undefined;
  }, { deadlineMs, intervalMs: 25 });
}

/** Run pods and ConfigMaps of an execution left in the namespace. */
export async function leftovers(cluster: KubernetesTestCluster, executionId?: string): Promise<string[]> {
  const labelSelector = executionId ? `${RUN_SELECTOR},execution-orchestrator/execution-id=${executionId}` : RUN_SELECTOR;
  const pods = await cluster.core.listNamespacedPod({ namespace: cluster.namespace, labelSelector });
  const maps = await cluster.core.listNamespacedConfigMap({ namespace: cluster.namespace, labelSelector });
  return [...pods.items.map((p) => `pod/${p.metadata?.name}`), ...maps.items.map((c) => `configmap/${c.metadata?.name}`)];
}

let logDir: string | undefined;

/** Tells the simulated node how the execution's pod ends (the pod must exist; waits for it to be Running first). */
export async function simulate(cluster: KubernetesTestCluster, executionId: string, outcome: SimulatedOutcome): Promise<void> {
  const pod = await runningPod(cluster, executionId);
  const name = pod.metadata?.name ?? podName(executionId);
  if (outcome.stdout !== undefined) {
    logDir ??= mkdtempSync(path.join(tmpdir(), 'eo-kwok-logs-'));
    mkdirSync(logDir, { recursive: true });
    const file = path.join(logDir, `${name}-${randomUUID()}.log`);
    // CRI log format: one record per line; P (partial) for a chunk without its newline.
    const lines = outcome.stdout.match(/[^\n]*\n|[^\n]+$/g) ?? [];
    writeFileSync(file, lines.map((l) => `${new Date().toISOString()} stdout ${l.endsWith('\n') ? 'F' : 'P'} ${l.replace(/\n$/, '')}\n`).join(''));
    const objects = cluster.kc.makeApiClient(CustomObjectsApi);
    // An earlier run of the same execution id (a pod of the same name) left its own.
    await objects.deleteNamespacedCustomObject({ group: 'kwok.x-k8s.io', version: 'v1alpha1', namespace: cluster.namespace, plural: 'logs', name }).catch(() => undefined);
    await objects.createNamespacedCustomObject({
      group: 'kwok.x-k8s.io',
      version: 'v1alpha1',
      namespace: cluster.namespace,
      plural: 'logs',
      body: { apiVersion: 'kwok.x-k8s.io/v1alpha1', kind: 'Logs', metadata: { name, namespace: cluster.namespace }, spec: { logs: [{ containers: ['script'], logsFile: file }] } },
    });
  }
  const annotations: Record<string, string> = {};
  if (outcome.outcome) annotations['kwok-sim/outcome'] = outcome.outcome;
  if (outcome.exitCode !== undefined) annotations['kwok-sim/exit-code'] = String(outcome.exitCode);
  if (outcome.reason) annotations['kwok-sim/reason'] = outcome.reason;
  if (outcome.stderr) annotations['kwok-sim/message'] = outcome.stderr;
  if (outcome.runFor) annotations['kwok-sim/run-for'] = outcome.runFor;
  await cluster.core.patchNamespacedPod(
    { name, namespace: cluster.namespace, body: { metadata: { annotations } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

/** Removes the CRI log files written for this file's simulated pods. */
export function removeSimulatedLogs(): void {
  if (logDir) rmSync(logDir, { recursive: true, force: true });
  logDir = undefined;
}
