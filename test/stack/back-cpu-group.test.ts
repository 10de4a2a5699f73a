// The back's CPU group on this host's real cgroupfs (as root: the stack's Kafka and the bench's worker and relay
// run in it). Each test uses a member of its own, so the stack's Kafka, up for the suite, is not touched.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectCgroupLayout } from '../../runners/local/cgroup';
import { BACK_GROUP_DIR, backCpuGroup, backCpuWeight, DEFAULT_BACK_CPU_WEIGHT, inBackGroup, leaveBackGroup, temporalInBack } from '../../stack/back-cpu-group';
import { pidFile } from '../../stack/paths';
import { waitFor } from '../../stack/wait';

/** The process's own dir in the hierarchy with the cpu controller, as the runner reads its own. */
const cpuCgroupOf = (pid: number): string | null => detectCgroupLayout(readFileSync(`/proc/${pid}/cgroup`, 'utf8')).cpu;

describe('EO_BACK_CPU_WEIGHT', () => {
  it('defaults to 10, takes 1-10000 or off, and names itself when it is neither', () => {
    const weight = (value?: string) => backCpuWeight(value === undefined ? {} : { EO_BACK_CPU_WEIGHT: value });
    expect(weight()).toBe(DEFAULT_BACK_CPU_WEIGHT);
    expect(weight('')).toBe(10);
    expect(weight('off')).toBe('off');
    expect(weight('250')).toBe(250);
    for (const bad of ['0', '10001', '2.5', 'low', '-1']) {
      expect(() => weight(bad)).toThrow(/^EO_BACK_CPU_WEIGHT must be an integer from 1 to 10000, or off \(got "/);
    }
  });
});

describe('the back CPU group', () => {
  const member = `test-${process.pid}`;
  afterAll(() => leaveBackGroup(member));

  it('holds a process from its first instruction, under the pid it was started with, and weighs what it was given', async () => {
    const group = backCpuGroup(10);
    if (!group.made) throw new Error(`the back group could not be made here: ${group.why}`);
    expect(group.dir.endsWith(`/${BACK_GROUP_DIR}`)).toBe(true);
    const shares = join(group.dir, 'cpu.shares');
    // v1 shares are v2 weights × 1024 / 100.
    expect(readFileSync(existsSync(shares) ? shares : join(group.dir, 'cpu.weight'), 'utf8').trim()).toBe(existsSync(shares) ? '102' : '10');

    const { command, args } = inBackGroup(group, member, '/bin/sleep', ['30']);
    const child = spawn(command, args, { stdio: 'ignore' });
    try {
      const pid = child.pid!;
      // The shell joins, then execs: same pid, the command's own command line.
      await waitFor('the shell to exec sleep', async () => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('/bin/sleep'), { deadlineMs: 5000, intervalMs: 10 });
      expect(cpuCgroupOf(pid)).toBe(join(group.dir, member));
      expect(readFileSync(join(group.dir, member, 'cgroup.procs'), 'utf8').trim().split('\n')).toContain(String(pid));
    } finally {
      child.kill('SIGKILL');
    }
    // Left at once after the kill, without waiting for the exit: the leaf may still be busy for a moment.
    await leaveBackGroup(member);
    expect(existsSync(join(group.dir, member))).toBe(false);
  });

  it('is not made when off, and then a command runs as given', () => {
    const group = backCpuGroup('off');
    expect(group).toEqual({ made: false, why: 'EO_BACK_CPU_WEIGHT=off' });
    expect(inBackGroup(group, member, '/bin/true', ['x'])).toEqual({ command: '/bin/true', args: ['x'] });
  });

  it('refuses a member name that is not a plain dir name', () => {
    const group = backCpuGroup(10);
    for (const bad of ['../escape', 'a/b', 'Upper', '']) expect(() => inBackGroup(group, bad, '/bin/true', [])).toThrow(/lowercase letters, digits and dashes only/);
  });

  it("holds the stack's Kafka, which the suite started, unless EO_BACK_CPU_WEIGHT=off", () => {
    const pid = Number(readFileSync(pidFile('kafka'), 'utf8').trim());
    expect(cpuCgroupOf(pid)?.endsWith(`/${BACK_GROUP_DIR}/kafka`)).toBe(backCpuWeight() !== 'off');
  });

  it("holds the stack's Temporal only when submissions do not wait on its start (SAGA_START=deferred, the default)", () => {
    expect(temporalInBack({ SAGA_START: 'deferred' })).toBe(true);
    expect(temporalInBack({ SAGA_START: 'inline' })).toBe(false);
    expect(temporalInBack({})).toBe(true); // deferred is the default
    // The suite's stack follows the suite's environment: its Temporal is in the back unless SAGA_START=inline.
    const pid = Number(readFileSync(pidFile('temporal'), 'utf8').trim());
    expect(cpuCgroupOf(pid)?.includes(`/${BACK_GROUP_DIR}/`)).toBe(temporalInBack() && backCpuWeight() !== 'off');
  });
});
