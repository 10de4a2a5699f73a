import { BlockList, isIP } from 'node:net';

/**
 * Which addresses a completion webhook may connect to. Refused by default: every address that is not on
 * the public internet — private, loopback, link-local (cloud metadata at 169.254.169.254 included),
 * shared/CGNAT, "this network", multicast, reserved, documentation and benchmarking ranges, and their IPv6
 * counterparts (loopback, unspecified, unique-local, link-local, site-local, multicast, documentation). An
 * IPv6 address that carries an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible, NAT64 `64:ff9b::/96`,
 * 6to4 `2002::/16`) is judged by the IPv4 address inside. Networks named in `allowed` (config
 * `WEBHOOK_ALLOWED_NETWORKS`) are let through even when they fall in a refused range.
 */
export interface AddressPolicy {
  /** Why the address is refused, or null when a webhook may connect to it. */
  refusalOf(address: string): string | null;
}

const REFUSED_V4: Array<[string, number, string]> = [
  ['0.0.0.0', 8, 'this network'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared (CGNAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, '6to4 relay anycast'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

const REFUSED_V6: Array<[string, number, string]> = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['100::', 64, 'discard-only'],
  ['2001:db8::', 32, 'documentation'],
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
];

/** A CIDR (`10.1.0.0/16`, `::1/128`) or a bare address; throws on anything else. */
export function parseNetwork(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [address, prefixText, extra] = text.trim().split('/');
  const version = isIP(address ?? '');
  if (!address || version === 0 || extra !== undefined) throw new Error(`"${text}" is not an IP network (address/prefix)`);
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new Error(`"${text}": the prefix must be 0-${max}`);
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** The 8 groups of an IPv6 address as numbers (handles `::` and a trailing dotted IPv4). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase().split('%')[0]!;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

const v4FromGroups = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;

/** The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), if any. */
export function embeddedIpv4(address: string): string | null {
  const g = ipv6Groups(address);
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && g[5] === 0xffff) return v4FromGroups(g[6]!, g[7]!); // ::ffff:a.b.c.d
  if (zeros(0, 6) && (g[6]! !== 0 || g[7]! > 1)) return v4FromGroups(g[6]!, g[7]!); // ::a.b.c.d (deprecated)
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return v4FromGroups(g[6]!, g[7]!); // NAT64
  if (g[0] === 0x2002) return v4FromGroups(g[1]!, g[2]!); // 6to4
  return null;
}

/** The policy for the given allowed networks (CIDRs). */
export function createAddressPolicy(allowed: readonly string[] = []): AddressPolicy {
  const allow = new BlockList();
  for (const network of allowed.map(parseNetwork)) allow.addSubnet(network.address, network.prefix, network.family);
  const refusedV4 = REFUSED_V4.map(([net, prefix, why]) => {
    const list = new BlockList();
    list.addSubnet(net, prefix, 'ipv4');
    return { list, why };
  });
  const refusedV6 = REFUSED_V6.map(([net, prefix, why]) => {
    const list = new BlockList();
    list.addSubnet(net, prefix, 'ipv6');
    return { list, why };
  });
  const refusalV4 = (address: string) => refusedV4.find((r) => r.list.check(address, 'ipv4'))?.why ?? null;

  return {
    refusalOf(address) {
      const version = isIP(address);
      if (version === 0) return 'not an IP address';
      const family = version === 4 ? 'ipv4' : 'ipv6';
      if (allow.check(address, family)) return null;
      if (version === 4) {
        const why = refusalV4(address);
        return why && `${address} is ${why}`;
      }
      const inner = embeddedIpv4(address);
      if (inner !== null) {
        if (allow.check(inner, 'ipv4')) return null;
        const why = refusalV4(inner);
        return why && `${address} carries ${inner}, which is ${why}`;
      }
      const why = refusedV6.find((r) => r.list.check(address, 'ipv6'))?.why ?? null;
      return why && `${address} is ${why}`;
    },
  };
}
