/**
 * The contract of four-eyes approvals between the pipeline, the broker
 * (`broker.ts`, stores, webhook) and the console and its API (`http/`):
 * what a request holds, what an approver decides, and the broker's surface.
 *
 * A request never holds a secret or a handle: only the handle's id.
 *
 * @module
 */
import type { Secret } from "../../vault/secret.ts";
import type { PolicyTool } from "../policy/policy.ts";

/** Where a request is in its life. */
export type ApprovalState = "pending" | "approved" | "denied" | "expired";

/** What the approver is asked about: the call, in full, and who makes it. */
export interface ApprovalSubject {
  /** The principal making the call. */
  readonly principal: string;
  /** The caller's address. */
  readonly clientIp: string;
  readonly tool: PolicyTool;
  /** Target host (target tools). */
  readonly host?: string;
  /** Target port (target tools). */
  readonly port?: number;
  /** The Safe of the credential. */
  readonly safe: string;
  /** The account object name. */
  readonly object: string;
  /** The credential's user name (target tools). */
  readonly username?: string;
  /** The command, script or query, in full (target tools). */
  readonly command?: string;
  /** Database name and type of a db_query, e.g. `orders (postgres)`. */
  readonly database?: string;
  /** The policy rule whose `effect: approve` asked for this. */
  readonly rule: string;
  /** The reason given to get_credential, if any. */
  readonly reason?: string;
  /** The id of the handle the call holds (never the handle). */
  readonly handleId?: string;
}

/** One approval request as stored and shown. */
export interface ApprovalRequest extends ApprovalSubject {
  /** Unguessable id (128 random bits, base64url). */
  readonly id: string;
  readonly state: ApprovalState;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  /** Epoch milliseconds after which it can no longer be approved. */
  readonly expiresAt: number;
  /** Epoch milliseconds of the decision (approved, denied or expired). */
  readonly decidedAt?: number;
  /** Who approved or denied it. */
  readonly approver?: string;
  /** The approver's comment. */
  readonly comment?: string;
}

/** How a wait for a decision ended. */
export interface ApprovalOutcome {
  readonly state: Exclude<ApprovalState, "pending">;
  /** The request id. */
  readonly id: string;
  readonly approver?: string;
  readonly comment?: string;
}

/** What an approver does to a pending request. */
export type ApprovalVerdict = "approve" | "deny";

/** Options of {@linkcode ApprovalBroker.requestApproval}. */
export interface RequestApprovalOptions {
  /**
   * Called about every few seconds while the call waits (MCP progress
   * notifications); its failures are ignored.
   */
  readonly onWaiting?: (waitedMs: number, timeoutMs: number) => unknown;
  /** Aborts the wait (the client went away): the request expires at once. */
  readonly signal?: AbortSignal;
}

/**
 * Holds pending requests (in memory, or in Redis shared by replicas), wakes
 * the waiting call when an approver decides (on any replica), audits every
 * step and notifies the webhook.
 */
export interface ApprovalBroker {
  /** Seconds a call waits for a decision (`APPROVAL_TIMEOUT_SECONDS`). */
  readonly timeoutSeconds: number;
  /**
   * Files a pending request (audit `approval_requested`, webhook) and waits
   * for a decision; no decision in time is `expired` (fail closed, audit
   * `approval_expired`). Never resolves `approved` without an approver.
   */
  requestApproval(
    subject: ApprovalSubject,
    options?: RequestApprovalOptions,
  ): Promise<ApprovalOutcome>;
  /** Requests, newest first; `state` filters. */
  list(filter?: { state?: ApprovalState; limit?: number }): Promise<
    ApprovalRequest[]
  >;
  /** One request, or undefined. */
  get(id: string): Promise<ApprovalRequest | undefined>;
  /**
   * An approver's decision (audit `approval_granted` / `approval_denied`,
   * webhook).
   *
   * @throws {ApprovalError} unknown id, no longer pending, or the approver is the requesting principal
   */
  decide(
    id: string,
    approver: string,
    verdict: ApprovalVerdict,
    comment: string,
  ): Promise<ApprovalRequest>;
  /** Calls `listener` on every new request and every decision (live console); returns the unsubscribe. */
  subscribe(listener: (request: ApprovalRequest) => void): () => void;
  /** Stops timers and connections. */
  close(): Promise<void>;
}

/** Why a decision was refused. */
export type ApprovalErrorReason =
  | "not_found"
  | "not_pending"
  | "self_approval"
  | "invalid";

/** A decision the broker refuses; the message names the fix. */
export class ApprovalError extends Error {
  readonly reason: ApprovalErrorReason;

  /** Creates the error. */
  constructor(reason: ApprovalErrorReason, message: string) {
    super(message);
    this.name = "ApprovalError";
    this.reason = reason;
  }
}

/** An approver: a name and the SHA-256 of its key, as API key principals keep theirs. */
export interface Approver {
  readonly name: string;
  /** Lower-case hex SHA-256 of the key; compared in constant time. */
  readonly sha256: Secret;
}
