/**
 * The one pipeline every target tool (ssh_execute, ps_execute, db_query)
 * runs through, so that the order of its steps lives in one place:
 *
 * 0. count the call against the principal's `TOOL_CALL_LIMIT` (over it, the
 *    call is refused before anything else);
 * 0a. check the characters of every string argument (`_string_rules.ts`);
 * 1. validate the target (a bad host or port is an input error);
 * 2. the tool's own checks and settings ({@linkcode TargetTool.prepare}),
 *    which may refuse the call;
 * 3. check the handle against the calling principal, the target's host,
 *    the tool's protocol and the port, consuming nothing;
 * 3a. ask the policy (POLICY_FILE) about the principal, the tool, the host,
 *    the command and the Safe and object the handle was fetched from; a
 *    denial refuses the call here (a `read_only` rule binds db_query);
 * 3b. a rule that asks for approval: hold the handle for this call and wait
 *    for a second person; anything but an approval releases it unspent;
 * 4. hold a free executor slot (a busy service refuses here), naming the
 *    handle, so that the run takes the executor warmed for it by
 *    get_credential when the call matches it, and kills it otherwise;
 * 5. redeem the handle (the same checks, atomically);
 * 6. warn about every insecure setting in use;
 * 7. run the operation in the held slot;
 * 8. write the audit line, success or failure;
 * 9. turn the outcome into the tool's text, or its failure into an error
 *    text; anything thrown on the way is mapped by `mapToolError`.
 *
 * The handle is taken only at step 5, once everything that can refuse the
 * call without touching the target has passed: a refused call spends no
 * handle and says so. A tool file holds only what is specific to its
 * protocol.
 *
 * @module
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import type {
  ExecutorFailure,
  Operation,
  Target,
} from "../../executors/protocol/mod.ts";
import {
  type ExecutorCredential,
  type ExecutorKind,
  type ExecutorReservation,
  type ResultOf,
  validateTarget,
} from "../../executors/spawner/mod.ts";
import type {
  HandleReservation,
  RedeemedCredential,
  RedeemTarget,
} from "../../vault/handle_vault.ts";
import type { ApprovalOutcome } from "../approvals/approval.ts";
import { approvedLine, awaitApproval } from "../approval_gate.ts";
import { type CallControl, NO_CONTROL } from "../call_control.ts";
import { enforcePolicy } from "../policy_gate.ts";
import type { PolicyTool } from "../policy/policy.ts";
import type { HandleProtocol } from "../../vault/handle_scope.ts";
import { audit, type AuditEvent, type AuditValue } from "../audit.ts";
import type { ExecutorConfig } from "../config/mod.ts";
import { validateInput } from "../input_error.ts";
import { limitToolCall } from "../rate_limits.ts";
import { callerFields, type ToolContext } from "../tool_context.ts";
import { mapToolError, toolError } from "../tool_errors.ts";
import { operationOutcome, withOutcome } from "../tool_outcome.ts";
import { checkStringArguments } from "./_string_rules.ts";

/**
 * Seconds a held handle outlives the approval timeout besides the
 * operation's own limit, so an approved call always finds it.
 */
const APPROVAL_HOLD_MARGIN_S = 30;

/** The `secret_handle` argument. */
export const secretHandleArgument = z.string().min(1).max(100).describe(
  "Handle returned by get_credential (secret://...). Single-use: get a new one for every call.",
);

/** The `host` argument: the credential's Address. */
export function hostArgument(what: string): z.ZodString {
  return z.string().min(1).max(253).describe(
    `${what} host name or IP address (the credential's Address)`,
  );
}

/** The `port` argument, optional, with the tool's default in its description. */
export function portArgument(description: string): z.ZodOptional<z.ZodNumber> {
  return z.number().int().min(1).max(65535).optional().describe(description);
}

/** The `timeout_seconds` argument, bounded by configuration. */
export function timeoutArgument(
  config: ExecutorConfig,
): z.ZodOptional<z.ZodNumber> {
  return z.number().int().min(1).max(config.maxTimeoutSeconds).optional()
    .describe(
      `Seconds before the operation is killed (default ${config.defaultTimeoutSeconds}, at most ${config.maxTimeoutSeconds})`,
    );
}

/** The effective timeout in milliseconds. */
export function timeoutMs(
  requested: number | undefined,
  config: ExecutorConfig,
): number {
  return Math.min(
    requested ?? config.defaultTimeoutSeconds,
    config.maxTimeoutSeconds,
  ) * 1000;
}

/**
 * `host:port` as people write it: an IPv6 address in brackets. The one
 * formatting of a target in tool texts.
 */
export function hostPort(target: { host: string; port: number }): string {
  return target.host.includes(":")
    ? `[${target.host}]:${target.port}`
    : `${target.host}:${target.port}`;
}

/** Audit fields of one call, flat. */
export type AuditFields = Record<string, AuditValue>;

/** The executor kinds a target tool runs (every kind but the probe). */
export type TargetKind = Exclude<ExecutorKind, "probe">;

/** The arguments every target tool shares, as the model sent them. */
export interface TargetCall {
  /** The `host` argument, not yet validated. */
  readonly host: string;
  /** The port: the argument, or the tool's default. */
  readonly port: number;
  /** The `secret_handle` argument. */
  readonly secretHandle: string;
  /** The `timeout_seconds` argument. */
  readonly timeoutSeconds: number | undefined;
  /** Fields for the audit line of a call refused before it ran (besides host and port). */
  readonly refusalFields?: AuditFields;
  /**
   * Every argument as the model sent them: their strings are checked
   * against the tool's character rules first (`_string_rules.ts`).
   */
  readonly args: Readonly<Record<string, unknown>>;
}

/** What the policy granted a call beyond running it. */
export interface OperationGrant {
  /** db_query must run in a session the database keeps read-only. */
  readonly readOnly: boolean;
  /** The rule that allowed the call (undefined without a POLICY_FILE). */
  readonly rule: string | undefined;
}

/** What the pipeline knows once the executor has answered. */
export interface RunFacts<P> {
  /** The validated target. */
  readonly target: Target;
  /** What {@linkcode TargetTool.prepare} returned. */
  readonly prepared: P;
  /** The effective time limit (ms). */
  readonly limitMs: number;
  /** What the policy granted. */
  readonly grant: OperationGrant;
}

/** What a tool's success or failure contributes: its audit fields and its text. */
export interface ToolOutcome {
  /** Audit fields of the outcome (exit code, rows, error code...). */
  readonly audit: AuditFields;
  /** The audit line's level (default `info` on success, `warning` on failure). */
  readonly level?: "info" | "warning";
  /** The text the model sees. */
  readonly text: string;
}

/**
 * What a target tool contributes to the pipeline: the protocol-specific
 * steps, each a small function. `P` is whatever its `prepare` computes.
 */
export interface TargetTool<K extends TargetKind, P> {
  /** Tool name, as in the manual. */
  readonly name: Exclude<PolicyTool, "get_credential">;
  /** The command, script or query: what a policy rule's `commands` match. */
  readonly command: string;
  /** The audit event of every call that reached the executor. */
  readonly event: AuditEvent;
  /** The protocol the tool speaks; a handle must be scoped to it. */
  readonly protocol: HandleProtocol;
  /**
   * The tool's own checks and settings, before the handle is redeemed.
   * Throws an `InputError` (or a `SetupError`) to refuse the call.
   */
  prepare(target: Target): P | Promise<P>;
  /** Logs a warning for each insecure setting this call uses (every call). */
  warnInsecure?(facts: { target: Target; prepared: P }): void;
  /** The operation for the executor, under what the policy granted. */
  operation(
    prepared: P,
    grant: OperationGrant,
  ): Extract<Operation, { kind: K }>;
  /** The Windows logon domain of the credential, where the protocol has one. */
  domain?(redeemed: RedeemedCredential, target: Target): string | undefined;
  /** Audit fields known before the run (command, database...). */
  auditFields(prepared: P, grant: OperationGrant): AuditFields;
  /** The database an approver is shown, e.g. `orders (postgres)` (db_query). */
  approvalDatabase?(prepared: P): string;
  /** The result as the model sees it, and its audit fields. */
  succeeded(result: ResultOf<K>, facts: RunFacts<P>): ToolOutcome;
  /** The failure as the model sees it, and its audit fields. */
  failed(failure: ExecutorFailure, facts: RunFacts<P>): ToolOutcome;
}

/**
 * Runs one target operation through the shared pipeline and returns the
 * tool result; never throws.
 */
export async function runTargetOperation<K extends TargetKind, P>(
  tool: TargetTool<K, P>,
  call: TargetCall,
  context: ToolContext,
  control: CallControl = NO_CONTROL,
): Promise<CallToolResult> {
  const scope = {
    tool: tool.name,
    fields: { host: call.host, port: call.port, ...call.refusalFields },
  };
  const started = performance.now();
  // Until the handle is redeemed, every refusal leaves it usable and says so.
  let handleSpent = false;
  try {
    await limitToolCall(
      context.services.rateLimits.toolCalls,
      context.principal.name,
    );
    checkStringArguments(tool.name, call.args);
    const target = validateInput(() => validateTarget(call.host, call.port));
    const prepared = await tool.prepare(target);
    const { config, vault, executors } = context.services;
    const bound: RedeemTarget = {
      host: target.host,
      port: target.port,
      protocol: tool.protocol,
      principal: context.principal.name,
    };
    // Refuse another principal's handle, a wrong host, tool or port before
    // waiting for a slot; the redemption checks again, atomically.
    const facts = await vault.check(call.secretHandle, bound);
    // The policy sees the Safe and object the handle was fetched from, so a
    // handle carries no rights of its own into this call.
    const decision = enforcePolicy(context, {
      tool: tool.name,
      safe: facts.safe,
      object: facts.objectName,
      host: target.host,
      command: tool.command,
    }, facts.handleId);
    const grant: OperationGrant = {
      readOnly: decision.readOnly,
      rule: decision.rule,
    };
    const limitMs = timeoutMs(call.timeoutSeconds, config.executors);
    // A rule that asks for approval: the handle is held for this call while
    // a second person decides (nobody else can redeem it, and it cannot
    // expire meanwhile); anything but an approval releases it unspent.
    let approval: ApprovalOutcome | undefined;
    let held: HandleReservation | undefined;
    if (decision.effect === "approve") {
      held = await vault.reserve(
        call.secretHandle,
        bound,
        (context.services.approvals.timeoutSeconds + APPROVAL_HOLD_MARGIN_S) *
            1000 + limitMs,
      );
      try {
        approval = await awaitApproval(context, control, {
          principal: context.principal.name,
          clientIp: context.clientIp,
          tool: tool.name,
          host: target.host,
          port: target.port,
          safe: facts.safe,
          object: facts.objectName,
          username: facts.username,
          command: tool.command,
          ...(tool.approvalDatabase === undefined
            ? {}
            : { database: tool.approvalDatabase(prepared) }),
          rule: decision.rule ?? "",
          ...(facts.reason === undefined ? {} : { reason: facts.reason }),
          handleId: facts.handleId,
        });
      } catch (error) {
        await held.release();
        throw error;
      }
    }
    // Hold an executor slot before taking the handle: a busy service
    // refuses the call without spending it.
    let reservation: ExecutorReservation;
    try {
      reservation = await executors.reserve({
        timeoutMs: limitMs,
        handleId: facts.handleId,
      });
    } catch (error) {
      await held?.release();
      throw error;
    }
    try {
      const redeemed = held === undefined
        ? await vault.redeem(call.secretHandle, bound)
        : await held.claim();
      handleSpent = true;
      tool.warnInsecure?.({ target, prepared });
      const outcome = await reservation.run({
        target,
        credential: executorCredential(
          redeemed,
          tool.domain?.(redeemed, target),
        ),
        operation: tool.operation(prepared, grant),
        timeoutMs: limitMs,
        maxOutputBytes: config.executors.maxOutputBytes,
      });
      const runFacts: RunFacts<P> = { target, prepared, limitMs, grant };
      const result = outcome.ok
        ? tool.succeeded(outcome.result, runFacts)
        : tool.failed(outcome.error, runFacts);
      audit(tool.event, {
        host: target.host,
        port: target.port,
        username: redeemed.username,
        ...tool.auditFields(prepared, grant),
        handle_id: redeemed.handleId,
        ...callerFields(context),
        policy_rule: grant.rule ?? null,
        // Whether the child was started ahead by get_credential.
        executor: outcome.timing.executor,
        ...(approval === undefined ? {} : {
          approval_id: approval.id,
          approved_by: approval.approver ?? null,
        }),
        duration_ms: Math.round(performance.now() - started),
        ...result.audit,
      }, result.level ?? (outcome.ok ? "info" : "warning"));
      // An approved call says who approved it, first.
      const text = approval === undefined
        ? result.text
        : `${approvedLine(approval)}\n${result.text}`;
      return withOutcome(
        outcome.ok ? { content: [{ type: "text", text }] } : toolError(text),
        operationOutcome(tool.protocol, outcome),
      );
    } finally {
      reservation.release();
    }
  } catch (error) {
    return mapToolError(error, context, scope, {
      handleUnused: !handleSpent,
    });
  }
}

/** The executor's view of a redeemed credential (secrets stay wrapped). */
function executorCredential(
  redeemed: RedeemedCredential,
  domain: string | undefined,
): ExecutorCredential {
  return {
    username: redeemed.username,
    kind: redeemed.secretKind,
    secret: redeemed.secret,
    ...(redeemed.passphrase === undefined
      ? {}
      : { passphrase: redeemed.passphrase }),
    ...(domain === undefined ? {} : { domain }),
  };
}

/** A tool error text for failures every executor can report. */
export function genericFailureText(
  failure: ExecutorFailure,
  target: { host: string; port: number },
  limitMs: number,
): string {
  switch (failure.code) {
    case "timeout":
      return `Operation on ${hostPort(target)} timed out after ${
        Math.round(limitMs / 1000)
      } s and was killed; pass a larger timeout_seconds, or start long jobs in the background (nohup ... &)`;
    case "connection_failed":
      return `Cannot connect to ${hostPort(target)}: ${failure.message}`;
    default:
      return failure.message;
  }
}
