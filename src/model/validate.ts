/**
 * Strict parsers for every value that comes from IMDS, the command line or an admin's file. Each returns the
 * parsed value or undefined; callers turn undefined into an Ec2netError that names the key. Nothing unvalidated
 * reaches a file that a shell script sources, a netlink message, or a child process's argv.
 */
import { parseCidr4, parseIpv4, type Cidr4 } from './ipv4.js';

/** Linux IFNAMSIZ is 16 including the NUL; '/' and white space are refused by the kernel, ':' marks aliases. */
const IFNAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

export function parseIfname(text: string): string | undefined {
  if (!IFNAME.test(text) || text === '.' || text === '..') return undefined;
  return text;
}

const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

/** A unicast, non-zero MAC in lower case (IMDS and sysfs both print lower case). */
export function parseMac(text: string): string | undefined {
  const mac = text.toLowerCase();
  // The low bit of the first octet marks group (multicast and broadcast) addresses.
  if (!MAC.test(mac) || mac === '00:00:00:00:00:00' || (parseInt(mac.slice(0, 2), 16) & 1) === 1) return undefined;
  return mac;
}

export function parseEniId(text: string): string | undefined {
  return /^eni-[0-9a-f]{8,17}$/.test(text) ? text : undefined;
}

/**
 * A small non-negative decimal integer: "1e9", "-1", "01", "0x1" and " 1" are all refused.
 * EC2 caps device numbers well below 1000; the bound keeps table ids inside the planned range.
 */
export function parseSmallIndex(text: string, max: number): number | undefined {
  if (!/^(?:0|[1-9][0-9]{0,3})$/.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}

export function parseIpv4Address(text: string): number | undefined {
  return parseIpv4(text);
}

export function parseIpv4Network(text: string): Cidr4 | undefined {
  return parseCidr4(text, true);
}

/** IMDS lists one value per line; a trailing newline is tolerated, empty lines inside are not. */
export function splitLines(body: string): string[] {
  const trimmed = body.endsWith('\n') ? body.slice(0, -1) : body;
  return trimmed === '' ? [] : trimmed.split('\n');
}

/** The kernel's UTS hostname holds at most 64 bytes (__NEW_UTS_LEN). */
export const MAX_HOSTNAME_LEN = 64;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A hostname from IMDS `local-hostname` (RFC 1123 labels, lower case, dots between). EC2 names like
 * ip-10-0-1-10.us-west-2.compute.internal fit; a name over the kernel's 64 bytes keeps its first label only.
 */
export function parseHostname(text: string): string | undefined {
  const name = (text.endsWith('\n') ? text.slice(0, -1) : text).toLowerCase();
  const labels = name.split('.');
  if (name.length === 0 || name.length > 253 || !labels.every((l) => LABEL.test(l))) return undefined;
  return name.length <= MAX_HOSTNAME_LEN ? name : labels[0];
}
