/**
 * IPv4/IPv6 address and CIDR matching (trusted proxies).
 *
 * @module
 */

/** Parses an IP literal to a 128-bit number (IPv4 as IPv4-mapped IPv6). */
export function parseIp(text: string): bigint | undefined {
  const value = text.trim().replace(/^\[|\]$/g, "");
  const v4 = parseIpv4(value);
  if (v4 !== undefined) return 0xffff00000000n | v4;
  if (!value.includes(":") || !/^[0-9a-fA-F:.]+$/.test(value)) return undefined;
  let canonical: string;
  try {
    canonical = new URL(`http://[${value}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  // Expand "::" and a trailing dotted quad into eight groups.
  let groups = canonical;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(groups);
  if (tail?.[1] !== undefined) {
    const v4tail = parseIpv4(tail[1]);
    if (v4tail === undefined) return undefined;
    groups = groups.slice(0, -tail[1].length) +
      `${(v4tail >> 16n).toString(16)}:${(v4tail & 0xffffn).toString(16)}`;
  }
  const [head = "", rest] = groups.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = rest === undefined || rest === "" ? [] : rest.split(":");
  const fill = rest === undefined ? 0 : 8 - left.length - right.length;
  const all = [...left, ...Array(fill).fill("0"), ...right];
  if (all.length !== 8) return undefined;
  return all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function parseIpv4(value: string): bigint | undefined {
  const parts = value.split(".");
  if (parts.length !== 4) return undefined;
  let out = 0n;
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) {
      return undefined;
    }
    out = (out << 8n) | BigInt(part);
  }
  return out;
}

/** True when `ip` equals an address in `list` or falls in one of its CIDRs. */
export function ipMatchesAny(ip: string, list: readonly string[]): boolean {
  const address = parseIp(ip);
  if (address === undefined) return false;
  return list.some((entry) => {
    const [base = "", bitsText] = entry.split("/");
    const network = parseIp(base);
    if (network === undefined) return false;
    const isV4 = !base.includes(":");
    const bits = bitsText === undefined
      ? 128
      : Number(bitsText) + (isV4 ? 96 : 0);
    if (!Number.isInteger(bits) || bits < 0 || bits > 128) return false;
    const mask = bits === 0
      ? 0n
      : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - bits)) - 1n);
    return (address & mask) === (network & mask);
  });
}
