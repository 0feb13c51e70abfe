/**
 * Maps domain errors to MCP tool errors, in one place, and writes the audit
 * event each failure calls for. No message built here contains a secret.
 *
 * @module
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { getLogger } from "@logtape/logtape";
import {
  ExecutorBusyError,
  ExecutorWaitTimeoutError,
} from "../executors/spawner/mod.ts";
import { CcpQueryError } from "../vault/ccp_client.ts";
import { CyberArkError } from "../vault/cyberark_error.ts";
import { HandleStoreError } from "../vault/handle_store_error.ts";
import { HandleError } from "../vault/handle_vault.ts";
import { audit, type AuditValue } from "./audit.ts";
import { InputError } from "./input_error.ts";
import { ApprovalRefusedError } from "./approval_gate.ts";
import { ApprovalStoreError } from "./approvals/mod.ts";
import { PolicyDeniedError } from "./policy_gate.ts";
import { ToolCallLimitError } from "./rate_limits.ts";
import { redactHandles } from "./redact_handles.ts";
import { SetupError } from "./setup_error.ts";
import { callerFields, type ToolContext } from "./tool_context.ts";
import { type ToolCallOutcome, withOutcome } from "./tool_outcome.ts";

const log = getLogger(["gateway", "tools"]);

/** What the failing call was about, for the audit line. */
export interface FailureScope {
  tool: string;
  /** Extra audit fields (safe, object_name, host, ...). */
  fields: Record<string, string | number | null>;
}

/**
 * A tool result that reports an error to the model. A handle quoted back
 * in it (a database echoing the query, say) appears as its id.
 */
export function toolError(text: string): CallToolResult {
  return {
    isError: true,
    content: [{ type: "text", text: redactHandles(text) }],
  };
}

/**
 * Turns any error thrown by a tool into a tool result, auditing it. Only
 * the service's own error classes are shown as they are; anything else (a
 * `TypeError` included) is a bug: the model sees an internal error with a
 * reference id, and the log has the reference and the error's class.
 */
export function mapToolError(
  error: unknown,
  context: ToolContext,
  scope: FailureScope,
  options: MapToolErrorOptions = {},
): CallToolResult {
  const result = mapError(error, context, scope);
  return withOutcome(
    options.handleUnused === true && leavesHandleUsable(error)
      ? withUnusedHandleNote(result)
      : result,
    errorOutcome(error),
  );
}

/** The outcome class of a call that ended with `error` (the metrics count it). */
function errorOutcome(error: unknown): ToolCallOutcome {
  if (error instanceof HandleError || error instanceof HandleStoreError) {
    return "refused";
  }
  if (error instanceof ToolCallLimitError) return "rate_limited";
  if (error instanceof PolicyDeniedError) return "denied";
  if (error instanceof ApprovalRefusedError) return "denied";
  return "error";
}

/** Options of {@linkcode mapToolError}. */
export interface MapToolErrorOptions {
  /**
   * The call was refused before its handle was redeemed: the text says the
   * handle was not used (where the handle still works).
   */
  handleUnused?: boolean;
}

/** Whether the handle still works after this error (it was not the handle's fault). */
function leavesHandleUsable(error: unknown): boolean {
  if (error instanceof HandleError) {
    return error.reason === "host_mismatch" || error.reason === "scope" ||
      error.reason === "principal_mismatch" || error.reason === "reserved";
  }
  return !(error instanceof HandleStoreError);
}

const UNUSED_NOTE = "the handle was not used";

function withUnusedHandleNote(result: CallToolResult): CallToolResult {
  const first = result.content[0];
  if (
    first === undefined || first.type !== "text" ||
    first.text.toLowerCase().includes(UNUSED_NOTE)
  ) {
    return result;
  }
  return toolError(`${first.text.replace(/[.\s]+$/, "")}; ${UNUSED_NOTE}`);
}

function mapError(
  error: unknown,
  context: ToolContext,
  scope: FailureScope,
): CallToolResult {
  const base = {
    tool: scope.tool,
    ...scope.fields,
    ...callerFields(context),
  };
  if (error instanceof CyberArkError) {
    audit("cyberark_error", {
      app_id: context.services.ccp.appId,
      ...base,
      error_code: error.code,
      http_status: error.httpStatus ?? null,
    }, "error");
    return toolError(error.message);
  }
  if (error instanceof HandleError) {
    if (error.reason === "scope") {
      // The handle is for another tool or port: it still works where it belongs.
      audit("handle_scope_refused", {
        ...base,
        handle_id: error.handleId,
        expected_protocol: error.scope?.protocol ?? null,
        expected_ports: error.scope?.ports.join(",") ?? null,
      }, "warning");
    } else if (
      error.reason === "expired" || error.reason === "already_consumed"
    ) {
      audit("handle_expired", {
        ...base,
        handle_id: error.handleId,
        reason: error.reason,
      }, "warning");
    } else {
      audit("handle_refused", {
        ...base,
        handle_id: error.handleId || null,
        reason: error.reason,
        // Who the handle belongs to, when another principal presented it.
        ...(error.issuedTo === undefined ? {} : { issued_to: error.issuedTo }),
      }, "warning");
    }
    return toolError(error.message);
  }
  if (error instanceof HandleStoreError) {
    // Redis unreachable or an entry altered: the message names the fix and
    // holds no secret, key or password.
    audit("handle_store_error", {
      ...base,
      reason: error.reason,
      error: error.message,
    }, "error");
    return toolError(error.message);
  }
  if (error instanceof ExecutorBusyError) {
    log.warn("Executor queue full in {tool}", { tool: scope.tool });
    return toolError(error.message);
  }
  if (error instanceof ExecutorWaitTimeoutError) {
    log.warn("No executor slot freed up in time for {tool}", {
      tool: scope.tool,
    });
    return toolError(error.message);
  }
  if (error instanceof ToolCallLimitError) {
    audit("rate_limited", {
      ...base,
      reason: "tool_calls",
      retry_after_seconds: error.retryAfterSeconds,
    }, "warning");
    return toolError(error.message);
  }
  if (error instanceof PolicyDeniedError) {
    // Nothing was fetched or taken; the SIEM sees who tried what, and which
    // rule (or none) decided.
    const { request, decision } = error;
    auditPolicyDenied(base, {
      ...request,
      ...(error.handleId === undefined ? {} : { handleId: error.handleId }),
      rule: decision.rule ?? null,
      effect: decision.effect,
      matched: decision.matched,
    });
    return toolError(error.message);
  }
  if (error instanceof ApprovalStoreError) {
    // Redis unreachable while filing or watching an approval request: the
    // message names the store and the fix, never a password.
    log.error("{tool}: approval store unavailable: {message}", {
      tool: scope.tool,
      message: error.message,
    });
    return toolError(error.message);
  }
  if (error instanceof ApprovalRefusedError) {
    // Denials and expiries were audited by the broker; a rule that asks for
    // approval on a service without approvers is a policy refusal.
    if (error.refusal === "no_approvers") {
      const { subject } = error;
      auditPolicyDenied(base, {
        ...subject,
        effect: "approve",
        matched: [subject.rule],
      });
    }
    return toolError(error.message);
  }
  if (error instanceof InputError || error instanceof CcpQueryError) {
    // The message names the argument and the fix. A query the CCP client
    // refuses is bad input too, wherever in the call it was caught.
    return toolError(error.message);
  }
  if (error instanceof SetupError) {
    log.error("{tool} stopped by the service's setup: {message}", {
      tool: scope.tool,
      message: error.message,
    });
    return toolError(error.message);
  }
  const reference = crypto.randomUUID().slice(0, 8);
  log.error("Unexpected error in {tool} (reference {reference}): {name}", {
    tool: scope.tool,
    reference,
    name: error instanceof Error ? error.name : typeof error,
    // Code locations only: the message of an unexpected error may quote
    // anything, a secret included.
    frames: error instanceof Error ? stackFrames(error) : [],
  });
  return toolError(
    `Internal error in ${scope.tool} (reference ${reference}); the operators can find it in the service log`,
  );
}

/** What a `policy_denied` line says about the refused call. */
interface PolicyRefusal {
  readonly safe: string;
  readonly object: string;
  readonly host?: string;
  readonly handleId?: string;
  /** The deciding rule; null when no rule allows the call. */
  readonly rule: string | null;
  readonly effect: string;
  readonly matched: readonly string[];
}

/** The `policy_denied` audit line: nothing was fetched or taken. */
function auditPolicyDenied(
  base: Record<string, AuditValue>,
  refusal: PolicyRefusal,
): void {
  audit("policy_denied", {
    ...base,
    safe: refusal.safe,
    object_name: refusal.object,
    ...(refusal.host === undefined ? {} : { host: refusal.host }),
    ...(refusal.handleId === undefined ? {} : { handle_id: refusal.handleId }),
    rule: refusal.rule,
    effect: refusal.effect,
    matched_rules: refusal.matched.join(","),
  }, "warning");
}

/** The "at ..." lines of an error's stack, without its message. */
function stackFrames(error: Error): string[] {
  return (error.stack ?? "")
    .split("\n")
    .filter((line) => /^\s+at /.test(line))
    .slice(0, 8)
    .map((line) => line.trim());
}
