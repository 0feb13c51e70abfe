/**
 * IP address literals, parsed one way for the whole gateway: IPv4, IPv6 (with
 * an IPv4 tail, so IPv4-mapped addresses too), CIDR networks, and matching an
 * address against a list of addresses and networks (trusted proxies).
 *
 * Strict on purpose, because the answers decide whom the gateway trusts:
 * IPv4 is four decimal parts without leading zeros (`010.0.0.1` is not an
 * address, some resolvers read it as octal); IPv6 is RFC 4291 text. Brackets
 * (`[::1]`, as in URLs and headers) and zone ids (`fe80::1%eth0`) are not part
 * of an address: strip brackets with {@linkcode unbracket}; a zone id names
 * an interface of one host, never a client, so it is refused.
 *
 * @module
 */

/** A parsed IP address. */
export interface IpAddress {
  /** The family it was written in; `::ffff:10.0.0.1` is family 6. */
  readonly family: 4 | 6;
  /** As a 128-bit number; IPv4 as IPv4-mapped IPv6, so both families compare. */
  readonly value: bigint;
}

/** A parsed CIDR network (a lone address is a network of one). */
export interface IpNetwork {
  readonly address: IpAddress;
  /** Prefix length in the address's own family: 0-32 for IPv4, 0-128 for IPv6. */
  readonly prefix: number;
}

const IPV4_MAPPED = 0xffff_0000_0000n;
const ALL_ONES = (1n << 128n) - 1n;
const IPV4_PART = /^(0|[1-9]\d{0,2})$/;
const IPV6_GROUP = /^[0-9a-fA-F]{1,4}$/;
const PREFIX = /^\d{1,3}$/;

/** Parses an IPv4 or IPv6 literal; `undefined` for anything else. */
export function parseIp(text: string): IpAddress | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return { family: 4, value: IPV4_MAPPED | v4 };
  const v6 = parseIpv6(text);
  return v6 === undefined ? undefined : { family: 6, value: v6 };
}

/** True for an IPv4 or IPv6 literal (no brackets, no zone id). */
export function isIp(text: string): boolean {
  return parseIp(text) !== undefined;
}

/** Removes the brackets around an IPv6 literal as URLs and headers write it (`[::1]`). */
export function unbracket(text: string): string {
  return text.replace(/^\[|\]$/g, "");
}

/** Parses `ADDRESS` or `ADDRESS/PREFIX`; `undefined` for anything else. */
export function parseCidr(text: string): IpNetwork | undefined {
  const [base = "", bits, extra] = text.split("/");
  const address = parseIp(base);
  if (address === undefined || extra !== undefined) return undefined;
  const max = address.family === 4 ? 32 : 128;
  if (bits === undefined) return { address, prefix: max };
  if (!PREFIX.test(bits) || Number(bits) > max) return undefined;
  return { address, prefix: Number(bits) };
}

/** True for an IP address or a CIDR network. */
export function isIpOrCidr(text: string): boolean {
  return parseCidr(text) !== undefined;
}

/** True when `address` lies in `network`; IPv4 and IPv4-mapped IPv6 compare equal. */
export function inNetwork(address: IpAddress, network: IpNetwork): boolean {
  const bits = network.prefix + (network.address.family === 4 ? 96 : 0);
  const mask = ALL_ONES ^ ((1n << BigInt(128 - bits)) - 1n);
  return (address.value & mask) === (network.address.value & mask);
}

/**
 * True when `ip` (spaces and brackets allowed around it) equals an address
 * in `list` or lies in one of its networks; entries that do not parse match
 * nothing.
 */
export function ipMatchesAny(ip: string, list: readonly string[]): boolean {
  const address = parseIp(unbracket(ip.trim()));
  if (address === undefined) return false;
  return list.some((entry) => {
    const network = parseCidr(entry);
    return network !== undefined && inNetwork(address, network);
  });
}

/** True for 127.0.0.0/8 (also IPv4-mapped) and ::1. */
export function isLoopback(address: IpAddress): boolean {
  return inNetwork(address, LOOPBACK_V4) || address.value === 1n;
}

const LOOPBACK_V4: IpNetwork = {
  address: { family: 4, value: IPV4_MAPPED | 0x7f00_0000n },
  prefix: 8,
};

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!IPV4_PART.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

/** RFC 4291 section 2.2 text: eight groups, one `::` for a run of zeros, an IPv4 tail. */
function parseIpv6(text: string): bigint | undefined {
  if (!text.includes(":")) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const left = ipv6Words(halves[0]!, halves.length === 1);
  const right = halves.length === 2 ? ipv6Words(halves[1]!, true) : [];
  if (left === undefined || right === undefined) return undefined;
  const written = left.length + right.length;
  // "::" stands for at least one group of zeros.
  if (halves.length === 1 ? written !== 8 : written > 7) return undefined;
  const words = [...left, ...Array(8 - written).fill(0), ...right];
  return words.reduce((acc, word) => (acc << 16n) | BigInt(word), 0n);
}

/** The 16-bit words of one side of `::`; an IPv4 tail only where `tail`. */
function ipv6Words(part: string, tail: boolean): number[] | undefined {
  if (part === "") return [];
  const groups = part.split(":");
  const words: number[] = [];
  for (const [index, group] of groups.entries()) {
    if (IPV6_GROUP.test(group)) {
      words.push(parseInt(group, 16));
      continue;
    }
    const v4 = tail && index === groups.length - 1
      ? parseIpv4(group)
      : undefined;
    if (v4 === undefined) return undefined;
    words.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
  }
  return words;
}
