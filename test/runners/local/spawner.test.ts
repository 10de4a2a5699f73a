import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { createSpawner } from '../../../runners/local/spawner';

const env = { PATH: '/usr/bin:/bin' };
const read = (socket: Socket) =>
  new Promise<string>((resolve, reject) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    socket.once('error', reject);
    socket.once('close', () => resolve(text));
  });
const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const spawner = createSpawner();
afterAll(() => spawner.close());

test("the process's stdio come back as sockets: stdin reaches it, every byte it writes at once reaches us, and its exit code", async () => {
  const launched = await spawner.launch({ file: '/bin/sh', args: ['-c', 'cat; printf "%s" "$(seq 1 2000)" >&2; exit 7'] }, { cwd: '/', env, stdio: 3 });
  expect(launched.pid).toBeGreaterThan(0);
  const [stdin, stdout, stderr] = launched.stdio as [Socket, Socket, Socket];
  const out = read(stdout);
  const err = read(stderr);
  stdin.end('through stdin\n');
  expect(await launched.exited).toEqual([7, null]);
  expect(await out).toBe('through stdin\n');
  const expected = Array.from({ length: 2000 }, (_, i) => i + 1).join('\n');
  expect(await err).toBe(expected);
});

test('forty processes at once that write before anyone reads: none of their output is lost between the host and us', async () => {
  const runs = await Promise.all(
    Array.from({ length: 40 }, (_, i) => spawner.launch({ file: '/bin/sh', args: ['-c', `echo run-${i}`] }, { cwd: undefined, env, stdio: 3 })),
  );
  const outputs = await Promise.all(
    runs.map(async (run) => {
      (run.stdio[0] as Socket).end();
      const [text, exit] = await Promise.all([read(run.stdio[1] as Socket), run.exited]);
      return `${text.trim()}:${exit[0]}`;
    }),
  );
  expect(outputs).toEqual(Array.from({ length: 40 }, (_, i) => `run-${i}:0`));
});

test('extra fds (as bwrap gets its seccomp program, script and status on 3, 4 and 5) are socket pairs both ways', async () => {
  const launched = await spawner.launch({ file: '/bin/sh', args: ['-c', 'cat <&3 >&5'] }, { cwd: '/', env, stdio: 6 });
  const status = read(launched.stdio[5] as Socket);
  (launched.stdio[3] as Socket).end('on fd 3');
  for (const fd of [0, 4]) (launched.stdio[fd] as Socket).end();
  expect(await launched.exited).toEqual([0, null]);
  expect(await status).toBe('on fd 3');
});

test("a signal's end is reported as the signal", async () => {
  const launched = await spawner.launch({ file: '/bin/sleep', args: ['30'] }, { cwd: '/', env, stdio: 3 });
  process.kill(-launched.pid, 'SIGKILL'); // its own process group
  expect(await launched.exited).toEqual([null, 'SIGKILL']);
});

test('a program that cannot start is refused with its errno', async () => {
  await expect(spawner.launch({ file: '/nonexistent/interpreter', args: [] }, { cwd: '/', env, stdio: 3 })).rejects.toMatchObject({ code: 'ENOENT' });
});

test('the host dying mid-run rejects the exit (its fate unknown) instead of hanging, and the next launch starts a new host', async () => {
  const own = createSpawner();
  try {
    const launched = await own.launch({ file: '/bin/sleep', args: ['30'] }, { cwd: '/', env, stdio: 3 });
    const hostPid = Number(/^PPid:\s+(\d+)/m.exec(await readFile(`/proc/${launched.pid}/status`, 'utf8'))![1]);
    expect(hostPid).not.toBe(process.pid); // forked by the host, not by us
    process.kill(hostPid, 'SIGKILL');
    await expect(launched.exited).rejects.toThrow(/the spawner host exited \(SIGKILL\) with the process still running/);
    process.kill(-launched.pid, 'SIGKILL');
    const next = await own.launch({ file: '/bin/true', args: [] }, { cwd: '/', env, stdio: 3 });
    expect(await next.exited).toEqual([0, null]);
    expect(isAlive(hostPid)).toBe(false);
  } finally {
    await own.close();
  }
});

test("Ctrl-C to the worker's process group (SIGINT, SIGTERM) does not end the host: a run goes on while the worker drains", async () => {
  const own = createSpawner();
  try {
    const launched = await own.launch({ file: '/bin/sleep', args: ['1'] }, { cwd: '/', env, stdio: 3 });
    const hostPid = Number(/^PPid:\s+(\d+)/m.exec(await readFile(`/proc/${launched.pid}/status`, 'utf8'))![1]);
    process.kill(hostPid, 'SIGINT');
    process.kill(hostPid, 'SIGTERM');
    expect(await launched.exited).toEqual([0, null]);
    expect(isAlive(hostPid)).toBe(true);
  } finally {
    await own.close();
  }
});

test('close returns once the host has exited, leaving a run it started to go on in its own session', async () => {
  const own = createSpawner();
  const launched = await own.launch({ file: '/bin/sleep', args: ['5'] }, { cwd: '/', env, stdio: 3 });
  const hostPid = Number(/^PPid:\s+(\d+)/m.exec(await readFile(`/proc/${launched.pid}/status`, 'utf8'))![1]);
  try {
    await own.close();
    expect(isAlive(hostPid)).toBe(false);
    expect(isAlive(launched.pid)).toBe(true);
  } finally {
    process.kill(launched.pid, 'SIGKILL');
  }
});
