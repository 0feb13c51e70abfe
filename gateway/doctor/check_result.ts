/**
 * One line of the doctor's report, how it prints, and the exit code the
 * lines add up to.
 *
 * @module
 */

/** Outcome of one check; any `FAIL` makes the doctor exit with 1. */
export type CheckStatus = "PASS" | "WARN" | "FAIL";

/** One line of the doctor's report. */
export interface CheckResult {
  readonly status: CheckStatus;
  /** Short name, e.g. `api-keys`. */
  readonly check: string;
  /** What was found; never a secret. */
  readonly detail: string;
  /** What to do; absent on `PASS`. */
  readonly fix?: string;
}

/** Formats a result as `STATUS check: detail; fix`. */
export function formatCheck(result: CheckResult): string {
  const line = `${result.status} ${result.check}: ${result.detail}`;
  return result.fix === undefined ? line : `${line}; ${result.fix}`;
}

/** 1 when any check failed, else 0. */
export function doctorExitCode(results: readonly CheckResult[]): 0 | 1 {
  return results.some((r) => r.status === "FAIL") ? 1 : 0;
}
