/**
 * The gateway's rate limits, counted with `rate-limiter-flexible`: failed
 * authentications per client address and tool calls per principal. With
 * `HANDLE_STORE=redis` the counters live in that Redis (keys
 * `REDIS_KEY_PREFIX` + `ratelimit:auth_failures:` / `ratelimit:tool_calls:`)
 * so every replica sees the same count; otherwise in this process.
 *
 * When Redis cannot be reached, each limiter counts in this process's memory
 * instead (the library's insurance limiter) until Redis answers again:
 *
 * - failed authentications: failing open (no limit) would let a guesser run
 *   at full speed exactly while Redis is down, and failing closed would lock
 *   every caller out for a Redis outage; a per-replica count keeps the limit,
 *   only multiplied by the number of replicas.
 * - tool calls: the same reasoning; a call that needs the handle store fails
 *   with "Handle store unavailable" anyway, and `get_credential`'s CCP call
 *   should not be refused only because the counter is unreachable.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { Redis } from "ioredis";
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
} from "rate-limiter-flexible";
import {
  redisClientOptions,
  type RedisConnectionOptions,
  redisEndpoint,
} from "../vault/redis_handle_store.ts";
import type { RateLimitConfig, RateLimitWindow } from "./config/mod.ts";

const log = getLogger(["gateway", "rate_limit"]);

/** Counts events per key (a client address, a principal) in a fixed window. */
export class RateLimit {
  /** The configured limit and window. */
  readonly window: RateLimitWindow;
  readonly #limiter: RateLimiterMemory | RateLimiterRedis | undefined;

  /** `limiter` is undefined when the limit is off (`window.limit` 0). */
  constructor(
    window: RateLimitWindow,
    limiter: RateLimiterMemory | RateLimiterRedis | undefined,
  ) {
    this.window = window;
    this.#limiter = limiter;
  }

  /** Whether the limit is on. */
  get enabled(): boolean {
    return this.#limiter !== undefined;
  }

  /**
   * Seconds until `key` may act again when it has used up the limit, else
   * `undefined`; counts nothing.
   */
  async blockedFor(key: string): Promise<number | undefined> {
    if (this.#limiter === undefined) return undefined;
    const res = await this.#limiter.get(key);
    if (res === null || res.consumedPoints < this.window.limit) {
      return undefined;
    }
    return retryAfterSeconds(res);
  }

  /** Counts one event for `key`, whatever the limit says. */
  async count(key: string): Promise<void> {
    if (this.#limiter === undefined) return;
    await this.#limiter.penalty(key);
  }

  /**
   * Counts one event for `key` and returns the seconds to wait when that
   * event went over the limit, else `undefined`.
   */
  async take(key: string): Promise<number | undefined> {
    if (this.#limiter === undefined) return undefined;
    try {
      await this.#limiter.consume(key);
      return undefined;
    } catch (error) {
      if (error instanceof RateLimiterRes) return retryAfterSeconds(error);
      throw error;
    }
  }
}

/** The two limits every request and tool call goes through. */
export interface RateLimits {
  /** Failed authentications per client address (`AUTH_FAILURE_*`). */
  readonly authFailures: RateLimit;
  /** Tool calls per principal (`TOOL_CALL_*`). */
  readonly toolCalls: RateLimit;
  /** Closes the Redis connection, if any. */
  close(): Promise<void>;
}

/** Where {@linkcode createRateLimits} keeps the counters. */
export interface RateLimitStoreOptions {
  /** Redis shared by the replicas; counters in memory when absent. */
  redis?: RedisConnectionOptions & { keyPrefix: string };
}

/** Builds both limits, in Redis when `options.redis` is given. */
export function createRateLimits(
  config: RateLimitConfig,
  options: RateLimitStoreOptions = {},
): RateLimits {
  const { redis } = options;
  const client = redis === undefined ||
      (config.authFailures.limit === 0 && config.toolCalls.limit === 0)
    ? undefined
    : connect(redis);
  const build = (window: RateLimitWindow, name: string): RateLimit => {
    if (window.limit === 0) return new RateLimit(window, undefined);
    const limits = { points: window.limit, duration: window.windowSeconds };
    const memory = new RateLimiterMemory(limits);
    if (client === undefined || redis === undefined) {
      return new RateLimit(window, memory);
    }
    return new RateLimit(
      window,
      new RateLimiterRedis({
        ...limits,
        storeClient: client,
        keyPrefix: `${redis.keyPrefix}ratelimit:${name}`,
        insuranceLimiter: memory,
      }),
    );
  };
  return {
    authFailures: build(config.authFailures, "auth_failures"),
    toolCalls: build(config.toolCalls, "tool_calls"),
    close: async (): Promise<void> => {
      if (client === undefined) return;
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    },
  };
}

function connect(options: RedisConnectionOptions): Redis {
  const endpoint = redisEndpoint(options);
  const client = new Redis({
    ...redisClientOptions(options),
    commandTimeout: 2000,
    // Fail at once while disconnected so the in-memory count takes over.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt: number) => Math.min(attempt * 250, 2000),
  });
  let down = false;
  // Only the endpoint is logged: an error text might quote the login.
  client.on("error", () => {
    if (!down) {
      log.warn(
        "Rate limit counters at {endpoint} unreachable; counting in this replica's memory until it is back",
        { endpoint },
      );
    }
    down = true;
  });
  client.on("ready", () => {
    if (down) {
      log.info("Rate limit counters at {endpoint} reachable again", {
        endpoint,
      });
    }
    down = false;
  });
  return client;
}

function retryAfterSeconds(res: RateLimiterRes): number {
  return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
}

/** A principal made more tool calls than `TOOL_CALL_LIMIT` allows in the window. */
export class ToolCallLimitError extends Error {
  override name = "ToolCallLimitError";
  /** Seconds until the principal may call again. */
  readonly retryAfterSeconds: number;

  /** Names the limit, the window, the settings and when to retry. */
  constructor(
    principal: string,
    window: RateLimitWindow,
    retryAfterSeconds: number,
  ) {
    super(
      `Rate limit reached: principal "${principal}" may make ${window.limit} tool calls per ${window.windowSeconds} seconds (TOOL_CALL_LIMIT, TOOL_CALL_WINDOW_SECONDS); retry in ${retryAfterSeconds} seconds`,
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * Counts one tool call of `principal`; the first step of every tool.
 *
 * @throws {ToolCallLimitError} when the call goes over `TOOL_CALL_LIMIT`
 */
export async function limitToolCall(
  toolCalls: RateLimit,
  principal: string,
): Promise<void> {
  const retryAfter = await toolCalls.take(principal);
  if (retryAfter !== undefined) {
    throw new ToolCallLimitError(principal, toolCalls.window, retryAfter);
  }
}
