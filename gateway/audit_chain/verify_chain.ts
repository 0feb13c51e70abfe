/**
 * The verifier behind `deno task audit-verify`: pure functions from log lines
 * (and the key, and checkpoints kept elsewhere) to a report per segment.
 *
 * Lines that are not JSON, or not `"logger":"audit"`, are ignored. Audit
 * lines are grouped by chain and segment (replicas interleave freely); in
 * each segment, in input order, every line must carry the next sequence
 * number, a MAC over its bytes as written, and as `prev` the MAC of the
 * line before (the first line: the segment's start value). The first line
 * that breaks this is named, with what is wrong.
 *
 * @module
 */
import type { Secret } from "../../vault/secret.ts";
import { chainMac, startLink } from "./chain_mac.ts";
import type { ChainCheckpoint } from "./checkpoint_value.ts";
import {
  CHAIN_NAME_PATTERN,
  MAC_PATTERN,
  SEGMENT_ID_PATTERN,
  splitJsonMac,
} from "./line_layout.ts";

/** One line of input and where it came from. */
export interface LogLine {
  /** The file name (`-` for stdin). */
  readonly source: string;
  /** Line number in the file, from 1. */
  readonly line: number;
  /** The line without its newline. */
  readonly text: string;
}

/** What {@linkcode verifyAuditLog} checks against. */
export interface VerifyOptions {
  /**
   * The chain keys: one, or the old and the new around a key rotation (each
   * segment is checked with the key its first line was MACed with). Without
   * any, only sequence numbers and `prev` links are checked, not the MACs:
   * anyone can forge such a log.
   */
  readonly keys?: readonly Secret[];
  /** Lines a SIEM kept: each segment named must reach its line with its MAC. */
  readonly checkpoints?: readonly ChainCheckpoint[];
}

/** The first problem found, and where. */
export interface ChainBreak {
  /** `FILE:LINE`; absent when the problem is a line that is not there. */
  readonly at?: string;
  readonly problem: string;
}

/** The verdict on one segment of one chain. */
export interface SegmentReport {
  readonly chain: string;
  readonly segment: string;
  /** Its audit lines in the input. */
  readonly lines: number;
  /** Whether its lines carry MACs (the gateway had a key). */
  readonly keyed: boolean;
  /** The first and last sequence numbers verified (absent when none was). */
  readonly firstSeq?: number;
  readonly lastSeq?: number;
  /** Whether its last line is `audit_chain_closed` (a clean stop). */
  readonly closed: boolean;
  /** Its last line as a checkpoint value, when intact and keyed. */
  readonly head?: ChainCheckpoint;
  /** Set when the segment is broken. */
  readonly broken?: ChainBreak;
}

/** Everything {@linkcode verifyAuditLog} found. */
export interface VerifyResult {
  /** Segments in the order their first line appears. */
  readonly segments: readonly SegmentReport[];
  /** Audit lines that belong to no chain (no or malformed chain fields). */
  readonly stray: readonly ChainBreak[];
  readonly auditLines: number;
  /** Lines skipped: not JSON, or not from the `audit` logger. */
  readonly ignoredLines: number;
  /** Whether MACs were checked (a key was given). */
  readonly macsChecked: boolean;
}

/** Whether the log verified: audit lines seen, none stray, no segment broken. */
export function verifiedIntact(result: VerifyResult): boolean {
  return result.auditLines > 0 && result.stray.length === 0 &&
    result.segments.every((s) => s.broken === undefined);
}

/** One audit line with its chain fields read. */
interface Entry {
  readonly at: string;
  readonly text: string;
  readonly event: unknown;
  readonly seq: number;
  readonly prev: string | undefined;
  /** The `mac` field as parsed (`undefined`: none). */
  readonly mac: string | undefined;
}

interface Segment {
  readonly chain: string;
  readonly segment: string;
  readonly entries: Entry[];
}

/** Checks every chain in `lines`. */
export function verifyAuditLog(
  lines: Iterable<LogLine>,
  options: VerifyOptions = {},
): VerifyResult {
  const segments = new Map<string, Segment>();
  const stray: ChainBreak[] = [];
  let auditLines = 0;
  let ignoredLines = 0;
  for (const line of lines) {
    const record = parseRecord(line.text);
    if (record === undefined || record.logger !== "audit") {
      ignoredLines += 1;
      continue;
    }
    auditLines += 1;
    const at = `${line.source}:${line.line}`;
    const { seq, chain, segment, prev, mac } = record;
    if (seq === undefined && chain === undefined && segment === undefined) {
      stray.push({
        at,
        problem:
          "audit line without chain fields (seq, chain, segment): written by a gateway without the audit chain, or the fields were removed",
      });
      continue;
    }
    if (
      !Number.isSafeInteger(seq) || (seq as number) < 0 ||
      typeof chain !== "string" || !CHAIN_NAME_PATTERN.test(chain) ||
      typeof segment !== "string" || !SEGMENT_ID_PATTERN.test(segment) ||
      (prev !== undefined && typeof prev !== "string") ||
      (mac !== undefined && typeof mac !== "string")
    ) {
      stray.push({
        at,
        problem:
          "audit line with malformed chain fields (seq, chain, segment, prev, mac): the line was edited",
      });
      continue;
    }
    const id = `${chain}/${segment}`;
    let group = segments.get(id);
    if (group === undefined) {
      group = { chain, segment, entries: [] };
      segments.set(id, group);
    }
    group.entries.push({
      at,
      text: line.text,
      event: record.event,
      seq: seq as number,
      prev: prev as string | undefined,
      mac: mac as string | undefined,
    });
  }
  const checkpoints = options.checkpoints ?? [];
  const reports = [...segments.values()].map((segment) =>
    verifySegment(
      segment,
      options.keys ?? [],
      checkpoints.filter((c) =>
        c.chain === segment.chain && c.segment === segment.segment
      ),
    )
  );
  for (const checkpoint of checkpoints) {
    const id = `${checkpoint.chain}/${checkpoint.segment}`;
    if (segments.has(id)) continue;
    segments.set(id, { ...checkpoint, entries: [] });
    reports.push({
      chain: checkpoint.chain,
      segment: checkpoint.segment,
      lines: 0,
      keyed: true,
      closed: false,
      broken: {
        problem:
          `no line of this segment is in the input, but checkpoint seq ${checkpoint.seq} was kept: the segment was deleted, or its log file was not given`,
      },
    });
  }
  return {
    segments: reports,
    stray,
    auditLines,
    ignoredLines,
    macsChecked: (options.keys ?? []).length > 0,
  };
}

function parseRecord(text: string): Record<string, unknown> | undefined {
  if (!text.trimStart().startsWith("{")) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? value as Record<string, unknown>
      : undefined;
  } catch {
    return undefined;
  }
}

/** Walks one segment's lines in input order up to the first break. */
function verifySegment(
  { chain, segment, entries }: Segment,
  keys: readonly Secret[],
  checkpoints: readonly ChainCheckpoint[],
): SegmentReport {
  const first = entries[0]!;
  const keyed = entries.some((e) => e.mac !== undefined);
  const base = { chain, segment, lines: entries.length, keyed };
  let verified: Entry | undefined;
  let firstVerified: number | undefined;
  const brokenAt = (entry: Entry, problem: string): SegmentReport => ({
    ...base,
    ...(verified === undefined
      ? {}
      : { firstSeq: firstVerified!, lastSeq: verified.seq }),
    closed: false,
    broken: { at: entry.at, problem },
  });

  const key = segmentKey(keys, first);
  if (key !== undefined && !keyed) {
    return brokenAt(
      first,
      "chain off (no mac): this segment was written without AUDIT_CHAIN_KEY, so its lines cannot be verified; set AUDIT_CHAIN_KEY (or AUDIT_CHAIN_KEY_FILE) on the gateway, or check sequence numbers only with --no-key",
    );
  }
  // Where the walk starts: seq 0, or the line after a checkpoint kept elsewhere.
  let expected = 0;
  let prevMac: string | undefined = key === undefined
    ? undefined
    : startLink(key, chain, segment);
  if (first.seq !== 0) {
    const anchor = checkpoints.find((c) => c.seq === first.seq - 1);
    if (anchor === undefined) {
      return brokenAt(
        first,
        `the segment starts at seq ${first.seq}, not 0: its first lines are missing (deleted, or in an earlier log file: give that file first, or a --checkpoint ${chain}:${segment}:${
          first.seq - 1
        }:MAC kept by the SIEM)`,
      );
    }
    expected = first.seq;
    prevMac = anchor.mac;
  }

  for (const [index, entry] of entries.entries()) {
    if (entry.seq !== expected) {
      return brokenAt(entry, seqProblem(entries, index, expected));
    }
    if (keyed) {
      const split = splitJsonMac(entry.text);
      if (
        split === undefined || entry.mac === undefined ||
        !MAC_PATTERN.test(entry.mac) || split.mac !== entry.mac
      ) {
        return brokenAt(
          entry,
          "no well-formed mac as the line's last field, although this segment's lines carry one: the line was edited",
        );
      }
      if (key !== undefined && chainMac(key, split.body) !== split.mac) {
        return brokenAt(
          entry,
          entry.seq === first.seq && entry.prev !== prevMac
            ? "mac mismatch, and prev is not the value expected here: the key is not the one the gateway used (check AUDIT_CHAIN_KEY; give the old and the new key files around a rotation), or the line was edited"
            : "mac mismatch: the line was edited after it was written (any field, or its prev)",
        );
      }
      if (prevMac !== undefined && entry.prev !== prevMac) {
        return brokenAt(
          entry,
          entry.seq === 0
            ? "prev is not this segment's start value: the line was moved here from another segment"
            : `prev does not match the mac of seq ${
              entry.seq - 1
            }: a line was replaced by one from elsewhere (the line itself is genuine, its place is not)`,
        );
      }
      prevMac = split.mac;
    } else if (entry.mac !== undefined || entry.prev !== undefined) {
      return brokenAt(
        entry,
        "a prev or mac field in a segment whose lines carry none: the line was edited or moved here",
      );
    }
    firstVerified ??= entry.seq;
    verified = entry;
    expected += 1;
  }

  const last = verified!;
  const head: ChainCheckpoint | undefined = keyed
    ? { chain, segment, seq: last.seq, mac: last.mac! }
    : undefined;
  for (const checkpoint of checkpoints) {
    if (checkpoint.seq < first.seq) continue; // the anchor, or before it
    if (checkpoint.seq > last.seq) {
      return brokenAt(
        last,
        `the segment ends at seq ${last.seq}, but checkpoint seq ${checkpoint.seq} was kept: the lines after this one were cut (truncated)`,
      );
    }
    const entry = entries.find((e) => e.seq === checkpoint.seq)!;
    if (entry.mac !== checkpoint.mac) {
      return brokenAt(
        entry,
        `the line of checkpoint seq ${checkpoint.seq} has ${
          entry.mac === undefined ? "no mac" : "another mac"
        }: this line is not the one the SIEM saw (or the checkpoint value is mistyped)`,
      );
    }
  }
  return {
    ...base,
    firstSeq: first.seq,
    lastSeq: last.seq,
    closed: last.event === "audit_chain_closed",
    ...(head === undefined ? {} : { head }),
  };
}

/**
 * The key the segment was written with: the one its first line's MAC
 * verifies with (the first key when none does, to name the break).
 */
function segmentKey(
  keys: readonly Secret[],
  first: Entry,
): Secret | undefined {
  if (keys.length <= 1) return keys[0];
  const split = splitJsonMac(first.text);
  return (split === undefined
    ? undefined
    : keys.find((key) => chainMac(key, split.body) === split.mac)) ?? keys[0];
}

/** Why `entries[index]` does not carry `expected`. */
function seqProblem(
  entries: readonly Entry[],
  index: number,
  expected: number,
): string {
  const found = entries[index]!.seq;
  const head = `expected seq ${expected}, found ${found}`;
  if (found > expected) {
    const later = entries.slice(index + 1).find((e) => e.seq === expected);
    if (later !== undefined) {
      return `${head}: lines out of order (seq ${expected} comes later, at ${later.at})`;
    }
    const missing = found - expected === 1
      ? `line ${expected} is`
      : `lines ${expected}-${found - 1} are`;
    return `${head}: ${missing} missing (deleted, or in a log file not given)`;
  }
  const earlier = entries.slice(0, index).find((e) => e.seq === found);
  return `${head}: seq ${found} appears again${
    earlier === undefined ? "" : ` (first at ${earlier.at})`
  }: a line was copied, or moved back`;
}
