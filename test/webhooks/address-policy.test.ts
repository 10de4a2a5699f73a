import { createAddressPolicy, embeddedIpv4 } from '../../webhooks/address-policy';

const policy = createAddressPolicy();

test.each([
  '10.0.0.1', '172.16.5.4', '172.31.255.255', '192.168.1.1', '127.0.0.1', '127.9.9.9', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '198.18.0.1',
  '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', 'fec0::1',
  '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.1.2.3', '::ffff:169.254.169.254', '64:ff9b::a9fe:a9fe', '2002:c0a8:101::1', '::127.0.0.1',
])('%s is refused by default', (address) => {
  expect(policy.refusalOf(address)).not.toBeNull();
});

test.each(['93.184.216.34', '8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '2a00:1450:4001::1', '::ffff:8.8.8.8', '64:ff9b::808:808'])('%s (public) is allowed', (address) => {
  expect(policy.refusalOf(address)).toBeNull();
});

test('a refusal names the range, and for an IPv6 address the IPv4 address it carries', () => {
  expect(policy.refusalOf('169.254.169.254')).toBe('169.254.169.254 is link-local');
  expect(policy.refusalOf('::ffff:10.0.0.1')).toBe('::ffff:10.0.0.1 carries 10.0.0.1, which is private');
  expect(embeddedIpv4('::ffff:7f00:1')).toBe('127.0.0.1');
  expect(embeddedIpv4('2606:4700::1')).toBeNull();
});

test('networks allowed by config are let through, and only those', () => {
  const allowing = createAddressPolicy(['127.0.0.1/32', 'fd00::/8']);
  expect(allowing.refusalOf('127.0.0.1')).toBeNull();
  expect(allowing.refusalOf('::ffff:127.0.0.1')).toBeNull();
  expect(allowing.refusalOf('fd00::5')).toBeNull();
  expect(allowing.refusalOf('127.0.0.2')).toBe('127.0.0.2 is loopback');
  expect(allowing.refusalOf('10.0.0.1')).toBe('10.0.0.1 is private');
});
