/**
 * Where a call that a policy rule sends for approval (`effect: approve`)
 * waits for a second person: `awaitApproval()` files the request with the
 * broker, reports progress to the MCP client while it waits, and returns
 * only an approval; a denial, no decision in time or a service without
 * approvers is an {@linkcode ApprovalRefusedError}.
 *
 * @module
 */
import type { ApprovalOutcome, ApprovalSubject } from "./approvals/approval.ts";
import type { CallControl } from "./call_control.ts";
import type { ToolContext } from "./tool_context.ts";

/** Why an approval was not given. */
export type ApprovalRefusal = "denied" | "expired" | "no_approvers";

/** A call that needed approval and did not get it; the broker has audited it. */
export class ApprovalRefusedError extends Error {
  readonly refusal: ApprovalRefusal;
  /** The request id (absent when no request could be filed). */
  readonly requestId: string | undefined;
  /** What the approval was asked for (for the audit line of `no_approvers`). */
  readonly subject: ApprovalSubject;

  /** Creates the error with the text the model sees. */
  constructor(
    refusal: ApprovalRefusal,
    message: string,
    subject: ApprovalSubject,
    requestId?: string,
  ) {
    super(message);
    this.name = "ApprovalRefusedError";
    this.refusal = refusal;
    this.subject = subject;
    this.requestId = requestId;
  }
}

/**
 * Files an approval request for the call and waits for the decision.
 *
 * @returns the approving outcome (state `approved`, with the approver)
 * @throws {ApprovalRefusedError} denied, expired (fail closed), or no approvers configured
 */
export async function awaitApproval(
  context: ToolContext,
  control: CallControl,
  subject: ApprovalSubject,
): Promise<ApprovalOutcome> {
  const { approvals, config } = context.services;
  if (config.approvals.approvers.length === 0) {
    throw new ApprovalRefusedError(
      "no_approvers",
      `Refused by policy rule "${subject.rule}": it requires a second person's approval, but this service has no approvers (APPROVERS or APPROVERS_FILE); ask an administrator to configure approvers or to change the rule`,
      subject,
    );
  }
  const timeoutSeconds = approvals.timeoutSeconds;
  const outcome = await approvals.requestApproval(subject, {
    ...(control.signal === undefined ? {} : { signal: control.signal }),
    onWaiting: (waitedMs, timeoutMs) =>
      control.progress(
        Math.floor(waitedMs / 1000),
        Math.ceil(timeoutMs / 1000),
        `Waiting for an approver (policy rule "${subject.rule}"): ${
          Math.max(0, Math.ceil((timeoutMs - waitedMs) / 1000))
        } s left`,
      ),
  });
  switch (outcome.state) {
    case "approved":
      return outcome;
    case "denied":
      throw new ApprovalRefusedError(
        "denied",
        `Denied by approver "${outcome.approver ?? "unknown"}"${
          outcome.comment ? `: ${outcome.comment}` : ""
        } (approval request ${outcome.id}); the call was not run`,
        subject,
        outcome.id,
      );
    case "expired":
      throw new ApprovalRefusedError(
        "expired",
        `No approver decided within ${timeoutSeconds} s (APPROVAL_TIMEOUT_SECONDS), so the call was not run (approval request ${outcome.id}); ask an approver to watch the approvals console and call again`,
        subject,
        outcome.id,
      );
  }
}

/** The line a result starts with when the call ran after an approval. */
export function approvedLine(outcome: ApprovalOutcome): string {
  return `Approved by: ${
    outcome.approver ?? "unknown"
  } (approval request ${outcome.id})${
    outcome.comment ? `: ${outcome.comment}` : ""
  }`;
}
