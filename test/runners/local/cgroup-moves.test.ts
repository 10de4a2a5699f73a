// The runner reports whether a run's cgroup joins wait for an RCU grace period: read from the mount options.
import { cgroupMovesFavored } from '../../../runners/local/cgroup';
import { createLocalRunner } from '../../../runners/local-runner';

const HYBRID = [
  'tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0',
  'cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0',
  'cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0',
  'cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0',
].join('\n');

describe('cgroupMovesFavored', () => {
  it('is false when no cgroup hierarchy is mounted with favordynmods', () => {
    expect(cgroupMovesFavored(HYBRID)).toBe(false);
  });

  it('is true when the unified hierarchy is (one hierarchy suffices: the lock is shared)', () => {
    expect(cgroupMovesFavored(HYBRID.replace('cgroup2 rw,relatime', 'cgroup2 rw,relatime,favordynmods'))).toBe(true);
  });

  it('is true when a v1 hierarchy is, and on a v2-only host', () => {
    expect(cgroupMovesFavored(HYBRID.replace('rw,relatime,pids', 'rw,relatime,pids,favordynmods'))).toBe(true);
    expect(cgroupMovesFavored('cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,favordynmods,memory_recursiveprot 0 0')).toBe(true);
  });

  it('reads only cgroup mounts, and whole options', () => {
    expect(cgroupMovesFavored('tmpfs /favordynmods tmpfs rw,favordynmods 0 0')).toBe(false);
    expect(cgroupMovesFavored('cgroup2 /sys/fs/cgroup cgroup2 rw,favordynmods_x 0 0')).toBe(false);
  });

  it('reads this host\'s mounts by default', () => {
    expect(typeof cgroupMovesFavored()).toBe('boolean');
  });

  it('is in the runner\'s start-up line, with what to do when moves may wait', async () => {
    const lines: Array<{ msg: string; fields?: Record<string, unknown> }> = [];
    const log = { info: (msg: string, fields?: Record<string, unknown>) => lines.push({ msg, fields }), warn: () => undefined };
    await createLocalRunner({ log }).close();
    const ready = lines.find(({ msg }) => msg === 'runner sandbox ready');
    expect(ready?.fields?.cgroupMoves).toMatch(cgroupMovesFavored() ? /^prompt \(favordynmods\)$/ : /RCU grace period: mount cgroup2 with favordynmods/);
  });
});
