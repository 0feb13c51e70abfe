/**
 * Where approval requests live: the broker's storage contract. Two
 * implementations: `memory_approval_store.ts` (one replica) and
 * `redis_approval_store.ts` (every replica of a `HANDLE_STORE=redis`
 * deployment).
 *
 * Every change of state is one atomic step of the store
 * ({@linkcode ApprovalStore.transition}): of an approval, a denial and an
 * expiry racing for the same request exactly one wins, on any replica, and
 * the losers are told what won.
 *
 * The waiter's lease: the call waiting for a decision keeps a lease on its
 * request alive ({@linkcode ApprovalStore.renew}). A decision on a request
 * whose lease has lapsed (its replica died or restarted) expires it instead,
 * so nothing is ever approved that nobody is waiting to run.
 *
 * @module
 */
import type { ApprovalRequest, ApprovalState } from "./approval.ts";

/** What a decided request records besides its new state. */
export interface ApprovalChange {
  /** `approved` or `denied` (decisions) or `expired`. */
  readonly state: Exclude<ApprovalState, "pending">;
  /** Epoch milliseconds of the change. */
  readonly decidedAt: number;
  readonly approver?: string;
  readonly comment?: string;
  /**
   * A decision: refused (the request expires instead) when `decidedAt` is
   * past the request's `expiresAt` or the waiter's lease has lapsed.
   */
  readonly decision: boolean;
}

/** What an atomic transition did. */
export type TransitionResult =
  /** The request was pending and now has the new state. */
  | { readonly outcome: "changed"; readonly request: ApprovalRequest }
  /**
   * A decision came too late (past `expiresAt`, or the waiter is gone): the
   * request was pending and is now `expired`.
   */
  | { readonly outcome: "expired"; readonly request: ApprovalRequest }
  /** The request was no longer pending; `request` holds what won. */
  | { readonly outcome: "not_pending"; readonly request: ApprovalRequest }
  | { readonly outcome: "not_found" };

/** A change seen by the store, on this replica or another. */
export interface ApprovalStoreEvent {
  readonly id: string;
  readonly state: ApprovalState;
}

/** Storage of approval requests; see the module doc. */
export interface ApprovalStore {
  /**
   * Stores a new pending request with a waiter's lease of `leaseMs`.
   *
   * @throws {ApprovalStoreError} when the store cannot be reached
   */
  create(request: ApprovalRequest, leaseMs: number): Promise<void>;
  /**
   * One request as stored (a pending one past `expiresAt` is still
   * `pending` here; the broker shows it expired).
   *
   * @throws {ApprovalStoreError} when the store cannot be reached
   */
  get(id: string): Promise<ApprovalRequest | undefined>;
  /**
   * Recent requests, newest first: every pending one and the decided ones
   * of the retention time, at most the store's cap.
   *
   * @throws {ApprovalStoreError} when the store cannot be reached
   */
  list(): Promise<ApprovalRequest[]>;
  /**
   * Moves a pending request to a final state in one atomic step.
   *
   * @throws {ApprovalStoreError} when the store cannot be reached
   */
  transition(id: string, change: ApprovalChange): Promise<TransitionResult>;
  /**
   * Extends the waiter's lease of a pending request; returns the state the
   * request is in (`undefined` when it is gone).
   *
   * @throws {ApprovalStoreError} when the store cannot be reached
   */
  renew(id: string, leaseMs: number): Promise<ApprovalState | undefined>;
  /** Calls `listener` on every creation and change, on any replica; returns the unsubscribe. */
  onChange(listener: (event: ApprovalStoreEvent) => void): () => void;
  /** Closes connections; requests stay for the other replicas. */
  close(): Promise<void>;
}

/** The approval store could not be reached (Redis down); the message names the fix. */
export class ApprovalStoreError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ApprovalStoreError";
  }
}

/** How long decided requests stay listed (24 hours). */
export const APPROVAL_RETENTION_MS = 24 * 60 * 60 * 1000;
/** Most requests a store keeps listed. */
export const MAX_LISTED_APPROVALS = 500;
