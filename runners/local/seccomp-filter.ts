/**
 * The seccomp filter every sandboxed run gets (bwrap `--seccomp <fd>`): a classic-BPF program built
 * here, so no libseccomp is needed at build or run time. x86_64 only; on other architectures the
 * runner's start-up probe fails rather than run without it.
 *
 * A deny-list, not an allow-list: interpreters and whatever scripts start (pip-installed binaries,
 * compilers) use a long, changing set of syscalls, while the calls worth refusing are few and stable.
 * The namespaces, the unprivileged uid and the cgroup carry most of the isolation; the filter closes
 * what they leave open (kernel attack surface such as io_uring and bpf, vsock to the hypervisor,
 * mounting inside the sandbox's own user namespace, ptrace between the run's own processes).
 */

/** `AUDIT_ARCH_X86_64`: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE. */
const AUDIT_ARCH_X86_64 = 0xc000003e;
/** Syscall numbers at or above this are the x32 ABI, which would bypass a table keyed by x86_64 numbers. */
const X32_SYSCALL_BIT = 0x40000000;

const RET_KILL_PROCESS = 0x80000000;
const RET_ERRNO = 0x00050000;
const RET_ALLOW = 0x7fff0000;

const EPERM = 1;
const ENOSYS = 38;
const EAFNOSUPPORT = 97;

/** Offsets into `struct seccomp_data`: nr (u32), arch (u32), instruction_pointer (u64), args[6] (u64). */
const NR_OFFSET = 0;
const ARCH_OFFSET = 4;
/** The low 32 bits of argument `i` (little-endian): every argument checked here is an int or flag word. */
const argLow = (i: number): number => 16 + 8 * i;

/** Refused with EPERM: no script needs them, and each is either a way out or kernel attack surface. */
export const DENIED_SYSCALLS: Readonly<Record<string, number>> = Object.freeze({
  // mounts and namespaces: the sandbox's user namespace would otherwise allow them
  mount: 165, umount2: 166, pivot_root: 155, chroot: 161, setns: 308, unshare: 272,
  fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, move_mount: 429, open_tree: 428,
  mount_setattr: 442, open_tree_attr: 467,
  // looking into or steering other processes
  ptrace: 101, process_vm_readv: 310, process_vm_writev: 311, kcmp: 312, pidfd_getfd: 438,
  // kernel attack surface with a record of privilege escalations
  bpf: 321, perf_event_open: 298, userfaultfd: 323, io_uring_setup: 425, io_uring_enter: 426,
  io_uring_register: 427, keyctl: 250, add_key: 248, request_key: 249,
  // host administration: refused by capabilities already, refused here without reaching the code
  kexec_load: 246, kexec_file_load: 320, init_module: 175, finit_module: 313, delete_module: 176,
  open_by_handle_at: 304, name_to_handle_at: 303, lookup_dcookie: 212, quotactl: 179,
  quotactl_fd: 443, syslog: 103, acct: 163, swapon: 167, swapoff: 168, reboot: 169, iopl: 172,
  ioperm: 173, settimeofday: 164, clock_settime: 227, clock_adjtime: 305, adjtimex: 159,
  sethostname: 170, setdomainname: 171, personality: 135, vhangup: 153, nfsservctl: 180,
  uselib: 134, _sysctl: 156, ustat: 136, sysfs: 139, fanotify_init: 300,
  // NUMA page placement: moves other processes' pages (move_pages, migrate_pages)
  move_pages: 279, mbind: 237, set_mempolicy: 238, migrate_pages: 256,
});

const SYS_CLONE = 56;
const SYS_CLONE3 = 435;
const SYS_SOCKET = 41;
const SYS_IOCTL = 16;

/**
 * CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
 * CLONE_NEWNET | CLONE_NEWTIME: a clone asking for any of these is refused (threads and forks pass).
 */
const CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;

/**
 * Socket families a script may open: AF_UNIX, AF_INET, AF_INET6 (harmless in an empty network
 * namespace) and AF_NETLINK (`os.networkInterfaces()` and `socket.if_nameindex()` need it).
 * Everything else (AF_VSOCK reaches the hypervisor, AF_PACKET, AF_ALG, …) gets EAFNOSUPPORT, which
 * programs already handle as "not built into this kernel".
 */
export const ALLOWED_SOCKET_FAMILIES: readonly number[] = [1, 2, 10, 16];

/** TIOCSTI and TIOCLINUX push input into a terminal; there is none in a run, but a filter costs nothing. */
const DENIED_IOCTLS = [0x5412, 0x541c];

// Classic BPF opcodes (linux/bpf_common.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;

interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const ins = (code: number, k: number, jt = 0, jf = 0): Instruction => ({ code, jt, jf, k });
const ret = (value: number): Instruction => ins(RET_K, value);
const errno = (code: number): Instruction => ret(RET_ERRNO | code);

/**
 * A block that applies only to syscall `nr`: when the number matches, `body` runs; otherwise it is
 * jumped over with the syscall number still in A. Every path through `body` ends in a return, so
 * blocks compose in any order.
 */
function onSyscall(nr: number, body: Instruction[]): Instruction[] {
  if (body.length > 255) throw new Error('seccomp block too long for a classic-BPF jump');
  return [ins(JEQ_K, nr, 0, body.length), ...body];
}

/**
 * The filter as the bytes of a `struct sock_filter[]` (8 bytes per instruction, little-endian),
 * the format bwrap's `--seccomp` reads.
 */
export function buildSeccompFilter(): Buffer {
  const program: Instruction[] = [
    ins(LD_W_ABS, ARCH_OFFSET),
    ins(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
    ret(RET_KILL_PROCESS),
    ins(LD_W_ABS, NR_OFFSET),
    ins(JGE_K, X32_SYSCALL_BIT, 0, 1),
    ret(RET_KILL_PROCESS),
  ];
  for (const nr of Object.values(DENIED_SYSCALLS)) program.push(...onSyscall(nr, [errno(EPERM)]));
  // clone3 passes its flags in memory, out of a filter's reach: ENOSYS makes glibc fall back to clone.
  program.push(...onSyscall(SYS_CLONE3, [errno(ENOSYS)]));
  program.push(
    ...onSyscall(SYS_CLONE, [ins(LD_W_ABS, argLow(0)), ins(JSET_K, CLONE_NAMESPACE_FLAGS, 0, 1), errno(EPERM), ret(RET_ALLOW)]),
  );
  const families = ALLOWED_SOCKET_FAMILIES;
  program.push(
    ...onSyscall(SYS_SOCKET, [
      ins(LD_W_ABS, argLow(0)),
      // one comparison per allowed family: a match jumps to ALLOW (the instruction after the last test)
      ...families.map((family, i) => ins(JEQ_K, family, families.length - i, 0)),
      errno(EAFNOSUPPORT),
      ret(RET_ALLOW),
    ]),
  );
  program.push(
    ...onSyscall(SYS_IOCTL, [
      ins(LD_W_ABS, argLow(1)),
      ...DENIED_IOCTLS.map((request, i) => ins(JEQ_K, request, DENIED_IOCTLS.length - i, 0)),
      ret(RET_ALLOW),
      errno(EPERM),
    ]),
  );
  program.push(ret(RET_ALLOW));

  const bytes = Buffer.alloc(program.length * 8);
  program.forEach(({ code, jt, jf, k }, i) => {
    bytes.writeUInt16LE(code, i * 8);
    bytes.writeUInt8(jt, i * 8 + 2);
    bytes.writeUInt8(jf, i * 8 + 3);
    bytes.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return bytes;
}
