/**
 * The in-memory handle store of one gateway process.
 *
 * @module
 */
import {
  checkReservationArguments,
  type ClaimResult,
  type HandleEntry,
  type HandleKeys,
  type HandleStore,
  type LookupResult,
  type ReleaseStatus,
} from "./handle_store.ts";

type Slot =
  | { state: "live"; entry: HandleEntry; expiresAt: number }
  | {
    state: "reserved";
    entry: HandleEntry;
    reservationId: string;
    /** The expiry the entry had before it was reserved. */
    expiresAt: number;
    /** When the reservation lapses (then the entry is expired). */
    holdUntil: number;
  }
  | { state: "expired" | "consumed"; forgetAt: number };

/** Options of {@linkcode MemoryHandleStore}. */
export interface MemoryHandleStoreOptions {
  /** Monotonic clock in milliseconds; defaults to `performance.now`. */
  now?: () => number;
  /** How long a consumed or expired marker is kept, to tell it from an unknown handle. */
  tombstoneMs?: number;
  /** Sweep period; 0 disables the timer (tests sweep by hand). */
  sweepIntervalMs?: number;
}

/**
 * Handles in a `Map`, swept on a timer; a secret leaves memory as soon as its
 * handle expires or is consumed (a reserved one: when its hold ends).
 */
export class MemoryHandleStore implements HandleStore {
  readonly #slots = new Map<string, Slot>();
  readonly #now: () => number;
  readonly #tombstoneMs: number;
  readonly #timer: ReturnType<typeof setInterval> | undefined;

  /** Creates an empty store. */
  constructor(options: MemoryHandleStoreOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#tombstoneMs = options.tombstoneMs ?? 15 * 60 * 1000;
    const every = options.sweepIntervalMs ?? 1000;
    if (every > 0) {
      const timer = setInterval(() => this.sweep(), every);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /** Stores a live entry (in this process's memory, so the encryption key is not used). */
  put(keys: HandleKeys, entry: HandleEntry, ttlMs: number): Promise<void> {
    this.#slots.set(keys.storeKey, {
      state: "live",
      entry,
      expiresAt: this.#now() + ttlMs,
    });
    return Promise.resolve();
  }

  /** Looks an entry up without consuming it. */
  peek(keys: HandleKeys): Promise<LookupResult> {
    return Promise.resolve(this.#lookup(keys.storeKey, false));
  }

  /** Returns the entry, consuming it when single-use; synchronous inside, hence atomic. */
  take(keys: HandleKeys): Promise<LookupResult> {
    return Promise.resolve(this.#lookup(keys.storeKey, true));
  }

  /** Reserves a live entry for `holdMs` (at least until its original expiry); synchronous inside, hence atomic. */
  reserve(
    keys: HandleKeys,
    reservationId: string,
    holdMs: number,
  ): Promise<LookupResult> {
    checkReservationArguments(reservationId, holdMs);
    const result = this.#lookup(keys.storeKey, false);
    const slot = this.#slots.get(keys.storeKey);
    if (result.status === "live" && slot?.state === "live") {
      this.#slots.set(keys.storeKey, {
        state: "reserved",
        entry: slot.entry,
        reservationId,
        expiresAt: slot.expiresAt,
        holdUntil: Math.max(slot.expiresAt, this.#now() + holdMs),
      });
    }
    return Promise.resolve(result);
  }

  /** Returns the reserved entry and ends the reservation: consumed when single-use, else live again. */
  claim(keys: HandleKeys, reservationId: string): Promise<ClaimResult> {
    checkReservationArguments(reservationId);
    const held = this.#held(keys.storeKey, reservationId);
    if (held.status !== "held") return Promise.resolve(held);
    const { slot } = held;
    if (slot.entry.singleUse) {
      this.#slots.set(keys.storeKey, this.#tombstone("consumed"));
    } else {
      this.#restore(keys.storeKey, slot);
    }
    return Promise.resolve({ status: "live", entry: slot.entry });
  }

  /** Ends a reservation without using the entry: live until its original expiry, or expired. */
  release(keys: HandleKeys, reservationId: string): Promise<ReleaseStatus> {
    checkReservationArguments(reservationId);
    const held = this.#held(keys.storeKey, reservationId);
    if (held.status === "held") {
      return Promise.resolve(this.#restore(keys.storeKey, held.slot));
    }
    return Promise.resolve(held.status);
  }

  /** Number of entries that hold a secret (live or reserved). */
  size(): Promise<number> {
    this.sweep();
    let held = 0;
    for (const slot of this.#slots.values()) {
      if (slot.state === "live" || slot.state === "reserved") held++;
    }
    return Promise.resolve(held);
  }

  /** Drops expired secrets and old markers. */
  sweep(): void {
    const now = this.#now();
    for (const [key, slot] of this.#slots) {
      if (slot.state === "live" || slot.state === "reserved") {
        if (now >= endOf(slot)) {
          this.#slots.set(key, this.#tombstone("expired"));
        }
      } else if (now >= slot.forgetAt) {
        this.#slots.delete(key);
      }
    }
  }

  /** Stops the sweep timer and forgets everything. */
  close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#slots.clear();
    return Promise.resolve();
  }

  #lookup(key: string, consume: boolean): LookupResult {
    const slot = this.#slots.get(key);
    if (slot === undefined) return { status: "unknown" };
    const now = this.#now();
    if (slot.state !== "live" && slot.state !== "reserved") {
      if (now >= slot.forgetAt) {
        this.#slots.delete(key);
        return { status: "unknown" };
      }
      return { status: slot.state };
    }
    if (now >= endOf(slot)) {
      this.#slots.set(key, this.#tombstone("expired"));
      return { status: "expired" };
    }
    if (slot.state === "reserved") return { status: "reserved" };
    if (consume && slot.entry.singleUse) {
      this.#slots.set(key, this.#tombstone("consumed"));
    }
    return { status: "live", entry: slot.entry };
  }

  /** The reserved slot held under `reservationId`, or what the entry is instead. */
  #held(
    key: string,
    reservationId: string,
  ):
    | { status: "held"; slot: Extract<Slot, { state: "reserved" }> }
    | Exclude<ClaimResult, { status: "live" }> {
    const result = this.#lookup(key, false);
    const slot = this.#slots.get(key);
    if (result.status === "live") return { status: "not_reserved" };
    if (result.status !== "reserved" || slot?.state !== "reserved") {
      return result;
    }
    if (slot.reservationId !== reservationId) return { status: "reserved" };
    return { status: "held", slot };
  }

  /** Puts a reserved entry back to live until its original expiry, or expired. */
  #restore(
    key: string,
    slot: Extract<Slot, { state: "reserved" }>,
  ): "live" | "expired" {
    if (this.#now() >= slot.expiresAt) {
      this.#slots.set(key, this.#tombstone("expired"));
      return "expired";
    }
    this.#slots.set(key, {
      state: "live",
      entry: slot.entry,
      expiresAt: slot.expiresAt,
    });
    return "live";
  }

  #tombstone(state: "expired" | "consumed"): Slot {
    return { state, forgetAt: this.#now() + this.#tombstoneMs };
  }
}

/** When a slot that holds a secret stops holding it. */
function endOf(
  slot: Extract<Slot, { state: "live" | "reserved" }>,
): number {
  return slot.state === "reserved" ? slot.holdUntil : slot.expiresAt;
}
