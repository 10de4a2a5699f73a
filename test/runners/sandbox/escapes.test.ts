// Each hostile script here tries one way out of its run. Every one of them worked against the runner
// before the sandbox (see issue 7): they are the sandbox's acceptance tests.
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalRunner } from '../../../runners/local-runner';
import { projectRoot } from '../../../project-root';
import { pidsOfRun } from '../../support/processes';
import { findings, nextExecutionId, runIn } from './sandbox-support';

const SECRET = `worker-secret-${process.pid}`;
process.env.EO_SANDBOX_TEST_SECRET = SECRET;
const runner = createLocalRunner({ heartbeatIntervalMs: 50 });

let server: Server;
let port: number;
beforeAll(async () => {
  server = createServer((socket) => socket.end('hello from the host')).listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await runner.close();
  server.close();
  delete process.env.EO_SANDBOX_TEST_SECRET;
});

/** Python that prints whether each probe raised, as JSON: `{"name": "ok" | "<errno name or message>"}`. */
function pythonProbes(probes: Record<string, string>): string {
  const lines = Object.entries(probes).map(
    ([name, code]) => `try:\n    ${code}\n    out[${JSON.stringify(name)}] = "ok"\nexcept OSError as e:\n    out[${JSON.stringify(name)}] = errno.errorcode.get(e.errno, str(e))`,
  );
  return ['import errno, json, os, socket, ctypes', 'out = {}', ...lines, 'print(json.dumps(out))'].join('\n');
}

describe('a hostile script in the sandbox', () => {
  it('cannot connect to a port on the host’s loopback', async () => {
    const result = await runIn(runner, 'python', pythonProbes({ connect: `socket.create_connection(("127.0.0.1", ${port}), timeout=3)` }));
    expect(findings(result).connect).not.toBe('ok');
  });

  it('cannot enter the worker’s network namespace with nsenter, nor see the worker’s process to try', async () => {
    const script = `ls /proc/${process.pid} >/dev/null 2>&1 && echo worker-visible
for pid in /proc/[0-9]*; do nsenter --net="$pid/ns/net" -- true 2>/dev/null && echo "entered $pid"; done
nsenter --net=/proc/${process.pid}/ns/net -- true 2>/dev/null && echo entered-worker
echo done`;
    const result = await runIn(runner, 'bash', script);
    expect(result.stdout).toBe('done\n');
  });

  it('sees only its own run’s processes in /proc', async () => {
    const result = await runIn(runner, 'bash', 'sleep 5 & ls -d /proc/[0-9]* | wc -l; kill %1');
    // bwrap's pid 1, bash, its command substitution shell or ls, and the sleep
    expect(Number(result.stdout.trim())).toBeLessThanOrEqual(5);
  });

  it('cannot read another process’s environment: the only others are its own, and bwrap’s pid 1 has an empty one', async () => {
    const script = `import glob, json
seen = {}
for path in glob.glob("/proc/[0-9]*/environ"):
    try:
        seen[path] = open(path, "rb").read().decode(errors="replace")
    except OSError as e:
        seen[path] = "unreadable"
print(json.dumps(seen))`;
    const seen = findings<Record<string, string>>(await runIn(runner, 'python', script));
    expect(seen['/proc/1/environ']).toBe('');
    expect(Object.values(seen).some((env) => env.includes(SECRET))).toBe(false);
  });

  it('is not root and holds no capability, inside or outside its namespace', async () => {
    const executionId = nextExecutionId();
    const running = runIn(runner, 'bash', 'id -u; grep -E "^Cap(Eff|Prm|Bnd|Amb)" /proc/self/status; sleep 1');
    const hostUids = await waitForRun(executionId, (pid) => /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    const result = await running;
    const [uid, ...caps] = result.stdout.trim().split('\n');
    expect(uid).toBe('1000');
    expect(caps).toEqual(['CapPrm:\t0000000000000000', 'CapEff:\t0000000000000000', 'CapBnd:\t0000000000000000', 'CapAmb:\t0000000000000000']);
    // Seen from the host, every process of the run belongs to nobody.
    expect(new Set(hostUids)).toEqual(new Set(['65534']));
  });

  it('cannot read /etc/shadow or any of the service’s files', async () => {
    const result = await runIn(
      runner,
      'python',
      pythonProbes({
        shadow: 'open("/etc/shadow").read()',
        passwd: 'open("/etc/passwd").read()',
        service: `open(${JSON.stringify(join(projectRoot(), 'package.json'))}).read()`,
        root: 'os.listdir("/root")',
        home: 'os.listdir("/home")',
      }),
    );
    expect(findings(result)).toEqual({ shadow: 'ENOENT', passwd: 'ENOENT', service: 'ENOENT', root: 'ENOENT', home: 'ENOENT' });
  });

  it('cannot write anywhere outside its own run, and its /tmp is not the host’s', async () => {
    const marker = `eo-sandbox-marker-${process.pid}`;
    const result = await runIn(
      runner,
      'python',
      pythonProbes({
        usr: 'open("/usr/bin/eo-x", "w")',
        etc: 'open("/etc/eo-x", "w")',
        root: 'open("/eo-x", "w")',
        dev: 'open("/dev/eo-x", "w")',
        sysrq: 'open("/proc/sysrq-trigger", "w").write("h")',
        interpreter: 'open("/usr/bin/python3", "a")',
        tmp: `open("/tmp/${marker}", "w").write("x")`,
        box: 'open("/box/out", "w").write("x")',
      }),
    );
    const { sysrq, ...rest } = findings(result);
    expect(rest).toEqual({ usr: 'EROFS', etc: 'EROFS', root: 'EROFS', dev: 'EROFS', interpreter: 'EACCES', tmp: 'ok', box: 'ok' });
    expect(sysrq).not.toBe('ok');
    expect(existsSync(join(tmpdir(), marker))).toBe(false);
    expect(existsSync(join('/tmp', marker))).toBe(false);
  });

  it('cannot mount anything, not even over its own /tmp', async () => {
    const result = await runIn(
      runner,
      'python',
      pythonProbes({
        mount: 'libc = ctypes.CDLL(None, use_errno=True)\n    if libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) != 0: raise OSError(ctypes.get_errno(), "mount")',
      }),
    );
    expect(findings(result).mount).toBe('EPERM');
    const cli = await runIn(runner, 'bash', 'mount -t tmpfs none /tmp && echo mounted || echo refused');
    expect(cli.stdout).toContain('refused');
  });

  it('cannot create a user namespace (or any other)', async () => {
    const result = await runIn(
      runner,
      'python',
      pythonProbes({
        unshare: 'libc = ctypes.CDLL(None, use_errno=True)\n    if libc.unshare(0x10000000) != 0: raise OSError(ctypes.get_errno(), "unshare")',
        cloneNewNet: 'libc = ctypes.CDLL(None, use_errno=True)\n    if libc.unshare(0x40000000) != 0: raise OSError(ctypes.get_errno(), "unshare")',
      }),
    );
    expect(findings(result)).toEqual({ unshare: 'EPERM', cloneNewNet: 'EPERM' });
    const cli = await runIn(runner, 'bash', 'unshare -U -r true && echo created || echo refused');
    expect(cli.stdout).toContain('refused');
  });

  it('cannot open AF_VSOCK (the hypervisor) or AF_PACKET sockets, while unix, inet and netlink still work', async () => {
    const result = await runIn(
      runner,
      'python',
      pythonProbes({
        vsock: 'socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)',
        packet: 'socket.socket(socket.AF_PACKET, socket.SOCK_RAW)',
        alg: 'socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET)',
        unix: 'socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
        inet: 'socket.socket(socket.AF_INET, socket.SOCK_STREAM)',
        netlink: 'socket.if_nameindex()',
      }),
    );
    expect(findings(result)).toEqual({ vsock: 'EAFNOSUPPORT', packet: 'EAFNOSUPPORT', alg: 'EAFNOSUPPORT', unix: 'ok', inet: 'ok', netlink: 'ok' });
  });

  it('cannot ptrace, not even its own children', async () => {
    const result = await runIn(
      runner,
      'python',
      pythonProbes({
        traceme: 'libc = ctypes.CDLL(None, use_errno=True)\n    if libc.ptrace(0, 0, 0, 0) != 0: raise OSError(ctypes.get_errno(), "ptrace")',
      }),
    );
    expect(findings(result).traceme).toBe('EPERM');
  });

  it('sees the hostname “sandbox”, not the host’s', async () => {
    expect((await runIn(runner, 'bash', 'hostname')).stdout).toBe('sandbox\n');
  });
});

describe('ordinary scripts in the sandbox', () => {
  it('node can list its network interfaces, start a worker thread and run a child process', async () => {
    const script = `const os = require('node:os');
const { execSync } = require('node:child_process');
const { Worker } = require('node:worker_threads');
const w = new Worker('require("node:worker_threads").parentPort.postMessage(6 * 7)', { eval: true });
w.on('message', (answer) => {
  console.log(JSON.stringify({ interfaces: Object.keys(os.networkInterfaces()), child: execSync('echo child').toString().trim(), answer }));
  w.terminate();
});`;
    const result = await runIn(runner, 'node', script);
    expect(findings(result)).toEqual({ interfaces: ['lo'], child: 'child', answer: 42 });
  });

  it('python can use subprocess, multiprocessing and threads', async () => {
    const script = `import json, multiprocessing, subprocess, threading
out = {"sub": subprocess.run(["echo", "sub"], capture_output=True, text=True).stdout.strip()}
with multiprocessing.Pool(2) as pool:
    out["pool"] = pool.map(abs, [-1, -2, -3])
t = threading.Thread(target=lambda: out.update(thread=True)); t.start(); t.join()
print(json.dumps(out))`;
    const result = await runIn(runner, 'python', script);
    expect(findings(result)).toEqual({ sub: 'sub', pool: [1, 2, 3], thread: true });
  });
});

/** Polls the run's processes until it has some, and maps each with `read` (host-side view). */
async function waitForRun<T>(executionId: string, read: (pid: number) => T | undefined): Promise<T[]> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const pids = pidsOfRun(executionId);
    if (pids.length >= 3) {
      const values = pids.map((pid) => {
        try {
          return read(pid);
        } catch {
          return undefined; // exited meanwhile
        }
      });
      return values.filter((v): v is T => v !== undefined);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`run ${executionId} never had processes`);
}
