/**
 * The pattern kinds a policy rule can hold, parsed one way for validation
 * (`policy_schema.ts`) and matching (`evaluate.ts`): globs on Safes, objects
 * and host names, CIDRs on addresses, regexes on commands.
 *
 * @module
 */
import {
  inNetwork,
  type IpNetwork,
  parseCidr,
  parseIp,
  unbracket,
} from "../ip_address.ts";

/** Characters a glob may not hold: only `*` and `?` are wildcards here. */
const GLOB_REFUSED = /[\[\]{}\\\p{Cc}]/u;
/** A host name glob: DNS letters, digits, '.', '_', '-' and the wildcards. */
const HOST_GLOB = /^[A-Za-z0-9._*?-]+$/;
/** A glob that could only be meant for an IPv4 address (`10.20.*`). */
const ADDRESS_LIKE = /^(?=.*\d)[0-9.*?]+$/;
const INLINE_IGNORE_CASE = "(?i)";

/**
 * Why `text` is not a glob on a Safe or object name, or `undefined` when it
 * is one.
 */
export function globProblem(text: string): string | undefined {
  if (text === "") return "is empty; write a name or a glob such as PROD-*";
  const bad = GLOB_REFUSED.exec(text);
  if (bad === null) return undefined;
  const shown = /\p{Cc}/u.test(bad[0]) ? "a control character" : `"${bad[0]}"`;
  return `"${text}" contains ${shown}; only * (any run of characters) and ? (one character) are wildcards, write the name with those`;
}

/**
 * A glob as a case-insensitive matcher; `*` is any run of characters, `?`
 * one character. Call {@linkcode globProblem} first.
 */
export function compileGlob(text: string): (value: string) => boolean {
  const source = [...text.toLowerCase()].map((c) =>
    c === "*"
      ? ".*"
      : c === "?"
      ? "."
      : c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")
  ).join("");
  const regex = new RegExp(`^${source}$`, "s");
  return (value) => regex.test(value.toLowerCase());
}

/** A parsed `hosts` entry. */
export type HostPattern =
  | { readonly kind: "network"; readonly network: IpNetwork }
  | { readonly kind: "name"; readonly matches: (host: string) => boolean };

/** A `hosts` entry, or why it is not one. */
export type HostPatternResult =
  | { readonly ok: true; readonly pattern: HostPattern }
  | { readonly ok: false; readonly problem: string };

/**
 * Parses a `hosts` entry: an IPv4/IPv6 address or CIDR (brackets allowed
 * around IPv6), or a glob on host names.
 */
export function parseHostPattern(text: string): HostPatternResult {
  const bare = text.startsWith("[") ? unbracket(text) : text;
  const network = parseCidr(bare);
  if (network !== undefined) {
    return { ok: true, pattern: { kind: "network", network } };
  }
  if (text.includes("/")) {
    return {
      ok: false,
      problem:
        `"${text}" is not a valid CIDR; write an address like 10.20.0.0/16 or fd00::/8`,
    };
  }
  if (text.includes(":") || text.startsWith("[")) {
    return {
      ok: false,
      problem:
        `"${text}" is not a valid IPv6 address; write an address like fd00::1 or a CIDR like fd00::/8`,
    };
  }
  if (ADDRESS_LIKE.test(text)) {
    return {
      ok: false,
      problem: /[*?]/.test(text)
        ? `"${text}" is a glob on an address; host globs match names only, write a CIDR like 10.20.0.0/16`
        : `"${text}" is not a valid IPv4 address; write an address like 10.20.0.5 or a CIDR like 10.20.0.0/16`,
    };
  }
  if (!HOST_GLOB.test(text)) {
    return {
      ok: false,
      problem:
        `"${text}" is not a host name glob; use letters, digits, '.', '_', '-' and the wildcards * and ?`,
    };
  }
  const matches = compileGlob(text.replace(/\.$/, ""));
  const anyHost = /^\*+$/.test(text);
  return {
    ok: true,
    pattern: {
      kind: "name",
      // A name glob never matches an address literal: "*.corp" must not
      // reach an IP by accident; only a glob of nothing but `*` does.
      matches: (host) =>
        anyHost || (parseIp(host) === undefined && matches(host)),
    },
  };
}

/**
 * The host of a request as patterns compare it: trimmed, without IPv6
 * brackets, lower case and without the trailing dot of a fully qualified
 * name (`db.corp.` is `db.corp`).
 */
export function normalizeHost(host: string): string {
  const bare = unbracket(host.trim()).toLowerCase();
  return parseIp(bare) === undefined ? bare.replace(/\.$/, "") : bare;
}

/** True when a normalised host lies in a host pattern. */
export function hostMatches(pattern: HostPattern, host: string): boolean {
  if (pattern.kind === "name") return pattern.matches(host);
  const address = parseIp(host);
  return address !== undefined && inNetwork(address, pattern.network);
}

/**
 * A `commands` entry as a regex, or the compile error. A leading `(?i)`
 * makes it case-insensitive. `multiline` makes `^` and `$` match at every
 * line (a newline separates shell commands): set for deny and approve rules,
 * so that a command on a second line cannot slip past them; not for allow
 * rules, so that an anchored allow cannot be stretched by a second line.
 */
export function compileCommandPattern(
  text: string,
  multiline: boolean,
): RegExp | string {
  const ignoreCase = text.startsWith(INLINE_IGNORE_CASE);
  const source = ignoreCase ? text.slice(INLINE_IGNORE_CASE.length) : text;
  const flags = `${ignoreCase ? "i" : ""}${multiline ? "m" : ""}`;
  try {
    return new RegExp(source, flags);
  } catch (error) {
    const reason = error instanceof Error
      ? error.message.replace(
        /^Invalid regular expression: \/.*\/[a-z]*: /s,
        "",
      )
      : String(error);
    return `is not a valid JavaScript regular expression (${reason}); fix the pattern, a leading (?i) is the only inline flag`;
  }
}
