/**
 * Approval requests in this process's memory (`HANDLE_STORE=memory`): one
 * replica, lost on restart (a waiting call dies with it, so nothing is left
 * to approve). JavaScript runs one step at a time, so each transition is
 * atomic.
 *
 * @module
 */
import type { ApprovalRequest, ApprovalState } from "./approval.ts";
import {
  APPROVAL_RETENTION_MS,
  type ApprovalChange,
  type ApprovalStore,
  type ApprovalStoreEvent,
  MAX_LISTED_APPROVALS,
  type TransitionResult,
} from "./approval_store.ts";

/** Options of {@linkcode MemoryApprovalStore}. */
export interface MemoryApprovalStoreOptions {
  /** How long decided requests stay listed (default 24 hours). */
  readonly retentionMs?: number;
  /** Most requests kept (default 500); pending ones are never dropped. */
  readonly maxListed?: number;
}

interface Entry {
  request: ApprovalRequest;
  /** `performance.now()` until which the waiter's lease holds. */
  leaseUntil: number;
}

/** Approval requests in a `Map`; see the module doc. */
export class MemoryApprovalStore implements ApprovalStore {
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Set<(event: ApprovalStoreEvent) => void>();
  readonly #retentionMs: number;
  readonly #maxListed: number;

  /** Creates an empty store. */
  constructor(options: MemoryApprovalStoreOptions = {}) {
    this.#retentionMs = options.retentionMs ?? APPROVAL_RETENTION_MS;
    this.#maxListed = options.maxListed ?? MAX_LISTED_APPROVALS;
  }

  /** Stores a new pending request. */
  create(request: ApprovalRequest, leaseMs: number): Promise<void> {
    if (this.#entries.has(request.id)) {
      return Promise.reject(
        new RangeError(`Approval request ${request.id} exists already`),
      );
    }
    this.#entries.set(request.id, {
      request,
      leaseUntil: performance.now() + leaseMs,
    });
    this.#prune();
    this.#emit({ id: request.id, state: request.state });
    return Promise.resolve();
  }

  /** One request, or undefined. */
  get(id: string): Promise<ApprovalRequest | undefined> {
    return Promise.resolve(this.#entries.get(id)?.request);
  }

  /** Requests, newest first. */
  list(): Promise<ApprovalRequest[]> {
    this.#prune();
    return Promise.resolve(
      [...this.#entries.values()].map((e) => e.request).sort(newestFirst),
    );
  }

  /** Moves a pending request to a final state (atomic: no `await` inside). */
  transition(id: string, change: ApprovalChange): Promise<TransitionResult> {
    const entry = this.#entries.get(id);
    if (entry === undefined) return Promise.resolve({ outcome: "not_found" });
    const current = entry.request;
    if (current.state !== "pending") {
      return Promise.resolve({ outcome: "not_pending", request: current });
    }
    const late = change.decision &&
      (change.decidedAt > current.expiresAt ||
        performance.now() > entry.leaseUntil);
    const request: ApprovalRequest = late
      ? { ...current, state: "expired", decidedAt: change.decidedAt }
      : {
        ...current,
        state: change.state,
        decidedAt: change.decidedAt,
        ...(change.approver === undefined ? {} : { approver: change.approver }),
        ...(change.comment === undefined ? {} : { comment: change.comment }),
      };
    entry.request = request;
    this.#emit({ id, state: request.state });
    return Promise.resolve({ outcome: late ? "expired" : "changed", request });
  }

  /** Extends the waiter's lease of a pending request. */
  renew(id: string, leaseMs: number): Promise<ApprovalState | undefined> {
    const entry = this.#entries.get(id);
    if (entry?.request.state === "pending") {
      entry.leaseUntil = performance.now() + leaseMs;
    }
    return Promise.resolve(entry?.request.state);
  }

  /** Calls `listener` after every creation and change. */
  onChange(listener: (event: ApprovalStoreEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Forgets the listeners. */
  close(): Promise<void> {
    this.#listeners.clear();
    return Promise.resolve();
  }

  #emit(event: ApprovalStoreEvent): void {
    for (const listener of [...this.#listeners]) {
      // After the caller's step, as a message from another replica would come.
      queueMicrotask(() => {
        try {
          listener(event);
        } catch {
          // A listener's failure is its own.
        }
      });
    }
  }

  /** Drops decided requests past the retention time, then the oldest decided ones over the cap. */
  #prune(): void {
    const oldest = Date.now() - this.#retentionMs;
    for (const [id, { request }] of this.#entries) {
      const settled = request.state === "pending"
        ? request.expiresAt
        : request.decidedAt ?? request.createdAt;
      if (settled < oldest) this.#entries.delete(id);
    }
    const decided = [...this.#entries.values()].map((e) => e.request)
      .filter((r) => r.state !== "pending").sort(newestFirst);
    const room = Math.max(
      0,
      this.#maxListed - (this.#entries.size - decided.length),
    );
    for (const request of decided.slice(room)) {
      this.#entries.delete(request.id);
    }
  }
}

function newestFirst(a: ApprovalRequest, b: ApprovalRequest): number {
  return b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1);
}
