/**
 * The three ways a check ends, for the check files of this folder.
 *
 * @module
 */
import type { CheckResult } from "./check_result.ts";

/** A passed check: what was found. */
export function pass(check: string, detail: string): CheckResult {
  return { status: "PASS", check, detail };
}

/** A warning: what was found and what to do. */
export function warn(check: string, detail: string, fix: string): CheckResult {
  return { status: "WARN", check, detail, fix };
}

/** A failure: what was found and what to do. */
export function fail(check: string, detail: string, fix: string): CheckResult {
  return { status: "FAIL", check, detail, fix };
}
