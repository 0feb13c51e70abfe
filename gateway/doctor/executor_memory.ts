/**
 * `executor-memory`: the executors' memory limit against what they need and
 * what the host has. Every executor may grow to `EXECUTOR_MAX_MEMORY_MB`
 * before it is stopped, and `EXECUTOR_MAX_CONCURRENT` of them run at once.
 * Warm executors (`EXECUTOR_WARM_MAX`) share those slots: a child warms
 * only in a slot no call runs in, and a call that needs a slot pushes the
 * oldest warm child out, so at most `EXECUTOR_MAX_CONCURRENT` executors
 * exist at once, warm or running, under the same limit and watchdog.
 *
 * @module
 */
import { DEFAULT_EXECUTOR_MEMORY_MB } from "../../executors/spawner/mod.ts";
import type { ExecutorConfig } from "../config/mod.ts";
import type { CheckResult } from "./check_result.ts";
import { pass, warn } from "./_verdicts.ts";

/** What the gateway process itself is given in the sum (MiB). */
export const GATEWAY_MEMORY_BUDGET_MB = 128;

/**
 * Judges the limit: below the default, the SQL Server executor (the largest
 * at rest) is stopped for memory; above the host's memory, executors can
 * push the host into swapping or the kernel's OOM killer before their own
 * limit stops them.
 */
export function checkExecutorMemory(
  executors: ExecutorConfig,
  hostMemoryMb: number | undefined,
): CheckResult {
  const name = "executor-memory";
  const each = executors.maxMemoryMb;
  const all = executors.maxConcurrent * each + GATEWAY_MEMORY_BUDGET_MB;
  const executorsText = executors.warmMax === 0
    ? `${executors.maxConcurrent} executors`
    : `${executors.maxConcurrent} executors (running or warm)`;
  const sum =
    `${executorsText} x ${each} MiB + ${GATEWAY_MEMORY_BUDGET_MB} MiB for the gateway = ${all} MiB`;
  if (each < DEFAULT_EXECUTOR_MEMORY_MB) {
    return warn(
      name,
      `EXECUTOR_MAX_MEMORY_MB=${each}: the SQL Server executor needs about ${DEFAULT_EXECUTOR_MEMORY_MB} MiB and is stopped with resource_limit below that`,
      `set EXECUTOR_MAX_MEMORY_MB=${DEFAULT_EXECUTOR_MEMORY_MB} or more if db_query reaches SQL Server`,
    );
  }
  if (hostMemoryMb !== undefined && all > hostMemoryMb) {
    return warn(
      name,
      `${sum}, more than this host's ${hostMemoryMb} MiB: the kernel may kill or swap before an executor's own limit stops it`,
      "lower EXECUTOR_MAX_CONCURRENT or EXECUTOR_MAX_MEMORY_MB, or give the host more memory",
    );
  }
  return pass(
    name,
    hostMemoryMb === undefined
      ? `${sum} at most (host memory unknown)`
      : `${sum} at most, within this host's ${hostMemoryMb} MiB`,
  );
}

/** The host's memory in MiB, or undefined when the doctor may not ask. */
export function hostMemoryMb(): number | undefined {
  try {
    return Math.floor(Deno.systemMemoryInfo().total / (1024 * 1024));
  } catch {
    return undefined;
  }
}
