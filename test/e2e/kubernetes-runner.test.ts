import { serviceForThisFile, waitFor } from '../support/harness';
import { kubernetesForThisFile, leftovers, removeSimulatedLogs, runPod, runningPod, simulate } from '../support/kubernetes';

// The saga end to end with RUNNER=kubernetes: the real API server, scheduler and controller-manager, kwok as the
// node (it runs no container: each test tells the simulated node how the pod ends).

const cluster = kubernetesForThisFile();
const ctx = serviceForThisFile({ RUNNER: 'kubernetes', KUBERNETES_KUBECONFIG: cluster.kubeconfigPath, KUBERNETES_NAMESPACE: cluster.namespace });
afterAll(() => removeSimulatedLogs());

test('a script run in a pod on the kwok simulated node completes with the pod’s stdout, and its pod and ConfigMap are deleted', async () => {
  const { json: created } = await ctx.api.submit({ language: 'python', script: 'print("hello")', limits: { wallTimeMs: 30_000 } });
  await simulate(cluster, created.id, { exitCode: 0, stdout: 'hello\n' });
  const done = await ctx.api.waitForStatus(created.id, (s) => s !== 'queued' && s !== 'running');
  expect(done).toMatchObject({ status: 'completed', result: { exitCode: 0, stdout: 'hello\n', errorType: null } });
  await waitFor('the run pod and ConfigMap to go', async () => (await leftovers(cluster, created.id)).length === 0);
});

test('a script failing in its pod on the kwok simulated node is failed with its exit code and stderr (termination message)', async () => {
  const { json: created } = await ctx.api.submit({ language: 'bash', script: 'echo oops >&2; exit 3' });
  await simulate(cluster, created.id, { exitCode: 3, stderr: 'oops\n' });
  const done = await ctx.api.waitForStatus(created.id, (s) => s !== 'queued' && s !== 'running');
  expect(done).toMatchObject({ status: 'failed', result: { exitCode: 3, stderr: 'oops\n', errorType: 'script_error' } });
  await waitFor('the run pod and ConfigMap to go', async () => (await leftovers(cluster, created.id)).length === 0);
});

test('a pod OOMKilled on the kwok simulated node fails the execution with resource_limit', async () => {
  const { json: created } = await ctx.api.submit({ language: 'python', script: 'x = bytearray(2 * 1024 ** 3)', limits: { memoryMb: 128 } });
  await simulate(cluster, created.id, { exitCode: 137, reason: 'OOMKilled' });
  const done = await ctx.api.waitForStatus(created.id, (s) => s !== 'queued' && s !== 'running');
  expect(done).toMatchObject({ status: 'failed', result: { errorType: 'resource_limit' } });
  await waitFor('the run pod and ConfigMap to go', async () => (await leftovers(cluster, created.id)).length === 0);
});

test('a pod past its activeDeadlineSeconds on the kwok simulated node times the execution out', async () => {
  const { json: created } = await ctx.api.submit({ language: 'bash', script: 'sleep 60', limits: { wallTimeMs: 1000 } });
  const pod = await runningPod(cluster, created.id);
  expect(pod.spec?.activeDeadlineSeconds).toBe(1);
  await simulate(cluster, created.id, { outcome: 'deadline' });
  const done = await ctx.api.waitForStatus(created.id, (s) => s !== 'queued' && s !== 'running');
  expect(done).toMatchObject({ status: 'timed_out', result: { errorType: 'timeout' } });
  await waitFor('the run pod and ConfigMap to go', async () => (await leftovers(cluster, created.id)).length === 0);
});

test('the run pod is restricted: non-root, read-only root, no capabilities, RuntimeDefault seccomp, no token, limits, capped emptyDirs, the ConfigMap owned by it', async () => {
  const { json: created } = await ctx.api.submit({ language: 'python', script: 'print(1)', limits: { memoryMb: 128, wallTimeMs: 5000 } });
  const pod = await runningPod(cluster, created.id);
  const spec = pod.spec!;
  const container = spec.containers[0]!;
  expect(spec).toMatchObject({ automountServiceAccountToken: false, restartPolicy: 'Never', activeDeadlineSeconds: 5, enableServiceLinks: false });
  expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
  expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, runAsNonRoot: true });
  expect(container.resources).toMatchObject({ limits: { memory: '128Mi', cpu: '1' }, requests: { memory: '128Mi' } });
  expect(spec.volumes?.filter((v) => v.emptyDir).map((v) => v.emptyDir?.sizeLimit)).toEqual(['64Mi', '64Mi']);
  expect(pod.metadata?.labels).toMatchObject({ 'app.kubernetes.io/component': 'script-run' });
  // The runner makes the pod own its ConfigMap just after creating the pod, which may be Running by then.
  const map = await waitFor('the ConfigMap to be owned by its pod', async () => {
    const found = await cluster.core.readNamespacedConfigMap({ name: pod.metadata!.name!, namespace: cluster.namespace });
    return found.metadata?.ownerReferences?.length ? found : undefined;
  });
  expect(map.data?.['main.py']).toBe('print(1)');
  expect(map.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'Pod', name: pod.metadata!.name, uid: pod.metadata!.uid })]);
  await simulate(cluster, created.id, { exitCode: 0, stdout: '1\n' });
  await ctx.api.waitForStatus(created.id, (s) => s === 'completed');
});

test('cancelling executions running in pods deletes each pod: cancel → pod gone, 20 times', async () => {
  const latencies: number[] = [];
  for (let i = 0; i < 20; i++) {
    const { json: created } = await ctx.api.submit({ language: 'bash', script: 'sleep 600', limits: { wallTimeMs: 120_000 } });
    await runningPod(cluster, created.id);
    await ctx.api.waitForStatus(created.id, (s) => s === 'running');
    const cancelledAt = performance.now();
    expect((await ctx.api.cancel(created.id, 'stop')).status).toBe(202);
    await waitFor('the run pod to go', async () => (await runPod(cluster, created.id)) === undefined, { deadlineMs: 30_000, intervalMs: 10 });
    latencies.push(performance.now() - cancelledAt);
    const done = await ctx.api.waitForStatus(created.id, (s) => s !== 'running');
    expect(done.status).toBe('cancelled');
    expect(await leftovers(cluster, created.id)).toEqual([]);
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  console.log(`cancel → pod gone over ${sorted.length}: p50 ${Math.round(sorted[Math.floor(sorted.length / 2)]!)} ms, max ${Math.round(sorted.at(-1)!)} ms`);
}, 300_000);
