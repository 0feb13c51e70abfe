/**
 * The rate-limit counters in Redis, shared by every replica (keys
 * `REDIS_KEY_PREFIX` + `ratelimit:auth_failures:` / `ratelimit:tool_calls:`).
 * Loaded only with `HANDLE_STORE=redis` (`services.ts` imports it on
 * demand), so a gateway without Redis never loads the Redis client.
 *
 * While Redis is unreachable each limiter counts in this process's memory
 * (the insurance limiter `rate_limits.ts` passes in); see there for why.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { Redis } from "ioredis";
import { RateLimiterRedis } from "rate-limiter-flexible";
import {
  redisClientOptions,
  type RedisConnectionOptions,
  redisEndpoint,
} from "../vault/redis_handle_store.ts";
import type { SharedCounters } from "./rate_limits.ts";

const log = getLogger(["gateway", "rate_limit"]);

/** Counters in the Redis of `redis`, under its key prefix. */
export function redisCounters(
  redis: RedisConnectionOptions & { keyPrefix: string },
): SharedCounters {
  const client = connect(redis);
  return {
    limiter: (limits, name, insurance) =>
      new RateLimiterRedis({
        ...limits,
        storeClient: client,
        keyPrefix: `${redis.keyPrefix}ratelimit:${name}`,
        insuranceLimiter: insurance,
      }),
    close: async (): Promise<void> => {
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
