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

/** The outcome of looking a handle up. */
export type LookupResult =
  | { status: "live"; entry: HandleEntry }
  | { status: "expired" }
  | { status: "consumed" }
  | { status: "unknown" };

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
  /** Number of live entries (for health and tests). */
  size(): Promise<number>;
  /**
   * Stops timers and releases connections; an in-process store also drops
   * every entry (a shared store keeps them for the other replicas).
   */
  close(): Promise<void>;
}
