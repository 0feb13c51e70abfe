/**
 * The approvals broker: files a request for a call the policy sends to an
 * approver, waits for the decision (made on this replica or, with Redis, on
 * any other), and fails closed when none comes in time.
 *
 * The store is the only judge of a request's state: every change is one
 * atomic transition there, and a waiter always reports what the store says
 * (an approval that beat the expiry by a millisecond is approved; one that
 * lost is expired). The wait runs on the monotonic clock (timers); the epoch
 * times `createdAt` / `expiresAt` are for display and for refusing a late
 * decision.
 *
 * A replica that stops never leaves anything to approve: `close()` expires
 * the requests its calls wait for, and when a replica dies instead, the
 * waiter's lease in the store lapses and a decision then expires the request
 * (see `approval_store.ts`). Pending requests past `expiresAt` show as
 * expired everywhere (`list`, `get`, `subscribe`) even before anyone moves
 * them.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { audit, type AuditValue } from "../audit.ts";
import {
  type ApprovalBroker,
  ApprovalError,
  type ApprovalOutcome,
  type ApprovalRequest,
  type ApprovalState,
  type ApprovalSubject,
  type ApprovalVerdict,
  type RequestApprovalOptions,
} from "./approval.ts";
import {
  type ApprovalStore,
  ApprovalStoreError,
  type ApprovalStoreEvent,
  MAX_LISTED_APPROVALS,
} from "./approval_store.ts";
import { MemoryApprovalStore } from "./memory_approval_store.ts";
import type { ApprovalNotifier, ApprovalWebhookEvent } from "./webhook.ts";

const log = getLogger(["gateway", "approvals"]);

/** Longest approver comment, in characters. */
export const MAX_APPROVAL_COMMENT_CHARS = 1000;

/** Options of {@linkcode createApprovalBroker}. */
export interface ApprovalBrokerOptions {
  /** How long a call waits for a decision (`APPROVAL_TIMEOUT_SECONDS`). */
  readonly timeoutSeconds: number;
  /**
   * Where requests live; the broker owns it and closes it. Default: a new
   * {@linkcode MemoryApprovalStore}. With `HANDLE_STORE=redis` pass
   * `createApprovalStore(config.handleStore)`.
   */
  readonly store?: ApprovalStore;
  /** `APPROVAL_WEBHOOK_URL` notifications (`createApprovalWebhook`); the broker closes it. */
  readonly notifier?: ApprovalNotifier;
  /** The wait in milliseconds instead of `timeoutSeconds` (tests). */
  readonly timeoutMs?: number;
  /** How often `onWaiting` is called while a call waits (default 5000 ms). */
  readonly progressIntervalMs?: number;
  /**
   * How long a waiter's lease lasts without renewal (default 10 000 ms); a
   * decision after it lapses (the waiter's replica died) expires the request.
   */
  readonly leaseMs?: number;
  /**
   * How often a waiter renews its lease and looks at its request in the
   * store, in case a change message was lost (default a third of `leaseMs`).
   */
  readonly pollIntervalMs?: number;
}

interface Waiter {
  /** Ends the wait with the store's final state of the request. */
  wake(request: ApprovalRequest): void;
  /** Expires the request now (shutdown); resolves when the wait has ended. */
  expire(reason: ExpiryReason): Promise<void>;
}

/** Why a request expired, in `approval_expired` audit lines. */
type ExpiryReason =
  | "timeout"
  | "cancelled"
  | "shutdown"
  | "late_decision"
  | "waiter_gone";

/** Creates the broker; see the module doc. */
export function createApprovalBroker(
  options: ApprovalBrokerOptions,
): ApprovalBroker {
  return new Broker(options);
}

class Broker implements ApprovalBroker {
  readonly timeoutSeconds: number;
  readonly #timeoutMs: number;
  readonly #store: ApprovalStore;
  readonly #notifier: ApprovalNotifier | undefined;
  readonly #progressIntervalMs: number;
  readonly #leaseMs: number;
  readonly #pollIntervalMs: number;
  readonly #waiters = new Map<string, Waiter>();
  readonly #listeners = new Set<(request: ApprovalRequest) => void>();
  /** `id:state` already told to the listeners, oldest first (bounded). */
  readonly #announced = new Set<string>();
  readonly #unsubscribe: () => void;
  #closed = false;

  constructor(options: ApprovalBrokerOptions) {
    this.#timeoutMs = options.timeoutMs ?? options.timeoutSeconds * 1000;
    if (!Number.isFinite(this.#timeoutMs) || this.#timeoutMs <= 0) {
      throw new RangeError("Approval timeout must be a positive duration");
    }
    this.timeoutSeconds = options.timeoutMs === undefined
      ? options.timeoutSeconds
      : options.timeoutMs / 1000;
    this.#store = options.store ?? new MemoryApprovalStore();
    this.#notifier = options.notifier;
    this.#progressIntervalMs = options.progressIntervalMs ?? 5000;
    this.#leaseMs = options.leaseMs ?? 10_000;
    this.#pollIntervalMs = options.pollIntervalMs ??
      Math.max(10, Math.floor(this.#leaseMs / 3));
    this.#unsubscribe = this.#store.onChange((event) => {
      this.#onChange(event).catch(() => {});
    });
  }

  async requestApproval(
    subject: ApprovalSubject,
    options: RequestApprovalOptions = {},
  ): Promise<ApprovalOutcome> {
    if (this.#closed) {
      throw new ApprovalStoreError(
        "Approvals unavailable: the service is shutting down; retry on another replica",
      );
    }
    const now = Date.now();
    const request: ApprovalRequest = {
      ...copySubject(subject),
      id: newRequestId(),
      state: "pending",
      createdAt: now,
      expiresAt: now + this.#timeoutMs,
    };
    await this.#store.create(request, this.#leaseMs);
    audit("approval_requested", {
      ...auditFields(request),
      command: request.command ?? null,
      database: request.database ?? null,
      reason: request.reason ?? null,
      expires_at: new Date(request.expiresAt).toISOString(),
      timeout_seconds: this.timeoutSeconds,
    });
    this.#notify("approval_requested", request);
    this.#announce(request);
    return await this.#wait(request, options);
  }

  async list(
    filter: { state?: ApprovalState; limit?: number } = {},
  ): Promise<ApprovalRequest[]> {
    const now = Date.now();
    const limit = Math.min(
      Math.max(0, Math.floor(filter.limit ?? MAX_LISTED_APPROVALS)),
      MAX_LISTED_APPROVALS,
    );
    return (await this.#store.list())
      .map((request) => shown(request, now))
      .filter((request) =>
        filter.state === undefined || request.state === filter.state
      )
      .sort((a, b) => b.createdAt - a.createdAt)
      .slice(0, limit);
  }

  async get(id: string): Promise<ApprovalRequest | undefined> {
    const request = await this.#store.get(id);
    return request === undefined ? undefined : shown(request, Date.now());
  }

  async decide(
    id: string,
    approver: string,
    verdict: ApprovalVerdict,
    comment: string,
  ): Promise<ApprovalRequest> {
    if (verdict !== "approve" && verdict !== "deny") {
      throw new ApprovalError(
        "invalid",
        `Cannot decide approval request ${id}: the verdict must be approve or deny`,
      );
    }
    const text = typeof comment === "string" ? comment.trim() : "";
    if (text.length > MAX_APPROVAL_COMMENT_CHARS) {
      throw new ApprovalError(
        "invalid",
        `Cannot ${verdict} approval request ${id}: the comment has ${text.length} characters; shorten it to ${MAX_APPROVAL_COMMENT_CHARS}`,
      );
    }
    if (verdict === "deny" && text === "") {
      throw new ApprovalError(
        "invalid",
        `Cannot deny approval request ${id} without a comment; say why (up to ${MAX_APPROVAL_COMMENT_CHARS} characters): the agent shows it to whoever asked (a comment is optional when approving)`,
      );
    }
    const current = await this.#store.get(id);
    if (current === undefined) {
      throw new ApprovalError(
        "not_found",
        `Approval request ${id} not found; list the pending requests again (decided ones are kept for 24 hours)`,
      );
    }
    if (approver.toLowerCase() === current.principal.toLowerCase()) {
      throw new ApprovalError(
        "self_approval",
        verdict === "approve"
          ? "an approver cannot approve their own request; ask another approver"
          : "an approver cannot decide their own request; ask another approver",
      );
    }
    if (current.state !== "pending") throw notPending(current);
    const result = await this.#store.transition(id, {
      state: verdict === "approve" ? "approved" : "denied",
      decidedAt: Date.now(),
      approver,
      ...(text === "" ? {} : { comment: text }),
      decision: true,
    });
    switch (result.outcome) {
      case "not_found":
        throw new ApprovalError(
          "not_found",
          `Approval request ${id} not found; list the pending requests again (decided ones are kept for 24 hours)`,
        );
      case "not_pending":
        throw notPending(result.request);
      case "expired": {
        const late = (result.request.decidedAt ?? Date.now()) >
          result.request.expiresAt;
        this.#expired(result.request, late ? "late_decision" : "waiter_gone");
        this.#announce(result.request);
        this.#waiters.get(id)?.wake(result.request);
        throw notPending(result.request);
      }
      case "changed": {
        const decided = result.request;
        const granted = decided.state === "approved";
        audit(
          granted ? "approval_granted" : "approval_denied",
          {
            ...auditFields(decided),
            comment: decided.comment ?? null,
            waited_ms: Math.max(
              0,
              (decided.decidedAt ?? decided.createdAt) - decided.createdAt,
            ),
          },
          granted ? "info" : "warning",
        );
        this.#notify(granted ? "approval_granted" : "approval_denied", decided);
        this.#announce(decided);
        this.#waiters.get(id)?.wake(decided);
        return decided;
      }
    }
  }

  subscribe(listener: (request: ApprovalRequest) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled(
      [...this.#waiters.values()].map((w) => w.expire("shutdown")),
    );
    this.#unsubscribe();
    this.#listeners.clear();
    await this.#notifier?.close();
    await this.#store.close();
  }

  /** Waits for the store to say the request is decided, or expires it. */
  #wait(
    request: ApprovalRequest,
    options: RequestApprovalOptions,
  ): Promise<ApprovalOutcome> {
    const { id } = request;
    const { onWaiting, signal } = options;
    const started = performance.now();
    return new Promise<ApprovalOutcome>((resolve) => {
      let settled = false;
      let expiring: Promise<void> | undefined;
      const timers: ReturnType<typeof setTimeout>[] = [];
      const finish = (outcome: ApprovalOutcome): void => {
        if (settled) return;
        settled = true;
        for (const timer of timers) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#waiters.delete(id);
        resolve(outcome);
      };
      const wake = (current: ApprovalRequest): void => {
        if (current.state !== "pending") finish(outcomeOf(current));
      };
      const expire = (reason: ExpiryReason): Promise<void> => {
        if (settled) return Promise.resolve();
        expiring ??= (async () => {
          try {
            const result = await this.#store.transition(id, {
              state: "expired",
              decidedAt: Date.now(),
              decision: false,
            });
            if (result.outcome === "not_found") {
              finish({ state: "expired", id });
              return;
            }
            if (result.outcome === "changed") {
              this.#expired(result.request, reason);
              this.#announce(result.request);
            }
            // What the store says: a decision that won the race stands.
            finish(outcomeOf(result.request));
          } catch (error) {
            // Fail closed: without the store's word the call does not run.
            log.warn(
              "Approval request {id} treated as expired: {error}",
              { id, error: error instanceof Error ? error.message : "error" },
            );
            finish({ state: "expired", id });
          }
        })();
        return expiring;
      };
      const onAbort = (): void => {
        expire("cancelled");
      };
      this.#waiters.set(id, { wake, expire });
      timers.push(setTimeout(() => expire("timeout"), this.#timeoutMs));
      timers.push(setInterval(() => {
        if (settled || expiring !== undefined) return;
        this.#poll(id, wake, finish);
      }, this.#pollIntervalMs));
      if (onWaiting !== undefined) {
        timers.push(setInterval(() => {
          if (settled) return;
          try {
            Promise.resolve(
              onWaiting(performance.now() - started, this.#timeoutMs),
            ).catch(() => {});
          } catch {
            // A progress notification that fails changes nothing.
          }
        }, this.#progressIntervalMs));
      }
      if (signal !== undefined) {
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      }
    });
  }

  /** Renews the lease and catches a decision whose message was lost. */
  async #poll(
    id: string,
    wake: (request: ApprovalRequest) => void,
    finish: (outcome: ApprovalOutcome) => void,
  ): Promise<void> {
    try {
      const state = await this.#store.renew(id, this.#leaseMs);
      if (state === undefined) {
        finish({ state: "expired", id });
        return;
      }
      if (state === "pending") return;
      const current = await this.#store.get(id);
      if (current === undefined) finish({ state: "expired", id });
      else wake(current);
    } catch {
      // The store is down: the store logs it; the timeout still ends the wait.
    }
  }

  /**
   * A change from the store (this replica's own ones echo back through
   * Redis): wakes a waiter here, and tells the listeners what they have not
   * heard yet.
   */
  async #onChange(event: ApprovalStoreEvent): Promise<void> {
    const waiter = this.#waiters.get(event.id);
    const wakes = waiter !== undefined && event.state !== "pending";
    const news = this.#listeners.size > 0 &&
      !this.#announced.has(`${event.id}:${event.state}`);
    if (!wakes && !news) return;
    const request = await this.#store.get(event.id);
    if (request === undefined) return;
    if (wakes) waiter.wake(request);
    this.#announce(request);
  }

  /**
   * Tells the listeners of a request's state once. This replica's own steps
   * are told at once, not when Redis echoes them (a subscriber still
   * connecting would miss that echo).
   */
  #announce(request: ApprovalRequest): void {
    const key = `${request.id}:${request.state}`;
    if (this.#announced.has(key)) return;
    this.#announced.add(key);
    if (this.#announced.size > 2 * MAX_LISTED_APPROVALS) {
      const oldest = this.#announced.values().next().value;
      if (oldest !== undefined) this.#announced.delete(oldest);
    }
    const seen = shown(request, Date.now());
    for (const listener of [...this.#listeners]) {
      try {
        listener(seen);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  #expired(request: ApprovalRequest, reason: ExpiryReason): void {
    audit(
      "approval_expired",
      { ...auditFields(request), reason },
      "warning",
    );
    this.#notify("approval_expired", request);
  }

  #notify(event: ApprovalWebhookEvent, request: ApprovalRequest): void {
    try {
      this.#notifier?.notify(event, request);
    } catch {
      // Notifications never stop an approval step.
    }
  }
}

/** 128 random bits, base64url without padding (22 characters). */
export function newRequestId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

/** A pending request past its deadline shows as expired. */
function shown(request: ApprovalRequest, now: number): ApprovalRequest {
  return request.state === "pending" && now > request.expiresAt
    ? { ...request, state: "expired", decidedAt: request.expiresAt }
    : request;
}

function outcomeOf(request: ApprovalRequest): ApprovalOutcome {
  const state = request.state === "pending" ? "expired" : request.state;
  return {
    state,
    id: request.id,
    ...(request.approver === undefined ? {} : { approver: request.approver }),
    ...(request.comment === undefined ? {} : { comment: request.comment }),
  };
}

function notPending(request: ApprovalRequest): ApprovalError {
  const by = request.approver === undefined ? "" : ` by ${request.approver}`;
  return new ApprovalError(
    "not_pending",
    request.state === "expired"
      ? `Approval request ${request.id} has expired (no decision in time, or its call has ended); the agent must ask again`
      : `Approval request ${request.id} was already ${request.state}${by}; nothing to do`,
  );
}

/** Only the subject's own fields: nothing a caller added rides along. */
function copySubject(subject: ApprovalSubject): ApprovalSubject {
  const optional = <K extends keyof ApprovalSubject>(
    key: K,
  ): Partial<Pick<ApprovalSubject, K>> =>
    subject[key] === undefined
      ? {}
      : { [key]: subject[key] } as Pick<ApprovalSubject, K>;
  return {
    principal: subject.principal,
    clientIp: subject.clientIp,
    tool: subject.tool,
    safe: subject.safe,
    object: subject.object,
    rule: subject.rule,
    ...optional("host"),
    ...optional("port"),
    ...optional("username"),
    ...optional("command"),
    ...optional("database"),
    ...optional("reason"),
    ...optional("handleId"),
  };
}

/** The fields every approval audit line carries; never a secret or a handle. */
function auditFields(request: ApprovalRequest): Record<string, AuditValue> {
  return {
    request_id: request.id,
    principal: request.principal,
    approver: request.approver ?? null,
    tool: request.tool,
    host: request.host ?? null,
    port: request.port ?? null,
    rule: request.rule,
    safe: request.safe,
    object_name: request.object,
    handle_id: request.handleId ?? null,
    client_ip: request.clientIp,
  };
}
