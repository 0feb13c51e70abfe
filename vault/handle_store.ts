/**
 * The storage interface behind the handle vault, so that a shared store
 * (Redis) can replace the in-memory one without touching the vault's rules.
 *
 * @module
 */
import type { HandleScope } from "./handle_scope.ts";
import type { Secret } from "./secret.ts";

/** What a handle stands for. Keys are derived from the handle, never the handle itself. */
export interface HandleEntry {
  secret: Secret;
  /** Passphrase of a private-key secret. */
  passphrase?: Secret;
  username: string;
  address: string;
  safe: string;
  objectName: string;
  folder: string;
  /** CyberArk account properties other than Content (all strings). */
  properties: Record<string, string>;
  singleUse: boolean;
  /** What `secret` holds, decided by the vault so that no caller has to look at it. */
  secretKind: SecretKind;
  /**
   * The protocol and ports the handle is for, decided by the vault at issue.
   * Absent only in an entry a version before handle scopes wrote to a shared
   * store; the vault refuses such an entry ("unknown scope").
   */
  scope?: HandleScope;
  /**
   * The principal that called get_credential; only it may redeem the
   * handle. Absent only in an entry a version before principals wrote to a
   * shared store; the vault refuses such an entry.
   */
  principal?: string;
  /**
   * The reason given to get_credential, shown to an approver; absent when
   * none was given (and in entries written before reasons were kept).
   */
  reason?: string;
}

/** A password, or a private key in PEM / OpenSSH form. */
export type SecretKind = "password" | "private_key";

/**
 * What a store needs to find and protect one handle's entry; both are derived
 * from the handle by hashes with different domain separation, so neither can
 * be turned back into the handle or into the other.
 */
export interface HandleKeys {
  /** Where the entry lives: 64 hex characters. */
  storeKey: string;
  /**
   * 32 bytes that encrypt the entry in a store outside this process (Redis);
   * an in-process store ignores it.
   */
  encryptionKey: Uint8Array;
}

/**
 * The outcome of looking a handle up. `reserved`: a call holds the handle
 * while it waits for a second person's approval (see
 * {@linkcode HandleStore.reserve}); nothing but that call's claim or release
 * can use it.
 */
export type LookupResult =
  | { status: "live"; entry: HandleEntry }
  | { status: "reserved" }
  | { status: "expired" }
  | { status: "consumed" }
  | { status: "unknown" };

/**
 * The outcome of {@linkcode HandleStore.claim}: a look-up result, or
 * `not_reserved` when the entry is live but nobody holds it (the reservation
 * was released, or a reusable entry's reservation was claimed already);
 * nothing changed.
 */
export type ClaimResult = LookupResult | { status: "not_reserved" };

/**
 * The outcome of {@linkcode HandleStore.release}: `live` when the entry is
 * live again until its original expiry, `expired` when that has passed; any
 * other status means the reservation was not held under that id (`reserved`:
 * another one holds it) and nothing changed.
 */
export type ReleaseStatus =
  | "live"
  | "expired"
  | "reserved"
  | "not_reserved"
  | "consumed"
  | "unknown";

/**
 * A handle store. Every method is atomic with respect to the others, also
 * across processes when the store is shared.
 */
export interface HandleStore {
  /**
   * Stores a live entry that expires after `ttlMs` (on the store's clock).
   *
   * @throws {HandleStoreError} when a shared store cannot be reached
   */
  put(keys: HandleKeys, entry: HandleEntry, ttlMs: number): Promise<void>;
  /**
   * Looks an entry up without consuming it.
   *
   * @throws {HandleStoreError} when a shared store cannot be reached
   */
  peek(keys: HandleKeys): Promise<LookupResult>;
  /**
   * Returns the entry and, when it is single-use, marks it consumed in the
   * same atomic step: of many concurrent calls exactly one sees `live`.
   *
   * @throws {HandleStoreError} when a shared store cannot be reached
   */
  take(keys: HandleKeys): Promise<LookupResult>;
  /**
   * Turns a live entry into one reserved under `reservationId` (random,
   * known only to the caller) in one atomic step, remembering its original
   * expiry, and keeps it in the store for at least `holdMs` from now (and at
   * least until its original expiry). Of many concurrent reserves exactly one
   * sees `live`; the others see `reserved`. While reserved, `peek` and `take`
   * answer `reserved` and consume nothing; when the hold ends with neither a
   * claim nor a release, the entry is `expired`.
   *
   * @returns `live` with the entry when reserved now; otherwise what the
   * entry is (`reserved` when already reserved), and nothing changed
   * @throws {RangeError} `holdMs` is not a positive whole number or the id is malformed
   * @throws {HandleStoreError} when a shared store cannot be reached
   */
  reserve(
    keys: HandleKeys,
    reservationId: string,
    holdMs: number,
  ): Promise<LookupResult>;
  /**
   * Ends a reservation by using it: returns the entry and, when it is
   * single-use, marks it consumed (as `take` does); a reusable entry goes back
   * to live until its original expiry (expired if that has passed). Works
   * after the original expiry as long as the hold lasts. Atomic.
   *
   * @returns `live` with the entry; `reserved` when another id holds it;
   * `not_reserved` when live and held by nobody; else the entry's status
   * @throws {HandleStoreError} when a shared store cannot be reached
   */
  claim(keys: HandleKeys, reservationId: string): Promise<ClaimResult>;
  /**
   * Ends a reservation without using it: the entry is live again until its
   * original expiry, or expired if that has passed. Atomic.
   *
   * @throws {HandleStoreError} when a shared store cannot be reached
   */
  release(keys: HandleKeys, reservationId: string): Promise<ReleaseStatus>;
  /** Number of entries that hold a secret, live or reserved (for health and tests). */
  size(): Promise<number>;
  /**
   * Stops timers and releases connections; an in-process store also drops
   * every entry (a shared store keeps them for the other replicas).
   */
  close(): Promise<void>;
}

/**
 * Checks a reservation id (16 to 128 base64url characters) and, when given, a
 * hold time (a positive whole number of milliseconds), as every store does
 * before it touches an entry.
 *
 * @throws {RangeError} either is malformed
 */
export function checkReservationArguments(
  reservationId: string,
  holdMs?: number,
): void {
  if (!/^[A-Za-z0-9_-]{16,128}$/.test(reservationId)) {
    throw new RangeError(
      "Reservation id must be 16 to 128 base64url characters",
    );
  }
  if (holdMs !== undefined && (!Number.isSafeInteger(holdMs) || holdMs < 1)) {
    throw new RangeError(
      "Reservation hold must be a whole number of milliseconds, at least 1",
    );
  }
}
