/**
 * The in-memory handle store of one gateway process.
 *
 * @module
 */
import type {
  HandleEntry,
  HandleKeys,
  HandleStore,
  LookupResult,
} from "./handle_store.ts";

type Slot =
  | { state: "live"; entry: HandleEntry; expiresAt: number }
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

/** Handles in a `Map`, swept on a timer; a secret leaves memory as soon as its handle expires or is consumed. */
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

  /** Number of live entries. */
  size(): Promise<number> {
    this.sweep();
    let live = 0;
    for (const slot of this.#slots.values()) if (slot.state === "live") live++;
    return Promise.resolve(live);
  }

  /** Drops expired secrets and old markers. */
  sweep(): void {
    const now = this.#now();
    for (const [key, slot] of this.#slots) {
      if (slot.state === "live") {
        if (now >= slot.expiresAt) {
          this.#slots.set(key, {
            state: "expired",
            forgetAt: now + this.#tombstoneMs,
          });
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
    if (slot.state !== "live") {
      if (now >= slot.forgetAt) {
        this.#slots.delete(key);
        return { status: "unknown" };
      }
      return { status: slot.state };
    }
    if (now >= slot.expiresAt) {
      this.#slots.set(key, {
        state: "expired",
        forgetAt: now + this.#tombstoneMs,
      });
      return { status: "expired" };
    }
    if (consume && slot.entry.singleUse) {
      this.#slots.set(key, {
        state: "consumed",
        forgetAt: now + this.#tombstoneMs,
      });
    }
    return { status: "live", entry: slot.entry };
  }
}
