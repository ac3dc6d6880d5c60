/**
 * Where run-task endpoints may point (SPEC §5): never link-local or cloud metadata addresses;
 * loopback and private ranges only when the operator allows them.
 */
import { BlockList, isIP } from 'node:net';

export interface AddressPolicy {
  allowLoopback: boolean;
  allowPrivate: boolean;
}

const metadata = new BlockList();
metadata.addSubnet('169.254.0.0', 16, 'ipv4'); // link-local, EC2/ECS metadata
metadata.addSubnet('fe80::', 10, 'ipv6'); // link-local
metadata.addAddress('fd00:ec2::254', 'ipv6'); // EC2 metadata over IPv6
metadata.addAddress('100.100.100.200', 'ipv4'); // another cloud's metadata service
metadata.addSubnet('0.0.0.0', 8, 'ipv4'); // "this network"
metadata.addAddress('::', 'ipv6');

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

const privateRanges = new BlockList();
privateRanges.addSubnet('10.0.0.0', 8, 'ipv4');
privateRanges.addSubnet('172.16.0.0', 12, 'ipv4');
privateRanges.addSubnet('192.168.0.0', 16, 'ipv4');
privateRanges.addSubnet('100.64.0.0', 10, 'ipv4'); // carrier-grade NAT
privateRanges.addSubnet('fc00::', 7, 'ipv6'); // unique local

function family(ip: string): 'ipv4' | 'ipv6' {
  return isIP(ip) === 6 ? 'ipv6' : 'ipv4';
}

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::/96) IPv6 address. */
function embeddedIPv4(addr: string): string | null {
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(addr);
  if (!hex) return null;
  const hi = parseInt(hex[1], 16);
  const lo = parseInt(hex[2], 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** Why an address may not be called, or null when it may. */
export function refuseAddress(ip: string, policy: AddressPolicy): string | null {
  let addr = ip.replace(/^\[|\]$/g, '');
  addr = embeddedIPv4(addr) ?? addr;
  if (!isIP(addr)) return null;
  const f = family(addr);
  if (metadata.check(addr, f)) return `${addr} is a link-local or cloud metadata address`;
  if (loopback.check(addr, f) && !policy.allowLoopback) return `${addr} is a loopback address (set ALLOW_LOOPBACK_RUN_TASKS to allow)`;
  if (privateRanges.check(addr, f) && !policy.allowPrivate) return `${addr} is a private address (set ALLOW_PRIVATE_RUN_TASKS to allow)`;
  return null;
}

/** The check at create/update time: the URL's host when it names an address (names are checked after DNS, at call time). */
export function refuseUrl(url: string, policy: AddressPolicy): string | null {
  const host = new URL(url).hostname.replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return policy.allowLoopback ? null : 'localhost is a loopback address (set ALLOW_LOOPBACK_RUN_TASKS to allow)';
  if (host === 'metadata.google.internal' || host === 'instance-data' || host.endsWith('.internal') && host.startsWith('metadata')) return `${host} is a cloud metadata host`;
  return refuseAddress(host, policy);
}

export function policyFromEnv(env: NodeJS.ProcessEnv = process.env): AddressPolicy {
  const on = (v?: string) => v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
  return { allowLoopback: on(env.ALLOW_LOOPBACK_RUN_TASKS), allowPrivate: on(env.ALLOW_PRIVATE_RUN_TASKS) };
}
