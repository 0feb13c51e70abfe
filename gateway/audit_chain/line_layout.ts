/**
 * Where the chain fields sit in a written audit line, and which bytes the
 * MAC covers. The writer and the verifier share this file, so both agree
 * byte for byte.
 *
 * A JSON line ends with `"seq":N,"chain":"R","segment":"S","prev":"P","mac":"M"}`:
 * the MAC covers the line exactly as written (after handle redaction) up to
 * and without `,"mac":"M"`, with the closing `}`; `prev` is inside that, so
 * each line's MAC covers the MAC of the line before. Without a key a line
 * ends with `seq`, `chain` and `segment` only. A console line ends with the
 * same fields as `key=value` (not verifiable by `deno task audit-verify`).
 *
 * @module
 */
import { MAC_HEX_LENGTH } from "./chain_mac.ts";

/** A chain's name: `AUDIT_REPLICA`'s form. */
export const CHAIN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** A segment id: 128 bits in lowercase hex. */
export const SEGMENT_ID_PATTERN = /^[0-9a-f]{32}$/;

/** A MAC: HMAC-SHA256 in lowercase hex. */
export const MAC_PATTERN = new RegExp(`^[0-9a-f]{${MAC_HEX_LENGTH}}$`);

/** The fields a chained audit line ends with, in this order. */
export const AUDIT_CHAIN_FIELDS = [
  "seq",
  "chain",
  "segment",
  "prev",
  "mac",
] as const;

/** The fields an audit line ends with when the chain has no key. */
export const UNKEYED_CHAIN_FIELDS = ["seq", "chain", "segment"] as const;

/** A line's place in its chain: what it carries besides its MAC. */
export interface ChainPosition {
  /** Number of the line in its segment, from 0. */
  readonly seq: number;
  /** The chain's name (`AUDIT_REPLICA`). */
  readonly chain: string;
  /** The segment id (one per process start). */
  readonly segment: string;
  /** The MAC of the line before, or the segment's start value; absent without a key. */
  readonly prev?: string;
}

/**
 * The part of a JSON line the MAC covers: `rendered` (one JSON object and a
 * newline, as `formatJson` writes it) with the chain fields added, without
 * `mac` and without the newline.
 */
export function jsonBody(rendered: string, position: ChainPosition): string {
  const object = rendered.trimEnd();
  if (!object.startsWith("{") || !object.endsWith("}")) {
    throw new TypeError("An audit line must be one JSON object");
  }
  const fields = [
    `"seq":${position.seq}`,
    `"chain":${JSON.stringify(position.chain)}`,
    `"segment":${JSON.stringify(position.segment)}`,
    ...(position.prev === undefined
      ? []
      : [`"prev":${JSON.stringify(position.prev)}`]),
  ];
  return `${object.slice(0, -1)},${fields.join(",")}}`;
}

/** The JSON line as written: `body` with its MAC (if any) as the last field, and a newline. */
export function jsonLine(body: string, mac?: string): string {
  return mac === undefined
    ? `${body}\n`
    : `${body.slice(0, -1)},"mac":${JSON.stringify(mac)}}\n`;
}

const MAC_SUFFIX = new RegExp(`,"mac":"([0-9a-f]{${MAC_HEX_LENGTH}})"\\}$`);

/**
 * The inverse of {@linkcode jsonLine} for a line read back (without its
 * newline): the bytes its MAC covers and the MAC; `undefined` when the line
 * does not end with a `mac` field.
 */
export function splitJsonMac(
  line: string,
): { body: string; mac: string } | undefined {
  const object = line.trimEnd();
  const match = MAC_SUFFIX.exec(object);
  if (match === null) return undefined;
  return { body: `${object.slice(0, match.index)}}`, mac: match[1]! };
}

/** The part of a console line the MAC covers: `rendered` with the chain fields as `key=value`. */
export function consoleBody(rendered: string, position: ChainPosition): string {
  return `${rendered.trimEnd()} seq=${position.seq} chain=${position.chain} segment=${position.segment}${
    position.prev === undefined ? "" : ` prev=${position.prev}`
  }`;
}

/** The console line as written: `body`, its MAC (if any), and a newline. */
export function consoleLine(body: string, mac?: string): string {
  return mac === undefined ? `${body}\n` : `${body} mac=${mac}\n`;
}
