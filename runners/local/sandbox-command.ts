import { basename } from 'node:path';
import type { RunLimits } from '../runner';

/** The helper binaries a sandboxed run is started through (all from util-linux but bwrap and sh). */
export interface SandboxTools {
  sh: string;
  setpriv: string;
  prlimit: string;
  bwrap: string;
}

export const DEFAULT_SANDBOX_TOOLS: Readonly<SandboxTools> = Object.freeze({
  sh: '/bin/sh',
  setpriv: '/usr/bin/setpriv',
  prlimit: '/usr/bin/prlimit',
  bwrap: '/usr/bin/bwrap',
});

/** The file descriptors of a sandboxed run beyond stdio (see {@link buildLauncherCommand}). */
export const SECCOMP_FD = 3;
export const SCRIPT_FD = 4;
export const STATUS_FD = 5;
/** Where a prepared launcher reads its start order: a shell line, then bwrap's arguments for `--args`. */
export const START_FD = 6;
/** How many fds a sandboxed run's process is given: stdio and the four above. */
export const SANDBOX_FDS = 7;

/** The uid and gid a script has inside its sandbox: not root, the same in every run. */
export const SANDBOX_UID = 1000;
/** Hostname inside the sandbox: the host's name is nobody's business. */
export const SANDBOX_HOSTNAME = 'sandbox';
/** The script's working dir (and HOME) inside the sandbox. */
export const SANDBOX_WORK_DIR = '/box';
/** Size of the sandbox's /dev/shm, bytes (POSIX semaphores and Python's multiprocessing need one). */
const DEV_SHM_BYTES = 16 * 1024 * 1024;

/** Where an interpreter from outside /usr appears in the sandbox. */
const OUTSIDE_USR_INTERPRETERS = '/opt/runtime/bin';

/** The PATH a script sees. */
export const SANDBOX_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * What the interpreters need of the host, read-only. /usr holds them and their libraries (Debian
 * has merged /usr, so /bin, /lib, /lib64 and /sbin are symlinks into it); of /etc only what the
 * dynamic linker, the alternatives symlinks, TLS and time zones read. Nothing else of the host: no
 * /home, /root, /var, /run, /sys, no other /etc file (passwd, shadow, hosts, the service's config).
 */
const BASE_VIEW: readonly string[] = [
  '--ro-bind', '/usr', '/usr',
  '--symlink', 'usr/bin', '/bin',
  '--symlink', 'usr/lib', '/lib',
  '--symlink', 'usr/lib64', '/lib64',
  '--symlink', 'usr/sbin', '/sbin',
  '--ro-bind-try', '/etc/alternatives', '/etc/alternatives',
  '--ro-bind-try', '/etc/ld.so.cache', '/etc/ld.so.cache',
  '--ro-bind-try', '/etc/ssl', '/etc/ssl',
  '--ro-bind-try', '/etc/localtime', '/etc/localtime',
];

export interface Command {
  file: string;
  args: string[];
}

/** RLIMIT_CPU soft limit, whole seconds: the kernel counts CPU time in seconds. */
export function cpuLimitSeconds(limits: RunLimits): number {
  return Math.max(1, Math.ceil(limits.cpuTimeMs / 1000));
}

export interface LauncherCommandInput {
  tools: SandboxTools;
  /** `cgroup.procs` files the launcher joins before anything else runs (one per cgroup hierarchy). */
  cgroupProcs: readonly string[];
  /** The unprivileged host uid/gid bwrap runs as, when the worker is root; null when it is not root. */
  hostUser: { uid: number; gid: number } | null;
}

/**
 * A launcher: the process a sandboxed run becomes, started before the run is known. Builds
 * `sh -c <join cgroups> [setpriv <unprivileged>] sh -c <read the start order from fd 6; eval it>`, each stage
 * exec'ing the next. It must be spawned with an empty environment: bwrap's own pid 1 in the sandbox keeps
 * bwrap's environment, and `--clearenv` does not reach it.
 *
 * - The first shell writes its pid into every cgroup before exec'ing: everything after is born inside the
 *   run's cgroups, so no process of the run ever escapes the kill or the limits. Each such move may wait
 *   for an RCU grace period (~10 ms, cgroup.ts `cgroupMovesFavored`); a launcher prepared ahead of its run
 *   pays it before the run is asked for (prepared-sandboxes.ts).
 * - setpriv: bwrap started as root maps the sandbox user to host root, and host root's files (0600 ones
 *   included) pass the owner check; as an unprivileged host uid they do not.
 * - The second shell then blocks on {@link START_FD} until the run's start order
 *   ({@link buildSandboxStart}) arrives, and runs it.
 */
export function buildLauncherCommand(input: LauncherCommandInput): Command {
  const { tools } = input;
  const joins = input.cgroupProcs.map((_, i) => `echo $$ >"$${i + 1}"`);
  const joinScript = [...joins, `shift ${input.cgroupProcs.length}`, 'exec "$@"'].join(' && ');
  const drop = input.hostUser
    ? [tools.setpriv, `--reuid=${input.hostUser.uid}`, `--regid=${input.hostUser.gid}`, '--clear-groups', '--']
    : [];
  // `read` takes the line a byte at a time, so bwrap's arguments after it are left in the socket for bwrap.
  const waitScript = `read -r start <&${START_FD} && eval "$start"`;
  return { file: tools.sh, args: ['-c', joinScript, 'sh', ...input.cgroupProcs, ...drop, tools.sh, '-c', waitScript, 'sh'] };
}

export interface SandboxStartInput {
  tools: SandboxTools;
  limits: RunLimits;
  /** Size of each of the run's tmpfs (/box and /tmp), bytes. */
  scratchBytes: number;
  /** The interpreter (a real path) and its arguments. */
  argv: readonly string[];
  /** Environment inside the sandbox besides PATH, HOME, TMPDIR and LANG. */
  env: Readonly<Record<string, string>>;
  /** The script's file name in /box, read from {@link SCRIPT_FD}; null for a command without a script (the start-up probe). */
  scriptName: string | null;
}

/** What a launcher is sent on {@link START_FD}: a shell line, then bwrap's options NUL-separated. */
export interface SandboxStart {
  /** `ulimit …; exec bwrap --args 6 -- <interpreter> <args>`, newline-terminated. */
  shellLine: string;
  /** Every bwrap option (`--args` reads them to the end of the stream): no quoting, any bytes but NUL. */
  bwrapArgs: Buffer;
}

/**
 * The start order of one run, for a launcher ({@link buildLauncherCommand}) in the run's cgroups:
 *
 * - the shell's ulimit: RLIMIT_CPU (SIGXCPU at S, SIGKILL at S+1; the cgroup's total CPU time is watched by
 *   the runner as well), RLIMIT_FSIZE, no core dumps (lowering them needs no privilege). Memory and
 *   processes are the cgroup's.
 * - bwrap: new user, pid, mount, network, ipc, uts and cgroup namespaces; no further user namespaces; no
 *   capabilities; uid 1000; `--new-session` (no TIOCSTI into the worker's terminal); the seccomp filter from
 *   {@link SECCOMP_FD}; the script from {@link SCRIPT_FD}; status JSON (child pid, exit code) on
 *   {@link STATUS_FD}. Its options go through `--args` (read to the stream's end, then closed), the command
 *   after `--` on its command line (bwrap 0.8 takes no command from `--args`).
 */
export function buildSandboxStart(input: SandboxStartInput): SandboxStart {
  const { tools, limits } = input;
  const cpuSeconds = cpuLimitSeconds(limits);
  // The soft CPU limit before the hard one (a soft above the hard is refused); RLIMIT_FSIZE in 512-byte blocks.
  const rlimits = [`ulimit -S -t ${cpuSeconds}`, `ulimit -H -t ${cpuSeconds + 1}`, `ulimit -f ${Math.floor(limits.maxFileSizeBytes / 512)}`, 'ulimit -c 0'];

  // An interpreter outside /usr (node from the `node` npm package) is bound alone, read-only, under
  // /opt/runtime: the sandbox sees that one file, not the host path it came from.
  const [interpreter, ...interpreterArgs] = input.argv as [string, ...string[]];
  const inside = interpreter.startsWith('/usr/') ? interpreter : `${OUTSIDE_USR_INTERPRETERS}/${basename(interpreter)}`;
  const interpreterBind = inside === interpreter ? [] : ['--ro-bind', interpreter, inside];
  const env = { PATH: SANDBOX_PATH, HOME: SANDBOX_WORK_DIR, TMPDIR: '/tmp', LANG: 'C.UTF-8', ...input.env };
  const scratch = String(Math.floor(input.scratchBytes));
  const options = [
    '--unshare-user', '--uid', String(SANDBOX_UID), '--gid', String(SANDBOX_UID), '--disable-userns',
    '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
    '--hostname', SANDBOX_HOSTNAME,
    '--die-with-parent', '--new-session', '--cap-drop', 'ALL',
    '--clearenv', ...Object.entries(env).flatMap(([name, value]) => ['--setenv', name, value]),
    ...BASE_VIEW,
    ...interpreterBind,
    '--proc', '/proc',
    '--dev', '/dev', '--size', String(DEV_SHM_BYTES), '--tmpfs', '/dev/shm', '--remount-ro', '/dev',
    '--size', scratch, '--tmpfs', '/tmp',
    '--size', scratch, '--tmpfs', SANDBOX_WORK_DIR,
    ...(input.scriptName ? ['--perms', '0644', '--file', String(SCRIPT_FD), `${SANDBOX_WORK_DIR}/${input.scriptName}`] : []),
    // Last, after every mount point and the script exist: the root tmpfs bwrap built becomes read-only.
    '--remount-ro', '/',
    '--chdir', SANDBOX_WORK_DIR,
    '--seccomp', String(SECCOMP_FD),
    '--json-status-fd', String(STATUS_FD),
  ];
  for (const option of options) if (option.includes('\0')) throw new Error(`a sandbox option holds a NUL byte: ${JSON.stringify(option)}`);
  // The shell unsets PWD, which it exports on its own (the spawner's cwd): bwrap's pid 1 inherits nothing.
  const exec = ['exec', ...[tools.bwrap, '--args', String(START_FD), '--', inside, ...interpreterArgs].map(shellWord)].join(' ');
  const shellLine = `${[...rlimits, 'unset PWD', exec].join(' && ')}\n`;
  return { shellLine, bwrapArgs: Buffer.from(options.map((option) => `${option}\0`).join(''), 'utf8') };
}

/** One word for the launcher's `eval`: single-quoted. A newline would end the launcher's `read`: refused. */
export function shellWord(word: string): string {
  if (word.includes('\n') || word.includes('\0')) throw new Error(`a sandbox command word holds a newline or NUL: ${JSON.stringify(word)}`);
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

export interface DirectCommandInput {
  prlimit: string;
  limits: RunLimits;
  argv: readonly string[];
  /** RLIMIT_NPROC counts every process of the uid and root ignores it: only for a non-root worker. */
  applyProcessLimit: boolean;
  /** Whether RLIMIT_AS may bound the interpreter's memory (see `RuntimeDefinition.addressSpaceLimit`). */
  limitAddressSpace: boolean;
}

/**
 * `RUNNER_SANDBOX=none`: `prlimit <limits> -- <argv>` in a private run dir on the host, as the
 * worker's own user. Memory is RLIMIT_AS (per process) since there is no cgroup to hold it.
 */
export function buildDirectCommand(input: DirectCommandInput): Command {
  const { limits } = input;
  const cpuSeconds = cpuLimitSeconds(limits);
  const args = [`--cpu=${cpuSeconds}:${cpuSeconds + 1}`, `--fsize=${Math.floor(limits.maxFileSizeBytes)}`, '--core=0'];
  if (input.limitAddressSpace) args.push(`--as=${Math.floor(limits.memoryMb * 1024 * 1024)}`);
  if (input.applyProcessLimit) args.push(`--nproc=${Math.floor(limits.maxProcesses)}`);
  return { file: input.prlimit, args: [...args, '--', ...input.argv] };
}
