import { ALLOWED_SOCKET_FAMILIES, DENIED_SYSCALLS, buildSeccompFilter } from '../../../runners/local/seccomp-filter';

/** The program as (code, jt, jf, k) tuples. */
function decode(bytes: Buffer): Array<[number, number, number, number]> {
  const program: Array<[number, number, number, number]> = [];
  for (let i = 0; i < bytes.length; i += 8) program.push([bytes.readUInt16LE(i), bytes.readUInt8(i + 2), bytes.readUInt8(i + 3), bytes.readUInt32LE(i + 4)]);
  return program;
}

/** A classic-BPF interpreter for the few instructions the filter uses: what the kernel would return. */
function evaluate(bytes: Buffer, data: { nr: number; arch?: number; args?: number[] }): number {
  const program = decode(bytes);
  const word = (offset: number): number => {
    if (offset === 0) return data.nr;
    if (offset === 4) return data.arch ?? 0xc000003e;
    return data.args?.[(offset - 16) / 8] ?? 0;
  };
  let a = 0;
  for (let pc = 0; pc < program.length; ) {
    const [code, jt, jf, k] = program[pc]!;
    if (code === 0x20) a = word(k);
    else if (code === 0x06) return k;
    else if (code === 0x15) pc += a === k ? jt : jf;
    else if (code === 0x35) pc += a >= k ? jt : jf;
    else if (code === 0x45) pc += (a & k) !== 0 ? jt : jf;
    else throw new Error(`unexpected opcode ${code}`);
    pc += 1;
  }
  throw new Error('fell off the end of the program');
}

const ALLOW = 0x7fff0000;
const errno = (n: number) => 0x00050000 | n;
const KILL = 0x80000000;

describe('the seccomp filter', () => {
  const filter = buildSeccompFilter();

  it('is a whole number of 8-byte instructions, short enough for the kernel', () => {
    expect(filter.length % 8).toBe(0);
    expect(filter.length / 8).toBeLessThan(4096);
  });

  it('kills a process calling in with another architecture or through the x32 ABI', () => {
    expect(evaluate(filter, { nr: 0, arch: 0x40000003 /* i386 */ })).toBe(KILL);
    expect(evaluate(filter, { nr: 0x40000000 + 165 })).toBe(KILL);
  });

  it('refuses every denied syscall with EPERM and allows ordinary ones', () => {
    for (const nr of Object.values(DENIED_SYSCALLS)) expect(evaluate(filter, { nr })).toBe(errno(1));
    for (const nr of [0, 1, 2, 9, 57, 59, 60, 231]) expect(evaluate(filter, { nr })).toBe(ALLOW); // read write open mmap fork execve exit exit_group
  });

  it('lets clone make threads and processes but not namespaces, and sends clone3 back to clone', () => {
    expect(evaluate(filter, { nr: 56, args: [0x003d0f00] })).toBe(ALLOW); // pthread_create's flags
    expect(evaluate(filter, { nr: 56, args: [0x10000000 | 0x11] })).toBe(errno(1)); // CLONE_NEWUSER
    expect(evaluate(filter, { nr: 56, args: [0x40000000] })).toBe(errno(1)); // CLONE_NEWNET
    expect(evaluate(filter, { nr: 435 })).toBe(errno(38));
  });

  it('allows only unix, inet, inet6 and netlink sockets', () => {
    for (const family of ALLOWED_SOCKET_FAMILIES) expect(evaluate(filter, { nr: 41, args: [family] })).toBe(ALLOW);
    for (const family of [17 /* packet */, 38 /* alg */, 40 /* vsock */, 44, 1000]) expect(evaluate(filter, { nr: 41, args: [family] })).toBe(errno(97));
  });

  it('refuses the ioctls that inject terminal input', () => {
    expect(evaluate(filter, { nr: 16, args: [0, 0x5412] })).toBe(errno(1));
    expect(evaluate(filter, { nr: 16, args: [0, 0x541c] })).toBe(errno(1));
    expect(evaluate(filter, { nr: 16, args: [0, 0x5401] })).toBe(ALLOW); // TCGETS
  });
});
