/**
 * The outcome classes of tool results (what `tool_calls_total{outcome}`
 * counts): marks beside a result, the default by its error flag, and the
 * class of each executor outcome.
 */
import type { ExecutorOutcome } from "../../executors/spawner/mod.ts";
import { TOOL_OUTCOMES } from "../../gateway/metrics/catalog.ts";
import {
  operationOutcome,
  outcomeOf,
  type ToolCallOutcome,
  withOutcome,
} from "../../gateway/tool_outcome.ts";
import { assertEquals } from "../support/assert.ts";

const TIMING = { queuedMs: 0, runMs: 1, executor: "cold", pid: null } as const;

Deno.test("ToolCallOutcome is the catalogue's set of outcomes", () => {
  const classes: readonly ToolCallOutcome[] = TOOL_OUTCOMES;
  const all: Record<ToolCallOutcome, true> = {
    ok: true,
    command_failed: true,
    error: true,
    refused: true,
    denied: true,
    rate_limited: true,
  };
  assertEquals([...classes].sort(), Object.keys(all).sort());
});

Deno.test("outcomeOf() reads a result's mark, else its error flag; the mark leaves the result as it was", () => {
  const plain = { content: [{ type: "text" as const, text: "fine" }] };
  const failed = {
    isError: true,
    content: [{ type: "text" as const, text: "no" }],
  };
  assertEquals(outcomeOf(plain), "ok");
  assertEquals(outcomeOf(failed), "error");
  const marked = withOutcome(failed, "denied");
  assertEquals(marked, failed);
  assertEquals(
    JSON.stringify(marked),
    JSON.stringify({
      isError: true,
      content: [{ type: "text", text: "no" }],
    }),
  );
  assertEquals(outcomeOf(failed), "denied");
});

function ssh(exitCode: number | null): ExecutorOutcome {
  return {
    ok: true,
    result: {
      kind: "ssh",
      exitCode,
      signal: exitCode === null ? "KILL" : null,
      stdout: "",
      stderr: "",
      stdoutTruncated: false,
      stderrTruncated: false,
      hostKeyFingerprint: "SHA256:x",
    },
    timing: TIMING,
  };
}

function failure(code: "driver_error" | "timeout"): ExecutorOutcome {
  return { ok: false, error: { code, message: "m" }, timing: TIMING };
}

Deno.test("operationOutcome(): exit code 0 is ok; another code or a signal, PowerShell errors and a database error are command_failed; other failures error", () => {
  assertEquals(operationOutcome("ssh", ssh(0)), "ok");
  assertEquals(operationOutcome("ssh", ssh(2)), "command_failed");
  assertEquals(operationOutcome("ssh", ssh(null)), "command_failed");
  const ps = (hadErrors: boolean): ExecutorOutcome => ({
    ok: true,
    result: {
      kind: "powershell",
      hadErrors,
      exitCode: hadErrors ? 1 : 0,
      stdout: "",
      stderr: "",
      stdoutTruncated: false,
      stderrTruncated: false,
      delivery: "command_line",
      shellDeleted: true,
    },
    timing: TIMING,
  });
  assertEquals(operationOutcome("winrm", ps(false)), "ok");
  assertEquals(operationOutcome("winrm", ps(true)), "command_failed");
  for (const db of ["postgres", "mysql", "mssql"] as const) {
    assertEquals(
      operationOutcome(db, failure("driver_error")),
      "command_failed",
    );
    assertEquals(operationOutcome(db, failure("timeout")), "error");
  }
  assertEquals(operationOutcome("ssh", failure("driver_error")), "error");
  assertEquals(operationOutcome("winrm", failure("timeout")), "error");
});
