/**
 * Where run-task endpoints may point (SPEC §5): never link-local or cloud metadata addresses;
 * loopback and private ranges only when the operator allows them.
 */
import { policyFromEnv, refuseAddress, refuseUrl, type AddressPolicy } from '../../functions/core/network.js';

const strict: AddressPolicy = { allowLoopback: false, allowPrivate: false };
const open: AddressPolicy = { allowLoopback: true, allowPrivate: true };

describe('refuseAddress', () => {
  it.each(['169.254.169.254', '169.254.170.2', 'fd00:ec2::254', '[fd00:ec2::254]', '::ffff:169.254.169.254', 'fe80::1'])(
    'refuses the metadata / link-local address %s whatever the policy',
    (ip) => {
      expect(refuseAddress(ip, strict)).toMatch(/link-local|metadata/);
      expect(refuseAddress(ip, open)).toMatch(/link-local|metadata/);
    },
  );

  it.each(['10.0.0.1', '192.168.1.1', '172.16.5.4', 'fd12:3456::1'])('refuses the private address %s unless private ranges are allowed', (ip) => {
    expect(refuseAddress(ip, strict)).toMatch(/private/);
    expect(refuseAddress(ip, { allowLoopback: true, allowPrivate: false })).toMatch(/private/);
    expect(refuseAddress(ip, { allowLoopback: false, allowPrivate: true })).toBeNull();
  });

  it.each(['127.0.0.1', '127.3.2.1', '::1', '::ffff:127.0.0.1'])('refuses the loopback address %s unless loopback is allowed', (ip) => {
    expect(refuseAddress(ip, strict)).toMatch(/loopback/);
    expect(refuseAddress(ip, { allowLoopback: false, allowPrivate: true })).toMatch(/loopback/);
    expect(refuseAddress(ip, { allowLoopback: true, allowPrivate: false })).toBeNull();
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111'])('allows the public address %s', (ip) => {
    expect(refuseAddress(ip, strict)).toBeNull();
  });
});

describe('refuseUrl (the check at create/update time)', () => {
  it.each([
    'http://169.254.169.254/latest/meta-data/',
    'https://[fd00:ec2::254]/',
    // the same address spelled otherwise: the URL parser normalises it
    'http://2852039166/',
    'http://0xa9fea9fe/',
    'http://[::ffff:169.254.169.254]/',
    'http://metadata.google.internal/computeMetadata/v1/',
  ])('refuses %s even when loopback and private ranges are allowed', (url) => {
    expect(refuseUrl(url, open)).toMatch(/metadata|link-local/);
  });

  it('refuses private addresses unless allowed', () => {
    expect(refuseUrl('http://10.0.0.1:8080/hook', strict)).toMatch(/10\.0\.0\.1.*private/);
    expect(refuseUrl('https://192.168.1.1/hook', strict)).toMatch(/192\.168\.1\.1.*private/);
    expect(refuseUrl('http://10.0.0.1:8080/hook', { allowLoopback: false, allowPrivate: true })).toBeNull();
  });

  it('refuses loopback addresses and localhost unless allowed', () => {
    for (const url of ['http://127.0.0.1:3000/hook', 'http://localhost:3000/hook', 'http://LOCALHOST/', 'http://api.localhost/', 'http://[::1]:3000/']) {
      expect(refuseUrl(url, strict)).toMatch(/loopback/);
      expect(refuseUrl(url, { allowLoopback: true, allowPrivate: false })).toBeNull();
    }
  });

  it('allows public addresses and names (names are checked again after DNS, at call time)', () => {
    expect(refuseUrl('https://93.184.216.34/hook', strict)).toBeNull();
    expect(refuseUrl('https://scanner.example.com/api/scan', strict)).toBeNull();
  });
});

describe('policyFromEnv', () => {
  it('reads ALLOW_LOOPBACK_RUN_TASKS and ALLOW_PRIVATE_RUN_TASKS', () => {
    expect(policyFromEnv({})).toEqual(strict);
    expect(policyFromEnv({ ALLOW_LOOPBACK_RUN_TASKS: 'true' })).toEqual({ allowLoopback: true, allowPrivate: false });
    expect(policyFromEnv({ ALLOW_PRIVATE_RUN_TASKS: '1' })).toEqual({ allowLoopback: false, allowPrivate: true });
    expect(policyFromEnv({ ALLOW_LOOPBACK_RUN_TASKS: 'false', ALLOW_PRIVATE_RUN_TASKS: '0' })).toEqual(strict);
  });
});

describe('IPv4 inside IPv6 and trailing dots', () => {
  const strict: AddressPolicy = { allowLoopback: false, allowPrivate: false };
  it.each(['64:ff9b::a9fe:a9fe', '64:ff9b::169.254.169.254', '::ffff:a9fe:a9fe'])('refuses the metadata address hidden in %s', (addr) => {
    expect(refuseAddress(addr, strict)).toMatch(/metadata/);
  });
  it('still allows a public address reached through NAT64', () => {
    expect(refuseAddress('64:ff9b::808:808', strict)).toBeNull();
  });
  it('refuses localhost written with a trailing dot', () => {
    expect(refuseUrl('http://localhost./hook', strict)).toMatch(/loopback/);
  });
});
