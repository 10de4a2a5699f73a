import { ApiException, CoreV1Api, KubeConfig, Watch, type V1Pod } from '@kubernetes/client-node';
import type { Language } from '../domain/runtimes';
import { trimIncompleteUtf8 } from './local/capped-output';
import { buildConfigMap, buildPod, configMapName, CONTAINER_NAME, EXECUTION_ANNOTATION, podName, RUN_SELECTOR, type PodSettings } from './kubernetes/pod-spec';
import { podFinished, podOutcome, podStuckReason, TERMINATION_MESSAGE_BYTES } from './kubernetes/pod-outcome';
import type { RunObserver, RunResult, RunSpec, Runner, RunnerLog, RunTermination } from './runner';
import { createRunsInFlight } from './runs-in-flight';
import { fulfilledWithin } from '../fulfilled-within';
import { isSafeExecutionId, validateRunSpec } from './run-spec';

export interface KubernetesRunnerOptions extends Partial<Omit<PodSettings, 'namespace' | 'images'>> {
  /** Path of a kubeconfig; unset: the pod's in-cluster service account. */
  kubeconfigPath?: string;
  /** A loaded KubeConfig (tests, embedding); wins over `kubeconfigPath`. */
  kubeConfig?: KubeConfig;
  /** Namespace of the run pods (PodSecurity `restricted`, a deny-all NetworkPolicy: deploy/). @default 'eo-runs' */
  namespace?: string;
  /** Image per language. @default python:3-slim, node:24-slim, bash:5 */
  images?: Partial<Record<Language, string>>;
  /** Interval between heartbeats while a pod runs, ms. @default 1000 */
  heartbeatIntervalMs?: number;
  /** Re-read of a watched pod even if its watch stays quiet (a missed event, a half-dead connection), ms. @default 30000 */
  resyncIntervalMs?: number;
  /** How long a pod may take to disappear after its deletion before the runner says so, ms. @default 30000 */
  deleteDeadlineMs?: number;
  log?: RunnerLog;
}

/** The Kubernetes runner, plus what it was configured with. */
export interface KubernetesRunner extends Runner {
  readonly namespace: string;
  /**
   * Deletes run pods (and their ConfigMaps) whose execution has finished, as `isFinished` says (e.g. terminal in
   * the database, or unknown), and which no run of this process holds: what a crashed worker or a saga ended
   * without its compensation left behind. A pod of an execution still running is left for its retried run to attach to.
   * Returns the execution ids collected.
   */
  collectOrphans(isFinished: (executionIds: string[]) => Promise<Set<string>>): Promise<string[]>;
}

export const DEFAULT_IMAGES: Readonly<Record<Language, string>> = { python: 'python:3-slim', node: 'node:24-slim', bash: 'bash:5' };


/**
 * A runner that runs each script in a Pod of its own (see runners/README.md): a ConfigMap carries the script
 * and stdin, the pod's name is derived from the execution id (a retried run, in this process or another,
 * attaches to the pod that exists instead of making a second), completion comes from a watch on the pod
 * (re-read on every reconnect and every `resyncIntervalMs`), stdout from the pod log, stderr from the
 * termination message, the outcome from the pod status. The pod and ConfigMap are deleted on every path.
 */
export function createKubernetesRunner(opts: KubernetesRunnerOptions = {}): KubernetesRunner {
  const kc = opts.kubeConfig ?? loadKubeConfig(opts.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const watcher = new Watch(kc);
  const log = opts.log;
  const settings: PodSettings = {
    namespace: opts.namespace ?? 'eo-runs',
    images: { ...DEFAULT_IMAGES, ...opts.images },
    runtimeClassName: opts.runtimeClassName,
    podAnnotations: opts.podAnnotations ?? {},
    cpuRequest: opts.cpuRequest ?? '100m',
    cpuLimit: opts.cpuLimit ?? '1',
    scratchMb: opts.scratchMb ?? 64,
    runAsUser: opts.runAsUser ?? 65534,
    deadlineGraceMs: opts.deadlineGraceMs ?? 5000,
  };
  const timing = {
    heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 1000,
    resyncIntervalMs: opts.resyncIntervalMs ?? 30_000,
    deleteDeadlineMs: opts.deleteDeadlineMs ?? 30_000,
  };
  const k8s: Cluster = { core, watcher, namespace: settings.namespace, log };
  const runs = createRunsInFlight<PodExecution>(log);

  return {
    namespace: settings.namespace,

    run(spec, observer) {
      const attached = runs.attach(spec.executionId, observer);
      if (attached) return attached;
      try {
        validateRunSpec(spec);
      } catch (err) {
        return Promise.reject(err);
      }
      const execution = new PodExecution(spec, k8s, settings, timing);
      return runs.track(spec.executionId, execution, () => execution.start(), observer);
    },

    async destroy(executionId) {
      if (!isSafeExecutionId(executionId)) return false;
      const current = runs.get(executionId);
      if (current) {
        current.execution.kill('killed');
        await current.promise.catch(() => undefined);
        return true;
      }
      const existed = await deleteRun(k8s, executionId);
      if (existed) {
        await waitUntilGone(k8s, podName(executionId), timing.deleteDeadlineMs);
        log?.info('run pod of another worker process deleted', { executionId });
      }
      return existed;
    },

    active() {
      return runs.ids();
    },

    async collectOrphans(isFinished) {
      const pods = await core.listNamespacedPod({ namespace: settings.namespace, labelSelector: RUN_SELECTOR });
      const candidates = pods.items
        .map((p) => p.metadata?.annotations?.[EXECUTION_ANNOTATION])
        .filter((id): id is string => typeof id === 'string' && !runs.has(id));
      if (candidates.length === 0) return [];
      const finished = await isFinished(candidates);
      const collected: string[] = [];
      for (const executionId of candidates) {
        if (!finished.has(executionId) || runs.has(executionId)) continue;
        await deleteRun(k8s, executionId);
        collected.push(executionId);
        log?.warn('orphaned run pod collected', { executionId, pod: podName(executionId) });
      }
      return collected;
    },
  };
}

function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromCluster();
  return kc;
}

interface Cluster {
  core: CoreV1Api;
  watcher: Watch;
  namespace: string;
  log: RunnerLog | undefined;
}

function statusCode(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

/** Deletes a run's pod and ConfigMap at once (no grace); true if the pod was there. */
async function deleteRun(k8s: Cluster, executionId: string): Promise<boolean> {
  const name = podName(executionId);
  let existed = true;
  try {
    await k8s.core.deleteNamespacedPod({ name, namespace: k8s.namespace, gracePeriodSeconds: 0, propagationPolicy: 'Background' });
  } catch (err) {
    if (statusCode(err) !== 404) throw err;
    existed = false;
  }
  try {
    await k8s.core.deleteNamespacedConfigMap({ name: configMapName(executionId), namespace: k8s.namespace });
  } catch (err) {
    if (statusCode(err) !== 404) throw err; // gone already: with its pod (owner reference), or never made
  }
  return existed;
}

/**
 * Follows one pod by watch until `done(pod)` says so (the pod is undefined once it is gone). Every (re)connect
 * first re-reads the pod, so nothing between two watches is missed; a quiet watch is re-read every `resyncMs`.
 */
function followPod(k8s: Cluster, name: string, resyncMs: number, onPod: (pod: V1Pod | undefined) => boolean): { stop(): void; done: Promise<void> } {
  let stopped = false;
  let abort: AbortController | undefined;
  let resync: NodeJS.Timeout | undefined;
  let finish!: () => void;
  let fail!: (err: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  let failures = 0;
  const stop = () => {
    stopped = true;
    clearTimeout(resync);
    abort?.abort();
  };
  const deliver = (pod: V1Pod | undefined): boolean => {
    if (stopped) return true;
    if (onPod(pod)) {
      stop();
      finish();
      return true;
    }
    return false;
  };
  const read = async (): Promise<string | undefined> => {
    try {
      const pod = await k8s.core.readNamespacedPod({ name, namespace: k8s.namespace });
      return deliver(pod) ? undefined : (pod.metadata?.resourceVersion ?? '');
    } catch (err) {
      if (statusCode(err) === 404) {
        deliver(undefined);
        return undefined;
      }
      throw err;
    }
  };
  const connect = async (): Promise<void> => {
    while (!stopped) {
      try {
        const resourceVersion = await read();
        if (resourceVersion === undefined || stopped) return;
        const ended = new Promise<void>((resolve) => {
          void k8s.watcher
            .watch(
              `/api/v1/namespaces/${k8s.namespace}/pods`,
              { fieldSelector: `metadata.name=${name}`, resourceVersion, allowWatchBookmarks: true },
              (phase, obj: V1Pod) => {
                failures = 0;
                if (phase === 'DELETED') deliver(undefined);
                else if (phase === 'ADDED' || phase === 'MODIFIED') deliver(obj);
              },
              () => resolve(),
            )
            .then(
              (controller) => {
                abort = controller;
                if (stopped) controller.abort();
              },
              () => resolve(),
            );
        });
        clearTimeout(resync);
        resync = setTimeout(() => abort?.abort(), resyncMs); // the watch ends, and the loop re-reads
        const connectedAt = Date.now();
        await ended;
        // A watch the server ends at once (e.g. a too-old resourceVersion) is retried after a short pause, not in a spin.
        if (!stopped && Date.now() - connectedAt < 1000) await new Promise((resolve) => setTimeout(resolve, 200));
      } catch (err) {
        failures += 1;
        // The API server unreachable for a while: the run's caller (an activity) retries the whole run, which attaches.
        if (failures >= 10) {
          stop();
          fail(err);
          return;
        }
        k8s.log?.warn('pod watch failed; reconnecting', { pod: name, err: String(err), failures });
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 100 * 2 ** failures)));
      }
    }
  };
  void connect();
  return { stop, done };
}

async function waitUntilGone(k8s: Cluster, name: string, deadlineMs: number): Promise<void> {
  const follow = followPod(k8s, name, Math.min(deadlineMs, 5000), (pod) => pod === undefined);
  if (await fulfilledWithin(follow.done, deadlineMs)) return;
  follow.stop();
  throw new Error(`pod ${name} still exists ${deadlineMs} ms after its deletion`);
}

type KillReason = Extract<RunTermination, 'killed' | 'wall_timeout'>;

/** One execution's pod, from creation to deletion. */
class PodExecution {
  private killReason: KillReason | null = null;
  private holders = 0;
  private observers: RunObserver[] = [];
  private runningSince: number | null = null;
  private wake: (() => void) | undefined;
  private readonly name: string;

  constructor(
    private readonly spec: RunSpec,
    private readonly k8s: Cluster,
    private readonly settings: PodSettings,
    private readonly timing: { heartbeatIntervalMs: number; resyncIntervalMs: number; deleteDeadlineMs: number },
  ) {
    this.name = podName(spec.executionId);
  }

  /** A caller joins the run; its aborted signal lets go, and the run is killed when the last holder has let go. */
  attach(observer: RunObserver | undefined): void {
    this.holders += 1;
    if (observer) this.observers.push(observer);
    const signal = observer?.signal;
    if (!signal) return;
    const release = () => {
      this.holders -= 1;
      if (this.holders <= 0) this.kill('killed');
    };
    if (signal.aborted) release();
    else signal.addEventListener('abort', release, { once: true });
  }

  kill(reason: KillReason): void {
    if (this.killReason !== null) return;
    this.killReason = reason;
    this.wake?.();
  }

  async start(): Promise<RunResult> {
    const startedAt = new Date();
    const t0 = performance.now();
    if (this.killReason !== null) return this.killedResult(startedAt, t0, false);
    const log = this.k8s.log;
    let created = false;
    try {
      created = await this.create();
      log?.info(created ? 'run pod created' : 'run attached to an existing pod', { executionId: this.spec.executionId, pod: this.name });
      const pod = await this.awaitEnd(created);
      if (this.killReason !== null || pod === undefined) {
        await this.deleteAndWait();
        return this.killedResult(startedAt, t0, true);
      }
      const stuck = podStuckReason(pod);
      if (stuck && !podFinished(pod)) throw new Error(`run pod ${this.name} cannot start: ${stuck}`);
      return await this.result(pod, startedAt, t0);
    } finally {
      // Every path: success, failure, kill, a thrown error. Already gone is fine.
      await deleteRun(this.k8s, this.spec.executionId).catch((err: unknown) =>
        log?.warn('deleting the run pod failed; the reconciler collects it', { executionId: this.spec.executionId, err: String(err) }),
      );
    }
  }

  /** Makes the ConfigMap and the pod; false when the pod already existed (a retried run), which is then attached to. */
  private async create(): Promise<boolean> {
    const { core, namespace } = this.k8s;
    const configMap = buildConfigMap(this.spec, this.settings);
    try {
      await core.createNamespacedConfigMap({ namespace, body: configMap });
    } catch (err) {
      if (statusCode(err) !== 409) throw err;
    }
    let pod: V1Pod | undefined;
    for (let attempt = 0; pod === undefined; attempt++) {
      try {
        pod = await core.createNamespacedPod({ namespace, body: buildPod(this.spec, this.settings) });
      } catch (err) {
        if (statusCode(err) !== 409) throw err;
        // A pod being deleted (an earlier run of this id that has just ended) is not attached to: wait for it to go.
        const existing = await core.readNamespacedPod({ name: this.name, namespace }).catch(() => undefined);
        if (!existing?.metadata?.deletionTimestamp || attempt >= 3) return false;
        await waitUntilGone(this.k8s, this.name, this.timing.deleteDeadlineMs);
        await core.createNamespacedConfigMap({ namespace, body: configMap }).catch((e: unknown) => {
          if (statusCode(e) !== 409) throw e;
        });
      }
    }
    // The ConfigMap goes with its pod even if nobody deletes it (garbage collection), e.g. after a crash here.
    try {
      const current = await core.readNamespacedConfigMap({ name: configMapName(this.spec.executionId), namespace });
      current.metadata = { ...current.metadata, ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: this.name, uid: pod.metadata?.uid ?? '', blockOwnerDeletion: false }] };
      await core.replaceNamespacedConfigMap({ name: configMapName(this.spec.executionId), namespace, body: current });
    } catch (err) {
      this.k8s.log?.warn('could not make the run pod own its ConfigMap; it is deleted explicitly', { executionId: this.spec.executionId, err: String(err) });
    }
    return true;
  }

  /** Waits for the pod to finish (or to go, or for a kill); heartbeats meanwhile; enforces the wall limit as a backstop. */
  private async awaitEnd(created: boolean): Promise<V1Pod | undefined> {
    let last: V1Pod | undefined;
    let backstop: NodeJS.Timeout | undefined;
    // From the start, not from Running: a pod waiting for its image must not look like a dead worker to Temporal.
    const heartbeat = setInterval(() => {
      const elapsedMs = this.runningSince === null ? 0 : Math.max(0, Math.round(performance.now() - this.runningSince));
      for (const o of this.observers) o.onHeartbeat?.({ elapsedMs, pid: 0 });
    }, this.timing.heartbeatIntervalMs);
    const follow = followPod(this.k8s, this.name, this.timing.resyncIntervalMs, (pod) => {
      last = pod;
      if (pod === undefined || podFinished(pod) || podStuckReason(pod)) return true;
      if (pod.status?.phase === 'Running' && this.runningSince === null) {
        // A pod of ours: from when it was seen running. A pod attached to (made by a worker that died): from its
        // start as the kubelet recorded it (whole seconds).
        const startTime = !created && pod.status.startTime ? new Date(pod.status.startTime).getTime() : Date.now();
        this.runningSince = performance.now() - Math.max(0, Date.now() - startTime);
        const remaining = this.spec.limits.wallTimeMs + this.settings.deadlineGraceMs - (Date.now() - startTime);
        backstop = setTimeout(() => this.kill('wall_timeout'), Math.max(0, remaining));
      }
      return false;
    });
    const killed = new Promise<void>((resolve) => {
      this.wake = resolve;
      if (this.killReason !== null) resolve();
    });
    try {
      await Promise.race([follow.done, killed]);
    } finally {
      follow.stop();
      clearInterval(heartbeat);
      clearTimeout(backstop);
    }
    return last;
  }

  private async deleteAndWait(): Promise<void> {
    await deleteRun(this.k8s, this.spec.executionId);
    await waitUntilGone(this.k8s, this.name, this.timing.deleteDeadlineMs);
  }

  private killedResult(startedAt: Date, t0: number, started: boolean): RunResult {
    const finishedAt = new Date();
    const termination: RunTermination = this.killReason ?? 'killed';
    // Deleted by someone else (an eviction, a drained node, an operator) while it ran: killed, not the script's doing.
    if (this.killReason === null) this.k8s.log?.warn('run pod disappeared before it finished', { executionId: this.spec.executionId, pod: this.name });
    return {
      termination,
      exitCode: null,
      // A pod deleted with no grace period: its container got SIGKILL. Nothing was started: no signal.
      signal: started ? 'SIGKILL' : null,
      stdout: '',
      stdoutTruncated: false,
      stderr: '',
      stderrTruncated: false,
      wallTimeMs: Math.round(performance.now() - (this.runningSince ?? t0)),
      cpuTimeMs: null,
      peakMemoryKb: null,
      oomKilled: false,
      sandboxed: true,
      startedAt,
      finishedAt,
    };
  }

  private async result(pod: V1Pod, startedAt: Date, t0: number): Promise<RunResult> {
    const outcome = podOutcome(pod);
    const max = this.spec.limits.maxOutputBytes;
    const stdout = await this.readLog(max);
    const stderrBytes = Buffer.from(outcome.message, 'utf8');
    const stderr = capBytes(stderrBytes, max);
    // Container timestamps have whole seconds; the runner's own view is finer (and includes the watch's latency, a few ms).
    const wallTimeMs = this.runningSince !== null
      ? Math.round(performance.now() - this.runningSince)
      : outcome.startedAt && outcome.finishedAt ? Math.max(0, outcome.finishedAt.getTime() - outcome.startedAt.getTime()) : Math.round(performance.now() - t0);
    return {
      termination: outcome.termination,
      exitCode: outcome.exitCode,
      signal: outcome.signal,
      stdout: stdout.text,
      stdoutTruncated: stdout.truncated,
      stderr: stderr.text,
      // The kubelet keeps 4 KiB of the termination log: a full one may have been cut.
      stderrTruncated: stderr.truncated || stderrBytes.length >= TERMINATION_MESSAGE_BYTES,
      wallTimeMs,
      cpuTimeMs: null,
      peakMemoryKb: null,
      oomKilled: outcome.oomKilled,
      sandboxed: true,
      startedAt: outcome.startedAt ?? startedAt,
      finishedAt: outcome.finishedAt ?? new Date(),
    };
  }

  /** The pod log (stdout), at most `max` bytes kept, cut on a character boundary. */
  private async readLog(max: number): Promise<{ text: string; truncated: boolean }> {
    try {
      const text = await this.k8s.core.readNamespacedPodLog({ name: this.name, namespace: this.k8s.namespace, container: CONTAINER_NAME, limitBytes: max + 1 });
      return capBytes(Buffer.from(text, 'utf8'), max);
    } catch (err) {
      // The result (exit code, reason) stands without its output; said once, loudly, with the reason.
      this.k8s.log?.warn('reading the run pod log failed; the result has no stdout', { executionId: this.spec.executionId, err: String(err) });
      return { text: '', truncated: false };
    }
  }
}

function capBytes(buf: Buffer, max: number): { text: string; truncated: boolean } {
  if (buf.length <= max) return { text: buf.toString('utf8'), truncated: false };
  return { text: trimIncompleteUtf8(buf.subarray(0, max)).toString('utf8'), truncated: true };
}
