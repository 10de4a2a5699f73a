import type { V1Pod } from '@kubernetes/client-node';
import { podOutcome } from '../../../runners/kubernetes/pod-outcome';
import { podName } from '../../../runners/kubernetes/pod-spec';

const ended = (phase: string, terminated: object, status: object = {}): V1Pod => ({
  status: { phase, ...status, containerStatuses: [{ name: 'script', image: 'x', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, ...terminated } } }] },
});

describe('pod outcome', () => {
  it('reads an exit code as exited, and 128 + N as signal N', () => {
    expect(podOutcome(ended('Failed', { exitCode: 3, message: 'err\n' }))).toMatchObject({ termination: 'exited', exitCode: 3, signal: null, message: 'err\n' });
    expect(podOutcome(ended('Failed', { exitCode: 143 }))).toMatchObject({ termination: 'exited', exitCode: null, signal: 'SIGTERM' });
  });

  it('reads OOMKilled as memory_limit, DeadlineExceeded as wall_timeout, an ephemeral-storage eviction as file_limit', () => {
    expect(podOutcome(ended('Failed', { exitCode: 137, reason: 'OOMKilled' }))).toMatchObject({ termination: 'memory_limit', oomKilled: true, signal: 'SIGKILL' });
    expect(podOutcome(ended('Failed', { exitCode: 137 }, { reason: 'DeadlineExceeded' }))).toMatchObject({ termination: 'wall_timeout' });
    expect(podOutcome(ended('Failed', { exitCode: 137 }, { reason: 'Evicted', message: 'Usage of EmptyDir volume "box" exceeds the limit' }))).toMatchObject({ termination: 'file_limit' });
  });
});

describe('pod name', () => {
  it('is eo-run-<id> for a DNS-safe id, and a stable hash otherwise', () => {
    expect(podName('0191e8a0-0000-7000-8000-000000000000')).toBe('eo-run-0191e8a0-0000-7000-8000-000000000000');
    expect(podName('Exec_1')).toMatch(/^eo-run-[0-9a-f]{40}$/);
    expect(podName('Exec_1')).toBe(podName('Exec_1'));
  });
});
