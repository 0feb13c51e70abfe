/**
 * Console sessions: what a login cookie stands for. The store keeps only the
 * SHA-256 of a session token, never the token, so a copy of the store (a
 * Redis dump) logs nobody in. Sessions end `sessionSeconds` after login,
 * whatever happens in between.
 *
 * {@linkcode createConsoleSessions} keeps them in this process, or in Redis
 * (`HANDLE_STORE=redis`) so that any replica accepts the cookie.
 *
 * @module
 */
import type { RedisConnectionOptions } from "../../../vault/redis_handle_store.ts";
import { type HandleStoreConfig, sharedRedis } from "../../config/mod.ts";
import { MemoryConsoleSessions } from "./memory_console_sessions.ts";

/** A session as stored: who logged in and until when. */
export interface ConsoleSession {
  /** The approver's name. */
  readonly approver: string;
  /** Epoch milliseconds after which the session is gone. */
  readonly expiresAt: number;
}

/** A new session: the token for the cookie (shown once) and its record. */
export interface NewConsoleSession {
  /** 256 random bits, base64url: goes into the cookie and nowhere else. */
  readonly token: string;
  readonly session: ConsoleSession;
}

/** Where console sessions live. */
export interface ConsoleSessions {
  /** Starts a session of `approver` that ends after `ttlSeconds`. */
  create(approver: string, ttlSeconds: number): Promise<NewConsoleSession>;
  /** The live session of a cookie's token, or undefined (unknown or expired). */
  get(token: string): Promise<ConsoleSession | undefined>;
  /** Ends the session of a token (logout); unknown tokens are ignored. */
  delete(token: string): Promise<void>;
  /** Closes the Redis connection, if any. */
  close(): Promise<void>;
}

/** Options of {@linkcode createConsoleSessions}. */
export interface ConsoleSessionsOptions {
  /**
   * Redis shared by the replicas (`HANDLE_STORE=redis`; keys
   * `keyPrefix` + `approvals:session:<sha256>`); in memory when absent.
   */
  redis?: RedisConnectionOptions & { keyPrefix: string };
  /** The clock, epoch ms (tests); default `Date.now`. */
  now?: () => number;
}

/**
 * Builds the session store: in Redis when `options.redis` is given, else in
 * memory. The Redis store (and the Redis client) is loaded only then.
 */
export async function createConsoleSessions(
  options: ConsoleSessionsOptions = {},
): Promise<ConsoleSessions> {
  if (options.redis !== undefined) {
    const { RedisConsoleSessions } = await import(
      "./redis_console_sessions.ts"
    );
    return new RedisConsoleSessions(options.redis);
  }
  return new MemoryConsoleSessions(
    options.now === undefined ? {} : { now: options.now },
  );
}

/**
 * The session store that goes with the handle store: in Redis (same
 * connection and `REDIS_KEY_PREFIX`) with `HANDLE_STORE=redis`, so every
 * replica accepts a cookie; else in memory.
 */
export function consoleSessionsFor(
  handleStore: HandleStoreConfig,
): Promise<ConsoleSessions> {
  const redis = sharedRedis(handleStore);
  return createConsoleSessions(redis === undefined ? {} : { redis });
}
