/**
 * Tool calls and policy decisions as they happen, for whoever watches (the
 * metrics), the way `onAudit()` serves audit events: the tools report, the
 * observers count. A report carries the tool's name, the outcome class, the
 * duration or the policy's effect: never a principal, a host, a handle, a
 * command or a query.
 *
 * @module
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { getLogger } from "@logtape/logtape";
import type { PolicyEffect } from "./policy/policy.ts";
import { outcomeOf, type ToolCallOutcome } from "./tool_outcome.ts";

const log = getLogger(["gateway", "metrics"]);

/** One finished tool call. */
export interface ToolCallReport {
  /** The tool's name (one of the four). */
  readonly tool: string;
  readonly outcome: ToolCallOutcome;
  /** From the call's arrival at the handler to its result, approval waits included (ms). */
  readonly durationMs: number;
}

/** Told of calls and decisions; both optional. */
export interface CallObserver {
  /** A tool call returned its result (once per call). */
  toolCall?(report: ToolCallReport): void;
  /** The policy (POLICY_FILE) decided on a call (once per call it saw). */
  policyDecision?(effect: PolicyEffect): void;
}

const observers = new Set<CallObserver>();

/** Tells `observer` of every call and decision from now on; returns the function that stops it. */
export function observeCalls(observer: CallObserver): () => void {
  observers.add(observer);
  return () => observers.delete(observer);
}

function tell(notify: (observer: CallObserver) => void): void {
  for (const observer of observers) {
    try {
      notify(observer);
    } catch (error) {
      // Watching never fails a call.
      log.debug("A call observer failed: {error}", {
        error: error instanceof Error ? error.name : typeof error,
      });
    }
  }
}

/** Reports one decision of the policy in force. */
export function reportPolicyDecision(effect: PolicyEffect): void {
  tell((observer) => observer.policyDecision?.(effect));
}

/**
 * Runs one tool call's handler, timing it, and reports it once when it
 * returns (or throws: `error`). Tools register their handler through this.
 */
export async function observedToolCall(
  tool: string,
  run: () => Promise<CallToolResult>,
): Promise<CallToolResult> {
  const started = performance.now();
  let outcome: ToolCallOutcome = "error";
  try {
    const result = await run();
    outcome = outcomeOf(result);
    return result;
  } finally {
    const durationMs = performance.now() - started;
    tell((observer) => observer.toolCall?.({ tool, outcome, durationMs }));
  }
}
