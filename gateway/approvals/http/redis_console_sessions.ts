/**
 * Console sessions in Redis (`HANDLE_STORE=redis`), so that a cookie issued
 * by one replica is accepted by every other: one key per session,
 * `keyPrefix` + `approvals:session:<sha256 of the token>`, expiring with the
 * session (PX).
 *
 * @module
 */
import { Redis } from "ioredis";
import {
  redisClientOptions,
  type RedisConnectionOptions,
  redisEndpoint,
} from "../../../vault/redis_handle_store.ts";
import {
  type ConsoleSession,
  type ConsoleSessions,
  type NewConsoleSession,
} from "./console_sessions.ts";
import { newSessionToken, sessionTokenDigest } from "./session_token.ts";

/** Options of {@linkcode RedisConsoleSessions}. */
export interface RedisConsoleSessionsOptions extends RedisConnectionOptions {
  /** Prefix of every key (`REDIS_KEY_PREFIX`), shared by the replicas. */
  keyPrefix: string;
}

/** Sessions in Redis, keyed by the SHA-256 of their token, expired by Redis. */
export class RedisConsoleSessions implements ConsoleSessions {
  readonly #client: Redis;
  readonly #keyPrefix: string;
  readonly #endpoint: string;

  /** Connects lazily to the Redis of `options`. */
  constructor(options: RedisConsoleSessionsOptions) {
    this.#keyPrefix = `${options.keyPrefix}approvals:session:`;
    this.#endpoint = redisEndpoint(options);
    this.#client = new Redis({
      ...redisClientOptions(options),
      lazyConnect: true,
      commandTimeout: 2000,
      maxRetriesPerRequest: 1,
      retryStrategy: (attempt: number) => Math.min(attempt * 250, 2000),
    });
    // ioredis reports errors on the rejected command; the event itself would
    // only be an unhandled-error warning (and its text may quote the login).
    this.#client.on("error", () => {});
  }

  /**
   * Starts a session of `approver` that ends after `ttlSeconds`.
   *
   * @throws {Error} when Redis cannot be reached (the message names its endpoint only)
   */
  async create(
    approver: string,
    ttlSeconds: number,
  ): Promise<NewConsoleSession> {
    const token = newSessionToken();
    const session = { approver, expiresAt: Date.now() + ttlSeconds * 1000 };
    await this.#run(() =>
      this.#client.set(
        this.#key(token),
        JSON.stringify(session),
        "PX",
        ttlSeconds * 1000,
      )
    );
    return { token, session };
  }

  /** The live session of `token`, or undefined. */
  async get(token: string): Promise<ConsoleSession | undefined> {
    const text = await this.#run(() => this.#client.get(this.#key(token)));
    if (text === null) return undefined;
    const value: unknown = JSON.parse(text);
    if (
      typeof value !== "object" || value === null ||
      !("approver" in value) || typeof value.approver !== "string" ||
      !("expiresAt" in value) || typeof value.expiresAt !== "number"
    ) {
      return undefined;
    }
    if (value.expiresAt <= Date.now()) return undefined;
    return { approver: value.approver, expiresAt: value.expiresAt };
  }

  /** Ends the session of `token`. */
  async delete(token: string): Promise<void> {
    await this.#run(() => this.#client.del(this.#key(token)));
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }

  #key(token: string): string {
    return this.#keyPrefix + sessionTokenDigest(token);
  }

  async #run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (cause) {
      throw new Error(
        `Console session store at ${this.#endpoint} is unavailable; check that Redis is reachable (REDIS_URL)`,
        { cause },
      );
    }
  }
}
