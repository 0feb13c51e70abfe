/**
 * `approverAuth()`: who is asking, for every route but the login page. An
 * approver key in `Authorization: Bearer` (scripts, chat-ops; no cookie, so
 * no CSRF) or the console's session cookie, whose state-changing requests
 * must also carry the session's CSRF token in `X-CSRF-Token`.
 *
 * A wrong key writes an `auth_failure` audit line and counts against the
 * client address in the gateway's failed-authentication limit, which the
 * console's login shares; an address over the limit gets 429 before its key
 * is compared.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { timingSafeEqual } from "node:crypto";
import { audit } from "../../audit.ts";
import type { ApiKeyVerifier } from "../../http/api_key_auth.ts";
import { refuseBlockedAddress } from "../../http/auth_failure_limit.ts";
import type { RateLimit } from "../../rate_limits.ts";
import type { ApprovalsEnv } from "./approvals_env.ts";
import { clientIpOf } from "./client_ip_of.ts";
import type { ConsoleSessions } from "./console_sessions.ts";
import { sessionTokenOf } from "./session_cookie.ts";
import { csrfTokenOf, sessionTokenDigest } from "./session_token.ts";

/** The header console.js sends the CSRF token in. */
export const CSRF_HEADER = "X-CSRF-Token";

/** Options of {@linkcode approverAuth}. */
export interface ApproverAuthOptions {
  /** Checks approver keys; undefined when no approver is configured. */
  verifier: ApiKeyVerifier | undefined;
  sessions: ConsoleSessions;
  /** Failed authentications per client address (`AUTH_FAILURE_*`). */
  failures: RateLimit;
}

/**
 * Sets `c.var.approver` (and the session's variables) or answers 401, 403
 * (CSRF) or 429 with a JSON `{error, message}`.
 */
export function approverAuth(
  options: ApproverAuthOptions,
): MiddlewareHandler<ApprovalsEnv> {
  const { verifier, sessions, failures } = options;
  return async (c, next): Promise<Response | void> => {
    const authorization = c.req.header("authorization");
    if (authorization !== undefined) {
      const ip = clientIpOf(c);
      const blocked = await refuseBlocked(c, failures, ip);
      if (blocked !== undefined) return blocked;
      const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(authorization);
      const name = match === null ? undefined : verifier?.verify(match[1]);
      if (name === undefined) {
        await countFailure(c, failures, ip, "invalid_approver_key");
        return c.json({
          error: "unauthorized",
          message:
            "Invalid approver key in Authorization: Bearer; use a key from APPROVERS or APPROVERS_FILE",
        }, 401);
      }
      c.set("approver", name);
      c.set("approverAuth", "bearer");
      return await next();
    }
    const token = sessionTokenOf(c);
    const session = token === undefined ? undefined : await sessions.get(token);
    if (token === undefined || session === undefined) {
      return c.json({
        error: "unauthorized",
        message:
          "Not logged in or the session has ended; log in again at /approvals/, or send Authorization: Bearer <approver key>",
      }, 401);
    }
    const csrf = csrfTokenOf(token);
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      if (!sameToken(c.req.header(CSRF_HEADER), csrf)) {
        return c.json({
          error: "csrf",
          message:
            `Missing or wrong ${CSRF_HEADER} header; reload the approvals console and try again`,
        }, 403);
      }
    }
    c.set("approver", session.approver);
    c.set("approverAuth", "session");
    c.set("sessionId", sessionTokenDigest(token));
    c.set("sessionExpiresAt", session.expiresAt);
    c.set("csrfToken", csrf);
    await next();
  };
}

/**
 * 429 with `Retry-After` and a `rate_limited` audit line when `ip` is over
 * the failure limit, else undefined (counts nothing).
 */
export function refuseBlocked(
  c: Context<ApprovalsEnv>,
  failures: RateLimit,
  ip: string,
): Promise<Response | undefined> {
  return refuseBlockedAddress(c, failures, ip, "APPROVERS");
}

/** Writes the `auth_failure` audit line of a wrong approver key and counts it. */
export async function countFailure(
  c: Context<ApprovalsEnv>,
  failures: RateLimit,
  ip: string,
  reason: string,
): Promise<void> {
  audit("auth_failure", {
    reason,
    client_ip: ip,
    path: c.req.path,
  }, "warning");
  await failures.count(ip);
}

function sameToken(presented: string | undefined, expected: string): boolean {
  const a = new TextEncoder().encode(presented ?? "");
  const b = new TextEncoder().encode(expected);
  // Lengths differ only for a malformed header; the comparison itself is constant-time.
  return a.length === b.length && timingSafeEqual(a, b);
}
