/**
 * Strict validation of an operation's target before it becomes the one
 * `--allow-net` grant of an executor.
 *
 * Trust boundary: the host and port come from the model or from configuration.
 * `--allow-net` takes a comma-separated list, so a host such as
 * `db01,169.254.169.254:80` would widen the grant. Only a bare RFC 1123
 * hostname, a dotted-quad IPv4 address or an IPv6 literal passes, and the
 * returned {@linkcode Target} holds its canonical form: lower-case hostname,
 * RFC 5952 IPv6 without brackets (`--allow-net` wants `[::1]:22`, the drivers
 * want `::1`).
 *
 * @module
 */
import type { Target } from "../protocol/mod.ts";

/** Longest hostname accepted, without a trailing dot (RFC 1035). */
export const MAX_HOSTNAME_LENGTH = 253;

const MAX_ECHOED_CHARS = 40;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const DECIMAL_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-f]{1,4}$/;

/**
 * Validates a target and returns its canonical form.
 *
 * @throws {TypeError} when the host is not a bare hostname, IPv4 address or
 *   IPv6 literal, or the port is not an integer from 1 to 65535
 */
export function validateTarget(host: string, port: number): Target {
  return { host: validateHost(host), port: validatePort(port) };
}

/**
 * Builds the `--allow-net` flag that grants exactly this target, e.g.
 * `--allow-net=db01.example.com:5432` or `--allow-net=[::1]:22`.
 * Validates the target again, so an unchecked object never reaches the flag.
 *
 * @throws {TypeError} when the target is invalid (see {@linkcode validateTarget})
 */
export function allowNetFlag(target: Target): string {
  const { host, port } = validateTarget(target.host, target.port);
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return `--allow-net=${hostPart}:${port}`;
}

function validatePort(port: number): number {
  if (
    typeof port !== "number" || !Number.isInteger(port) || port < 1 ||
    port > 65535
  ) {
    throw new TypeError(
      `Invalid executor port ${
        echo(String(port))
      }: use an integer from 1 to 65535`,
    );
  }
  return port;
}

function validateHost(host: string): string {
  if (typeof host !== "string") {
    throw new TypeError(
      `Invalid executor host of type ${typeof host}: pass the host as a string`,
    );
  }
  if (host.length === 0) {
    throw new TypeError(
      "Invalid executor host: it is empty; give a hostname or IP address",
    );
  }
  const fail: Fail = (problem, fix) => {
    throw new TypeError(
      `Invalid executor host ${echo(host)}: ${problem}; ${fix}`,
    );
  };
  // deno-lint-ignore no-control-regex -- control characters are what is refused
  if (/[\u0000-\u001f\u007f-\u009f]/.test(host)) {
    fail("it contains a control character", "remove it");
  }
  if (/\s/.test(host)) {
    fail("it contains whitespace", "remove it");
  }
  if (host.includes(",")) {
    fail(
      "it contains a comma, which would grant more than one host",
      "give exactly one host",
    );
  }
  if (host.includes("@")) {
    fail(
      'it contains "@"',
      "give the user name in the credential, not the host",
    );
  }
  if (host.includes("/") || host.includes("\\")) {
    fail("it contains a slash", "give a bare host, not a URL or path");
  }
  if (host.includes("%")) {
    fail(
      'it contains "%" (a zone id or URL encoding)',
      "give an address without a zone id, e.g. a global or loopback IPv6 address",
    );
  }
  if (host.includes("*")) {
    fail("it contains a wildcard", "give exactly one host");
  }
  if (host.includes(":") || host.startsWith("[")) {
    return validateIpv6(host, fail);
  }
  if (host.includes("[") || host.includes("]")) {
    fail("brackets are only allowed around an IPv6 address", "remove them");
  }
  if (/^[0-9.]+$/.test(host)) {
    return validateIpv4(host, fail);
  }
  return validateHostname(host, fail);
}

type Fail = (problem: string, fix: string) => never;

function validateHostname(host: string, fail: Fail): string {
  if (host.length > MAX_HOSTNAME_LENGTH) {
    fail(
      `it is ${host.length} characters long`,
      `a hostname has at most ${MAX_HOSTNAME_LENGTH}`,
    );
  }
  if (host.endsWith(".")) {
    fail("it ends with a dot", "remove the trailing dot");
  }
  const lower = host.toLowerCase();
  const labels = lower.split(".");
  for (const label of labels) {
    if (label.length === 0) {
      fail(
        "it has an empty label (two dots in a row or a leading dot)",
        "remove the extra dot",
      );
    }
    if (!LABEL.test(label)) {
      fail(
        "it is not a valid hostname",
        "use letters, digits and inner hyphens in labels of at most 63 characters (RFC 1123)",
      );
    }
  }
  const last = labels[labels.length - 1] ?? "";
  // The WHATWG "ends in a number" rule: resolvers read `127.1`, `0x7f.1` or
  // `2130706433` as IPv4 in shorthand, hex or octal form.
  if (/^[0-9]+$/.test(last) || /^0x[0-9a-f]*$/.test(last)) {
    fail(
      "it looks like an IPv4 address in a shorthand, hex or octal form",
      "write the address as a dotted quad such as 192.0.2.10",
    );
  }
  return lower;
}

function validateIpv4(host: string, fail: Fail): string {
  const parts = host.split(".");
  if (parts.length !== 4 || !parts.every((p) => DECIMAL_OCTET.test(p))) {
    fail(
      "it is not a dotted-quad IPv4 address",
      "write four decimal numbers without leading zeros, such as 192.0.2.10",
    );
  }
  if (parts.some((p) => Number(p) > 255)) {
    fail("an IPv4 octet is larger than 255", "check the address");
  }
  if (host === "0.0.0.0") {
    fail("it is the unspecified address", "use 127.0.0.1 for this machine");
  }
  return host;
}

function validateIpv6(host: string, fail: Fail): string {
  let inner = host;
  if (host.startsWith("[")) {
    if (!host.endsWith("]")) {
      fail(
        "it has an opening bracket without a closing one at the end",
        'give the port separately, e.g. host "::1" and port 22',
      );
    }
    inner = host.slice(1, -1);
  }
  if (inner.includes("[") || inner.includes("]")) {
    fail("it has misplaced brackets", "give an IPv6 address such as ::1");
  }
  const groups = parseIpv6(inner.toLowerCase());
  if (groups === null) {
    fail(
      "a colon is only allowed in an IPv6 address and this is not one",
      "give the port separately, not as host:port",
    );
  }
  const canonical = formatIpv6(groups);
  if (canonical === "::") {
    fail("it is the unspecified address", "use ::1 for this machine");
  }
  return canonical;
}

/** Parses an IPv6 address into eight 16-bit groups, or returns null. */
function parseIpv6(text: string): number[] | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parseSide = (side: string, allowIpv4: boolean): number[] | null => {
    if (side === "") return [];
    const parts = side.split(":");
    const groups: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (allowIpv4 && i === parts.length - 1 && part.includes(".")) {
        const octets = part.split(".");
        if (
          octets.length !== 4 ||
          !octets.every((o) => DECIMAL_OCTET.test(o) && Number(o) <= 255)
        ) {
          return null;
        }
        const [a, b, c, d] = octets.map(Number) as [
          number,
          number,
          number,
          number,
        ];
        groups.push((a << 8) | b, (c << 8) | d);
      } else if (HEX_GROUP.test(part)) {
        groups.push(parseInt(part, 16));
      } else {
        return null;
      }
    }
    return groups;
  };
  if (halves.length === 1) {
    const groups = parseSide(text, true);
    return groups !== null && groups.length === 8 ? groups : null;
  }
  const head = parseSide(halves[0]!, false);
  const tail = parseSide(halves[1]!, true);
  if (head === null || tail === null || head.length + tail.length > 7) {
    return null;
  }
  const zeros = new Array<number>(8 - head.length - tail.length).fill(0);
  return [...head, ...zeros, ...tail];
}

/** Formats eight groups as RFC 5952 text: lower case, longest zero run as `::`. */
function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLength).join(":");
  return `${head}::${tail}`;
}

/** A short, escaped, quoted prefix of untrusted input for an error message. */
function echo(value: string): string {
  const chars = Array.from(value.slice(0, MAX_ECHOED_CHARS * 2));
  const prefix = chars.slice(0, MAX_ECHOED_CHARS);
  let out = "";
  for (const char of prefix) {
    const code = char.codePointAt(0) ?? 0;
    out += code >= 0x20 && code <= 0x7e && char !== '"' && char !== "\\"
      ? char
      : `\\u{${code.toString(16)}}`;
  }
  const more = prefix.length < chars.length ? "..." : "";
  return `"${out}${more}"`;
}
