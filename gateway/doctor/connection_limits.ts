/**
 * `connection-limits`: the open-file limit the service runs under against
 * the descriptors `HTTP_MAX_CONNECTIONS` and `EXECUTOR_MAX_CONCURRENT` can
 * need (`gateway/http/connection_guard/fd_budget.ts`). On a systemd host
 * the limit is the unit's `LimitNOFILE=`; elsewhere (a container, where the
 * doctor runs with the service's own limits) the doctor's own, when Deno
 * lets it read that (only with `--allow-all`).
 *
 * @module
 */
import type { ExecutorConfig, HttpConfig } from "../config/mod.ts";
import {
  neededFileDescriptors,
  ownOpenFileLimit,
} from "../http/connection_guard/fd_budget.ts";
import type { CheckResult } from "./check_result.ts";
import { pass, warn } from "./_verdicts.ts";

/** Where the systemd unit of deploy/ is installed. */
export const SYSTEMD_UNIT_PATH = "/etc/systemd/system/mcp-privileged.service";

/** The open-file limit the service gets, and where it was read. */
export type FileLimitFacts =
  | { readonly source: "unit"; readonly path: string; readonly limit?: number }
  | { readonly source: "process"; readonly limit?: number };

/**
 * The unit's `LimitNOFILE=` when the unit file exists (no value: the unit
 * sets none), else this process's own limit.
 */
export function fileLimitFacts(unitPath = SYSTEMD_UNIT_PATH): FileLimitFacts {
  let unit: string;
  try {
    unit = Deno.readTextFileSync(unitPath);
  } catch {
    const limit = ownOpenFileLimit();
    return limit === undefined
      ? { source: "process" }
      : { source: "process", limit };
  }
  const value = [...unit.matchAll(/^\s*LimitNOFILE\s*=\s*(\d+)(?::\d+)?\s*$/gm)]
    .at(-1)?.[1];
  return value === undefined
    ? { source: "unit", path: unitPath }
    : { source: "unit", path: unitPath, limit: Number(value) };
}

/** Judges the limit against what the settings can need. */
export function checkConnectionLimits(
  http: HttpConfig,
  executors: ExecutorConfig,
  facts: FileLimitFacts,
): CheckResult {
  const name = "connection-limits";
  const needed = neededFileDescriptors(
    http.maxConnections,
    executors.maxConcurrent,
  );
  const settings =
    `HTTP_MAX_CONNECTIONS=${http.maxConnections} (header ${http.headerTimeoutSeconds} s, body ${http.bodyTimeoutSeconds} s, idle ${http.idleTimeoutSeconds} s) and EXECUTOR_MAX_CONCURRENT=${executors.maxConcurrent} can need ${needed} open files`;
  const where = facts.source === "unit"
    ? `${facts.path} LimitNOFILE`
    : "this process's open-file limit";
  if (facts.limit === undefined) {
    return facts.source === "unit"
      ? warn(
        name,
        `${settings}, but ${facts.path} sets no LimitNOFILE (systemd's default soft limit is 1024)`,
        `add LimitNOFILE=${needed} or more to the unit, as deploy/mcp-privileged.service does`,
      )
      : pass(
        name,
        `${settings} (this process's open-file limit cannot be read here: keep the service's at ${needed} or more, it logs connection_limit_lowered when it runs out)`,
      );
  }
  if (facts.limit < needed) {
    return warn(
      name,
      `${settings}, more than ${where}=${facts.limit}: connections fail before the cap is reached`,
      `raise the limit to ${needed} or more (LimitNOFILE in the systemd unit, --ulimit nofile= for a container), or lower HTTP_MAX_CONNECTIONS`,
    );
  }
  return pass(name, `${settings}, within ${where}=${facts.limit}`);
}
