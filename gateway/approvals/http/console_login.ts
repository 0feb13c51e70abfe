/**
 * The console's login and logout. Login is a plain form POST of the approver
 * key: a session cookie and a redirect to the console on success, the login
 * page with a clear message on failure (401) or over the failed-login limit
 * (429). A failure writes `auth_failure` with the path and counts against
 * the address in the gateway's failed-authentication limit.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Handler } from "hono";
import type { ApiKeyVerifier } from "../../http/api_key_auth.ts";
import type { RateLimit } from "../../rate_limits.ts";
import type { ApprovalsEnv } from "./approvals_env.ts";
import { countFailure, refuseBlocked } from "./approver_auth.ts";
import { clientIpOf } from "./client_ip_of.ts";
import type { ConsoleAssets } from "./console_assets.ts";
import type { ConsoleSessions } from "./console_sessions.ts";
import { loginPage } from "./login_page.ts";
import {
  clearSessionCookie,
  sessionTokenOf,
  setSessionCookie,
} from "./session_cookie.ts";

const log = getLogger(["gateway", "approvals"]);

/** The message of a refused login. */
export const LOGIN_FAILED =
  "That approver key is not valid. Use the key given to you in APPROVERS or APPROVERS_FILE.";

/** Options of {@linkcode consoleLogin} and {@linkcode consoleLogout}. */
export interface ConsoleLoginOptions {
  verifier: ApiKeyVerifier | undefined;
  sessions: ConsoleSessions;
  failures: RateLimit;
  assets: ConsoleAssets;
  /** Session and cookie lifetime. */
  sessionSeconds: number;
  /** `Secure` cookies (behind TLS). */
  secureCookies: boolean;
}

/** `POST login`: the form field `key`. */
export function consoleLogin(
  options: ConsoleLoginOptions,
): Handler<ApprovalsEnv> {
  const { verifier, sessions, failures, assets } = options;
  return async (c): Promise<Response> => {
    const ip = clientIpOf(c);
    const page = (status: 401 | 429 | 400, message: string): Response =>
      c.html(loginPage(assets.login, message), status);
    const blocked = await refuseBlocked(c, failures, ip);
    if (blocked !== undefined) {
      const retryAfter = blocked.headers.get("Retry-After") ?? "60";
      c.header("Retry-After", retryAfter);
      return page(
        429,
        `Too many failed logins from this address; wait ${retryAfter} seconds and try again.`,
      );
    }
    let key: unknown;
    try {
      key = (await c.req.parseBody())["key"];
    } catch {
      return page(400, "The login form could not be read; reload the page.");
    }
    const name = typeof key === "string" && key.length <= 512
      ? verifier?.verify(key)
      : undefined;
    if (name === undefined) {
      await countFailure(c, failures, ip, "invalid_approver_key");
      return page(401, LOGIN_FAILED);
    }
    const { token } = await sessions.create(name, options.sessionSeconds);
    setSessionCookie(c, token, {
      secure: options.secureCookies,
      maxAgeSeconds: options.sessionSeconds,
    });
    log.info("Approver {approver} logged in to the console from {clientIp}", {
      approver: name,
      clientIp: ip,
    });
    return c.redirect("./", 303);
  };
}

/** `POST logout` (behind `approverAuth()`, so with the CSRF token): ends the session. */
export function consoleLogout(
  options: Pick<ConsoleLoginOptions, "sessions" | "secureCookies">,
): Handler<ApprovalsEnv> {
  return async (c): Promise<Response> => {
    const token = sessionTokenOf(c);
    if (token !== undefined) await options.sessions.delete(token);
    clearSessionCookie(c, options.secureCookies);
    return c.json({ loggedOut: true });
  };
}
