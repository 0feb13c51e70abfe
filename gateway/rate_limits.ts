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
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRes,
} from "rate-limiter-flexible";
import type { RateLimitConfig, RateLimitWindow } from "./config/mod.ts";

/** Counts events per key (a client address, a principal) in a fixed window. */
export class RateLimit {
  /** The configured limit and window. */
  readonly window: RateLimitWindow;
  readonly #limiter: RateLimiterAbstract | undefined;

  /** `limiter` is undefined when the limit is off (`window.limit` 0). */
  constructor(
    window: RateLimitWindow,
    limiter: RateLimiterAbstract | undefined,
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

/**
 * Counters shared by the replicas (`redis_rate_limits.ts`, loaded only with
 * `HANDLE_STORE=redis`), each insured by a counter in this process's memory.
 */
export interface SharedCounters {
  /** A limiter for one window under `name`, counting in `insurance` while the store is down. */
  limiter(
    limits: { points: number; duration: number },
    name: string,
    insurance: RateLimiterMemory,
  ): RateLimiterAbstract;
  /** Closes the store's connection. */
  close(): Promise<void>;
}

/** Builds both limits, in `shared` counters when given, else in memory. */
export function createRateLimits(
  config: RateLimitConfig,
  shared?: SharedCounters,
): RateLimits {
  const build = (window: RateLimitWindow, name: string): RateLimit => {
    if (window.limit === 0) return new RateLimit(window, undefined);
    const limits = { points: window.limit, duration: window.windowSeconds };
    const memory = new RateLimiterMemory(limits);
    return new RateLimit(
      window,
      shared === undefined ? memory : shared.limiter(limits, name, memory),
    );
  };
  return {
    authFailures: build(config.authFailures, "auth_failures"),
    toolCalls: build(config.toolCalls, "tool_calls"),
    close: async (): Promise<void> => {
      await shared?.close();
    },
  };
}

/** Whether either limit is on (Redis counters are needed only then). */
export function rateLimitsEnabled(config: RateLimitConfig): boolean {
  return config.authFailures.limit > 0 || config.toolCalls.limit > 0;
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
