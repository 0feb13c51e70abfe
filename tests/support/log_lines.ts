/**
 * Reading and checking the gateway's JSON log lines: every line starts with
 * `event`, `logger`, `level` and `timestamp`; an audit line then carries the
 * fields of its event, and no line may hold a secret.
 *
 * @module
 */
import { resetSync } from "@logtape/logtape";
import {
  AUDIT_CHAIN_FIELDS,
  UNKEYED_CHAIN_FIELDS,
} from "../../gateway/audit_chain/mod.ts";
import { setupLogging } from "../../gateway/logging.ts";
import { assert, assertEquals, assertMatch } from "./assert.ts";

/** The keys every JSON log line starts with, in this order. */
export const LOG_LINE_HEAD = ["event", "logger", "level", "timestamp"] as const;

/**
 * The fields of a `credential_fetched` audit line after the head, sorted
 * (the README's example shows the same ones).
 */
export const CREDENTIAL_FETCHED_FIELDS = [
  "app_id",
  "auth",
  "client_ip",
  "handle_id",
  "object_name",
  "principal",
  "safe",
  "ttl_seconds",
] as const;

/** The JSON objects among `lines`; other lines (console output) are skipped. */
export function parseLogLines(
  lines: readonly string[],
): Record<string, unknown>[] {
  return lines.flatMap((line) => {
    try {
      const value = JSON.parse(line);
      return typeof value === "object" && value !== null ? [value] : [];
    } catch {
      return [];
    }
  });
}

/** The JSON log lines that `setupLogging` writes at level info while `fn` runs. */
export async function captureLogLines(
  fn: () => Promise<void>,
): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  setupLogging({ format: "json", level: "info", write: (l) => lines.push(l) });
  try {
    await fn();
  } finally {
    resetSync();
  }
  return lines.map((line) => JSON.parse(line));
}

/** What {@linkcode assertAuditLine} expects of a line. */
export interface AuditLineExpectation {
  level: "info" | "warning";
  /** The keys after {@linkcode LOG_LINE_HEAD}, in the order they are written. */
  fields: readonly string[];
  /** Compare the keys as a set, where their order is not the point. */
  anyOrder?: boolean;
}

/**
 * The chain fields an audit line ends with: all five from a gateway with
 * `AUDIT_CHAIN_KEY`, three without, none where the test's logging has no
 * chain.
 */
export function chainFieldsOf(
  line: Record<string, unknown>,
): readonly string[] {
  if (!("seq" in line)) return [];
  return "mac" in line ? AUDIT_CHAIN_FIELDS : UNKEYED_CHAIN_FIELDS;
}

/**
 * Asserts that `line` is the audit line of `event`: the head and exactly the
 * expected fields (then the chain fields, if any), logger `audit`, the
 * level, and an ISO timestamp in UTC.
 */
export function assertAuditLine(
  line: Record<string, unknown>,
  event: string,
  expected: AuditLineExpectation,
): void {
  const keys = [...LOG_LINE_HEAD, ...expected.fields, ...chainFieldsOf(line)];
  if (expected.anyOrder === true) {
    assertEquals(Object.keys(line).sort(), keys.sort());
  } else {
    assertEquals(Object.keys(line), keys);
  }
  assertEquals(line.event, event);
  assertEquals(line.logger, "audit");
  assertEquals(line.level, expected.level);
  assertMatch(
    String(line.timestamp),
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
  );
}

/** Asserts that no line holds any of `needles` (secrets, handles, API keys). */
export function assertNoLeak(
  lines: readonly string[],
  needles: readonly string[],
): void {
  for (const line of lines) {
    for (const needle of needles) {
      assert(
        !line.includes(needle),
        `log line leaks a value: ${line.slice(0, 200)}`,
      );
    }
  }
}

/** The target and login a target tool's audit line must name. */
export interface TargetAuditExpectation {
  host: string;
  port: number;
  username: string;
  /** Text of the output or the script that the line must not hold. */
  withheld?: readonly string[];
}

/**
 * Asserts the fields every target tool's audit line (`ssh_executed`,
 * `ps_executed`, `db_queried`) shares: logger `audit`, the target and login,
 * the handle's id (16 hex digits, never the handle) and the client's address
 * (the tests' loopback); and none of the output or script it must withhold.
 */
export function assertTargetAudit(
  line: Record<string, unknown>,
  expected: TargetAuditExpectation,
): void {
  assertEquals(line.logger, "audit");
  assertEquals(line.host, expected.host);
  assertEquals(line.port, expected.port);
  assertEquals(line.username, expected.username);
  assertMatch(String(line.handle_id), /^[0-9a-f]{16}$/);
  assertEquals(line.client_ip, "127.0.0.1");
  const json = JSON.stringify(line);
  for (const text of expected.withheld ?? []) {
    assert(!json.includes(text), `the audit line holds ${text}`);
  }
}
