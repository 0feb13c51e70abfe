/**
 * OpenSSH known_hosts parsing and lookup, following `sshd(8)` "SSH_KNOWN_HOSTS
 * FILE FORMAT" and OpenSSH's `hostfile.c` / `match.c`.
 *
 * Supported: plain names and comma-separated pattern lists with `*`, `?` and
 * `!negation`; `[host]:port` names (port 22 is written without brackets);
 * hashed names `|1|salt|hash` (HMAC-SHA1 of the name keyed with the salt);
 * `@revoked` lines; comments, blank lines and several keys per host.
 *
 * Not supported: `@cert-authority` lines are skipped and reported, so a host
 * whose key is only trusted through a CA looks unknown.
 * Supporting them needs certificate parsing and CA checks in the executor.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHmac } from "node:crypto";
import type { HostKey } from "../executors/protocol/mod.ts";

/** One entry of a host pattern list; `negated` for a `!pattern`. */
export interface HostPattern {
  /** Lower-cased pattern, e.g. `*.example.com` or `[10.0.0.?]:2222`. */
  pattern: string;
  negated: boolean;
}

/** The names part of a known_hosts line. */
export type KnownHostNames =
  | { kind: "patterns"; patterns: HostPattern[] }
  | {
    kind: "hashed";
    /** Base64 HMAC-SHA1 key. */
    salt: string;
    /** Base64 HMAC-SHA1 of the name (`host` or `[host]:port`). */
    hash: string;
  };

/** One usable known_hosts line. */
export interface KnownHostEntry {
  /** 1-based line number, for messages. */
  line: number;
  /** True for `@revoked` lines: the key is refused for matching hosts. */
  revoked: boolean;
  names: KnownHostNames;
  key: HostKey;
  /** Text after the key, possibly empty. */
  comment: string;
}

/** A line that was not used, and why. */
export interface SkippedLine {
  /** 1-based line number. */
  line: number;
  reason: string;
}

/** Everything {@linkcode parseKnownHostsDetailed} found in a file. */
export interface KnownHostsParseResult {
  entries: KnownHostEntry[];
  /** Malformed lines, skipped without failing the whole file. */
  skipped: SkippedLine[];
  /** Line numbers of `@cert-authority` lines, which are not supported yet. */
  certAuthorityLines: number[];
}

/** Keys acceptable for, and revoked for, one host and port. */
export interface HostKeyLookup {
  allowed: HostKey[];
  revoked: HostKey[];
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const HASH_MAGIC = "|1|";
const SHA1_BYTES = 20;

function decodeBase64(text: string): Buffer | null {
  if (!BASE64.test(text) || text.length % 4 !== 0) return null;
  return Buffer.from(text, "base64");
}

/** Reads the key type embedded at the start of an SSH public key blob. */
function blobKeyType(blob: Buffer): string | null {
  if (blob.length < 4) return null;
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > blob.length - 4 || length > 128) return null;
  return blob.subarray(4, 4 + length).toString("latin1");
}

function parseNames(field: string): KnownHostNames | string {
  if (field.startsWith(HASH_MAGIC)) {
    const [salt, hash, extra] = field.slice(HASH_MAGIC.length).split("|");
    if (salt === undefined || hash === undefined || extra !== undefined) {
      return "hashed name is not |1|salt|hash";
    }
    const saltBytes = decodeBase64(salt);
    const hashBytes = decodeBase64(hash);
    if (saltBytes?.length !== SHA1_BYTES || hashBytes?.length !== SHA1_BYTES) {
      return "hashed name has a bad salt or hash";
    }
    return { kind: "hashed", salt, hash };
  }
  if (field.startsWith("|")) return "unknown hashed name format";
  const patterns: HostPattern[] = [];
  for (const raw of field.split(",")) {
    const negated = raw.startsWith("!");
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (pattern !== "") patterns.push({ pattern, negated });
  }
  if (!patterns.some((p) => !p.negated)) {
    return "no host name or pattern";
  }
  return { kind: "patterns", patterns };
}

/**
 * Parses known_hosts text, keeping malformed-line diagnostics.
 * Never throws on bad input: bad lines are listed in `skipped`.
 */
export function parseKnownHostsDetailed(text: string): KnownHostsParseResult {
  const result: KnownHostsParseResult = {
    entries: [],
    skipped: [],
    certAuthorityLines: [],
  };
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = index + 1;
    const trimmed = (lines[index] ?? "").trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const fields = trimmed.split(/[ \t]+/);
    let revoked = false;
    if (fields[0]?.startsWith("@")) {
      const marker = fields.shift();
      if (marker === "@cert-authority") {
        result.certAuthorityLines.push(line);
        continue;
      }
      if (marker !== "@revoked") {
        result.skipped.push({ line, reason: `unknown marker ${marker}` });
        continue;
      }
      revoked = true;
    }
    const [namesField, type, keyField, ...rest] = fields;
    if (
      namesField === undefined || type === undefined || keyField === undefined
    ) {
      result.skipped.push({ line, reason: "expected names, key type and key" });
      continue;
    }
    const names = parseNames(namesField);
    if (typeof names === "string") {
      result.skipped.push({ line, reason: names });
      continue;
    }
    const blob = decodeBase64(keyField);
    if (blob === null) {
      result.skipped.push({ line, reason: "key is not base64" });
      continue;
    }
    const embedded = blobKeyType(blob);
    if (embedded !== type) {
      result.skipped.push({
        line,
        reason: `key type ${type} does not match the key data (${
          embedded ?? "unreadable"
        })`,
      });
      continue;
    }
    result.entries.push({
      line,
      revoked,
      names,
      key: { type, key: keyField },
      comment: rest.join(" "),
    });
  }
  return result;
}

/** Parses known_hosts text into its usable entries; malformed lines are skipped. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  return parseKnownHostsDetailed(text).entries;
}

/** The name OpenSSH looks up: `host` for port 22, else `[host]:port`. */
export function knownHostsName(host: string, port: number): string {
  const lower = host.toLowerCase();
  return port === 22 ? lower : `[${lower}]:${port}`;
}

/** OpenSSH `match_pattern`: `*` any run, `?` one character, whole string. */
function matchPattern(name: string, pattern: string): boolean {
  let source = "^";
  for (const char of pattern) {
    if (char === "*") source += ".*";
    else if (char === "?") source += ".";
    else source += char.replace(/[.+^${}()|[\]\\/-]/g, "\\$&");
  }
  return new RegExp(source + "$", "s").test(name);
}

function namesMatch(names: KnownHostNames, name: string): boolean {
  if (names.kind === "hashed") {
    const digest = createHmac("sha1", Buffer.from(names.salt, "base64"))
      .update(name)
      .digest("base64");
    return digest === names.hash;
  }
  // As OpenSSH's match_pattern_list: a matching negation vetoes the line.
  let positive = false;
  for (const { pattern, negated } of names.patterns) {
    if (!matchPattern(name, pattern)) continue;
    if (negated) return false;
    positive = true;
  }
  return positive;
}

function pushUnique(list: HostKey[], key: HostKey): void {
  if (!list.some((k) => k.type === key.type && k.key === key.key)) {
    list.push(key);
  }
}

/**
 * Finds the keys known for `host` on `port` (a `[host]:port` name unless the
 * port is 22). Build the executor's policy as
 * `{ mode: "verify", ...lookupHostKeys(entries, host, port) }`.
 */
export function lookupHostKeys(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
): HostKeyLookup {
  const name = knownHostsName(host, port);
  const found: HostKeyLookup = { allowed: [], revoked: [] };
  for (const entry of entries) {
    if (!namesMatch(entry.names, name)) continue;
    pushUnique(entry.revoked ? found.revoked : found.allowed, entry.key);
  }
  return found;
}

// deno-lint-ignore no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const SHELL_SAFE = /^[A-Za-z0-9._:%+@/=,-]+$/;

function shellQuote(text: string): string {
  if (SHELL_SAFE.test(text)) return text;
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * The command that adds a host's keys to the known_hosts file, e.g.
 * `ssh-keyscan -H -p 2222 127.0.0.1 >> /etc/mcp/ssh_known_hosts`
 * (no `-p` for port 22). Host and path are shell-quoted when needed; a
 * leading `~/` in the path is kept unquoted so the shell expands it.
 *
 * @throws {TypeError} when the host or path could not be used safely
 * @throws {RangeError} when the port is not a TCP port
 */
export function keyscanFix(
  host: string,
  port: number,
  knownHostsPath: string,
): string {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(
      `Cannot build the ssh-keyscan command: port ${port} is not between 1 and 65535`,
    );
  }
  if (
    host === "" || host.startsWith("-") || /\s/.test(host) ||
    CONTROL_CHARS.test(host)
  ) {
    throw new TypeError(
      `Cannot build the ssh-keyscan command: host ${
        JSON.stringify(host)
      } is empty, starts with "-" or contains whitespace; validate the host first`,
    );
  }
  if (knownHostsPath === "" || CONTROL_CHARS.test(knownHostsPath)) {
    throw new TypeError(
      `Cannot build the ssh-keyscan command: known_hosts path ${
        JSON.stringify(knownHostsPath)
      } is empty or contains control characters; fix SSH_KNOWN_HOSTS`,
    );
  }
  const path = knownHostsPath.startsWith("~/")
    ? `~/${shellQuote(knownHostsPath.slice(2))}`
    : shellQuote(knownHostsPath);
  const portFlag = port === 22 ? "" : `-p ${port} `;
  return `ssh-keyscan -H ${portFlag}${shellQuote(host)} >> ${path}`;
}
