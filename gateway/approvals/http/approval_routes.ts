/**
 * `approvalRoutes()`: the approvals console, its JSON API and its live feed,
 * as a Hono sub-app the gateway mounts at `/approvals`. The gateway's
 * `clientIp()` and `hostGuard()` run on `/approvals/*` before it.
 *
 * | Path (under /approvals) | What |
 * | --- | --- |
 * | `GET /` | the console, or the login page without a session |
 * | `POST /login`, `POST /logout` | form login (approver key), logout (CSRF) |
 * | `GET /console.js`, `GET /console.css` | the console's script and style |
 * | `GET /api/session` | who is logged in, the CSRF token, the server's clock |
 * | `GET /api/requests?state=` | requests, newest first |
 * | `GET /api/requests/{id}` | one request |
 * | `POST /api/requests/{id}/approve`, `/deny` | a decision, `{"comment": "..."}` |
 * | `GET /api/events` | server-sent events: every new request and decision |
 *
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getLogger } from "@logtape/logtape";
import { ApiKeyVerifier } from "../../http/api_key_auth.ts";
import type { RateLimit } from "../../rate_limits.ts";
import type { ApprovalBroker, Approver } from "../approval.ts";
import { approvalEvents } from "./approval_events.ts";
import type { ApprovalsEnv } from "./approvals_env.ts";
import { approverAuth } from "./approver_auth.ts";
import { loadConsoleAssets } from "./console_assets.ts";
import { consoleLogin, consoleLogout } from "./console_login.ts";
import type { ConsoleSessions } from "./console_sessions.ts";
import { loginPage } from "./login_page.ts";
import { decideRequest, getRequest, listRequests } from "./requests_api.ts";
import { sameOriginGuard } from "./same_origin_guard.ts";
import { consoleSecurityHeaders } from "./security_headers.ts";
import { SESSION_COOKIE_PATH, sessionTokenOf } from "./session_cookie.ts";

const log = getLogger(["gateway", "approvals"]);

/** The largest body of a login or a decision, in bytes. */
export const MAX_APPROVALS_BODY_BYTES = 16 * 1024;

/** Options of {@linkcode approvalRoutes}. */
export interface ApprovalRoutesOptions {
  broker: ApprovalBroker;
  /** `APPROVERS` / `APPROVERS_FILE`; with none, every login and key is refused. */
  approvers: readonly Approver[];
  /** Lifetime of a console session and its cookie (`APPROVAL_SESSION_SECONDS`). */
  sessionSeconds: number;
  sessions: ConsoleSessions;
  /** `Secure` cookies: true when clients reach the console over TLS. */
  secureCookies: boolean;
  /**
   * Failed authentications per client address: the gateway's
   * `rateLimits.authFailures` (`AUTH_FAILURE_*`), shared with `/mcp`.
   */
  failures: RateLimit;
  /** SSE keep-alive interval (tests). */
  keepAliveMs?: number;
}

/**
 * Builds the sub-app; mount it with `app.route("/approvals", ...)` after
 * registering `clientIp()` and `hostGuard()` on `/approvals/*`.
 *
 * @throws {RangeError} when `sessionSeconds` is not a positive whole number
 * @throws {Deno.errors.NotFound} when the console's files are missing
 */
export function approvalRoutes(
  options: ApprovalRoutesOptions,
): Hono<ApprovalsEnv> {
  const { broker, sessions, failures } = options;
  if (!Number.isInteger(options.sessionSeconds) || options.sessionSeconds < 1) {
    throw new RangeError(
      `Console session lifetime must be a whole number of seconds above 0, not ${options.sessionSeconds}; check APPROVAL_SESSION_SECONDS`,
    );
  }
  const assets = loadConsoleAssets();
  const verifier = options.approvers.length === 0
    ? undefined
    : new ApiKeyVerifier(options.approvers);
  const app = new Hono<ApprovalsEnv>();
  const limitBody = bodyLimit({
    maxSize: MAX_APPROVALS_BODY_BYTES,
    onError: (c) =>
      c.json({
        error: "payload_too_large",
        message:
          `Request body is larger than ${MAX_APPROVALS_BODY_BYTES} bytes; shorten the comment`,
      }, 413),
  });
  const auth = approverAuth({ verifier, sessions, failures });

  app.use("*", consoleSecurityHeaders());
  app.use("*", sameOriginGuard());

  // Mounted at /approvals, the sub-app's "/" is "/approvals"; the page's
  // relative URLs need "/approvals/", which the catch-all below serves.
  app.get("/", (c) => c.redirect(`${SESSION_COOKIE_PATH}/`, 301));
  app.get("/console.js", (c) =>
    c.body(assets.script.body, 200, {
      "Content-Type": assets.script.contentType,
    }));
  app.get("/console.css", (c) =>
    c.body(assets.style.body, 200, {
      "Content-Type": assets.style.contentType,
    }));
  app.post(
    "/login",
    limitBody,
    consoleLogin({
      verifier,
      sessions,
      failures,
      assets,
      sessionSeconds: options.sessionSeconds,
      secureCookies: options.secureCookies,
    }),
  );
  app.post(
    "/logout",
    auth,
    consoleLogout({ sessions, secureCookies: options.secureCookies }),
  );

  app.use("/api/*", auth);
  app.get("/api/session", (c) =>
    c.json({
      approver: c.get("approver"),
      auth: c.get("approverAuth"),
      ...(c.get("approverAuth") === "session"
        ? {
          csrfToken: c.get("csrfToken"),
          expiresAt: c.get("sessionExpiresAt"),
        }
        : {}),
      now: Date.now(),
    }));
  app.get("/api/requests", listRequests(broker));
  app.get("/api/requests/:id", getRequest(broker));
  app.post(
    "/api/requests/:id/approve",
    limitBody,
    decideRequest(broker, "approve"),
  );
  app.post("/api/requests/:id/deny", limitBody, decideRequest(broker, "deny"));
  app.get(
    "/api/events",
    approvalEvents({
      broker,
      ...(options.keepAliveMs === undefined
        ? {}
        : { keepAliveMs: options.keepAliveMs }),
    }),
  );

  app.all("/*", async (c) => {
    if (c.req.method === "GET" && c.req.path === `${SESSION_COOKIE_PATH}/`) {
      const token = sessionTokenOf(c);
      const session = token === undefined
        ? undefined
        : await sessions.get(token);
      return session === undefined
        ? c.html(loginPage(assets.login))
        : c.html(assets.index.body);
    }
    return c.json({
      error: "not_found",
      message: "No such approvals endpoint; the console is at /approvals/",
    }, 404);
  });
  app.onError((error, c) => {
    const ref = crypto.randomUUID().slice(0, 8);
    log.error("Unhandled error on {path} (ref {ref}): {name}: {message}", {
      path: c.req.path,
      ref,
      name: error.name,
      message: error.message,
    });
    return c.json(
      { error: "internal", message: `Internal error (ref ${ref})` },
      500,
    );
  });
  return app;
}
