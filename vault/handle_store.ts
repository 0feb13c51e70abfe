/**
 * The storage interface behind the handle vault, so that a shared store
 * (Redis) can replace the in-memory one without touching the vault's rules.
 *
 * @module
 */
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
}

/** The outcome of looking a handle up. */
export type LookupResult =
  | { status: "live"; entry: HandleEntry }
  | { status: "expired" }
  | { status: "consumed" }
  | { status: "unknown" };

/** A handle store. Every method is atomic with respect to the others. */
export interface HandleStore {
  /** Stores a live entry that expires after `ttlMs` (monotonic). */
  put(key: string, entry: HandleEntry, ttlMs: number): Promise<void>;
  /** Looks an entry up without consuming it. */
  peek(key: string): Promise<LookupResult>;
  /**
   * Returns the entry and, when it is single-use, marks it consumed in the
   * same atomic step: of many concurrent calls exactly one sees `live`.
   */
  take(key: string): Promise<LookupResult>;
  /** Number of live entries (for health and tests). */
  size(): Promise<number>;
  /** Stops timers and drops every entry. */
  close(): Promise<void>;
}
