/**
 * The caller's address as the gateway's `clientIp()` recorded it.
 *
 * @module
 */
import type { Context } from "hono";
import type { ApprovalsEnv } from "./approvals_env.ts";

/**
 * `c.var.clientIp`.
 *
 * @throws {TypeError} when `clientIp()` did not run before the approvals routes
 */
export function clientIpOf(c: Context<ApprovalsEnv>): string {
  const ip: string | undefined = c.get("clientIp");
  if (ip === undefined) {
    throw new TypeError(
      "The approvals routes found no client address; register clientIp() on /approvals/* before mounting approvalRoutes()",
    );
  }
  return ip;
}
