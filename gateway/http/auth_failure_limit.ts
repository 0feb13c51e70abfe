/**
 * `authFailureLimit()`: a client address that failed authentication
 * `AUTH_FAILURE_LIMIT` times in the window is refused with 429 before its key
 * is looked at. `apiKeyAuth()` counts the failures.
 *
 * @module
 */
import type { Context, Env, MiddlewareHandler } from "hono";
import { audit } from "../audit.ts";
import type { RateLimit } from "../rate_limits.ts";
import type { GatewayEnv } from "./gateway_env.ts";

/** Options of {@linkcode authFailureLimit}. */
export interface AuthFailureLimitOptions {
  /** Failed authentications per client address, counted by `apiKeyAuth()`. */
  failures: RateLimit;
}

/**
 * Refuses with 429, a `Retry-After` header and a `rate_limited` audit line a
 * client address over the failure limit, even with a correct key: the key
 * is not compared while the address is blocked. Runs after `clientIp()` and
 * right before `apiKeyAuth()`.
 */
export function authFailureLimit(
  options: AuthFailureLimitOptions,
): MiddlewareHandler<GatewayEnv> {
  const { failures } = options;
  return async (c, next): Promise<Response | void> => {
    if (!failures.enabled) return await next();
    const ip: string | undefined = c.get("clientIp");
    if (ip === undefined) {
      throw new TypeError(
        "authFailureLimit() found no client address; register clientIp() before it",
      );
    }
    return await refuseBlockedAddress(c, failures, ip, "MCP_API_KEYS") ??
      await next();
  };
}

/**
 * 429 with `Retry-After` and a `rate_limited` audit line when `ip` is over
 * the failure limit, else undefined (counts nothing). `keySource` names
 * where a valid key comes from (`MCP_API_KEYS`, `APPROVERS`).
 */
export async function refuseBlockedAddress<E extends Env>(
  c: Context<E>,
  failures: RateLimit,
  ip: string,
  keySource: string,
): Promise<Response | undefined> {
  const retryAfter = await failures.blockedFor(ip);
  if (retryAfter === undefined) return undefined;
  const { limit, windowSeconds } = failures.window;
  audit("rate_limited", {
    reason: "auth_failures",
    client_ip: ip,
    path: c.req.path,
    retry_after_seconds: retryAfter,
  }, "warning");
  c.header("Retry-After", String(retryAfter));
  return c.json({
    error: "rate_limited",
    message:
      `Too many failed authentications from this address (AUTH_FAILURE_LIMIT=${limit} per AUTH_FAILURE_WINDOW_SECONDS=${windowSeconds}); retry after ${retryAfter} seconds with a key from ${keySource}`,
  }, 429);
}
