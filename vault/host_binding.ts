/**
 * Host binding: a handle may only be used against the account's own Address.
 *
 * @module
 */

/** Lower-cases, strips IPv6 brackets and a trailing root dot. */
export function normalizeHost(host: string): string {
  let value = host.trim().toLowerCase();
  if (value.startsWith("[") && value.endsWith("]")) value = value.slice(1, -1);
  if (value.endsWith(".")) value = value.slice(0, -1);
  if (value.includes(":")) {
    try {
      // Canonical IPv6 text (e.g. 0:0::1 -> ::1).
      value = new URL(`http://[${value}]/`).hostname.slice(1, -1);
    } catch {
      // Not an IPv6 literal: compared as written.
    }
  }
  return value;
}

function isIpLiteral(value: string): boolean {
  return value.includes(":") || /^\d{1,3}(\.\d{1,3}){3}$/.test(value);
}

/**
 * True when `host` is the account's `address` (case-insensitive), or lies
 * under it when the address is a domain name (`db1.corp.example` under
 * `corp.example`). IP addresses match only themselves.
 */
export function hostMatchesAddress(host: string, address: string): boolean {
  const h = normalizeHost(host);
  const a = normalizeHost(address);
  if (h === "" || a === "") return false;
  if (h === a) return true;
  if (isIpLiteral(a) || isIpLiteral(h) || !a.includes(".")) return false;
  return h.endsWith(`.${a}`);
}
