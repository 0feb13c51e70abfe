/**
 * How a tool call ended, in the classes the metrics count
 * (`mcp_privileged_tool_calls_total{outcome}`): the code that builds a tool
 * result marks it with its class, and whoever times the call reads the mark
 * back. A mark lives beside the result (a `WeakMap`), never in it: the MCP
 * client sees the result unchanged.
 *
 * @module
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { ExecutorOutcome } from "../executors/spawner/mod.ts";
import type { HandleProtocol } from "../vault/handle_scope.ts";

/**
 * - `ok`: ran and succeeded;
 * - `command_failed`: ran on the target, which reported failure (exit code
 *   not 0, PowerShell errors, a database error);
 * - `error`: a failure before or around the run (input, CyberArk, executor,
 *   timeout, busy, setup);
 * - `refused`: the handle was refused, or the handle store failed;
 * - `denied`: the policy or an approver said no (or nobody decided in time);
 * - `rate_limited`: over `TOOL_CALL_LIMIT`.
 */
export type ToolCallOutcome =
  | "ok"
  | "command_failed"
  | "error"
  | "refused"
  | "denied"
  | "rate_limited";

const marks = new WeakMap<CallToolResult, ToolCallOutcome>();

/** Marks `result` with how its call ended, and returns it. */
export function withOutcome(
  result: CallToolResult,
  outcome: ToolCallOutcome,
): CallToolResult {
  marks.set(result, outcome);
  return result;
}

/** How the call that gave `result` ended: its mark, else `error` or `ok` by its flag. */
export function outcomeOf(result: CallToolResult): ToolCallOutcome {
  return marks.get(result) ?? (result.isError === true ? "error" : "ok");
}

const DATABASES: ReadonlySet<HandleProtocol> = new Set([
  "postgres",
  "mysql",
  "mssql",
]);

/**
 * The class of an operation the executor ran: a non-zero exit code (or a
 * signal), PowerShell's errors and a database's refusal are the target's
 * verdict (`command_failed`); any other failure is the run's (`error`).
 */
export function operationOutcome(
  protocol: HandleProtocol,
  outcome: ExecutorOutcome,
): ToolCallOutcome {
  if (!outcome.ok) {
    return DATABASES.has(protocol) && outcome.error.code === "driver_error"
      ? "command_failed"
      : "error";
  }
  const { result } = outcome;
  switch (result.kind) {
    case "ssh":
      return result.exitCode === 0 ? "ok" : "command_failed";
    case "powershell":
      return result.hadErrors ? "command_failed" : "ok";
    default:
      return "ok";
  }
}
