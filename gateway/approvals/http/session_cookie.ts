/**
 * The console's session cookie: HttpOnly, SameSite=Strict, Path=/approvals,
 * Secure behind TLS, and no longer-lived than the session.
 *
 * @module
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { isSessionToken } from "./session_token.ts";

/** The cookie's name. */
export const SESSION_COOKIE = "mcp_approvals_session";
/** The cookie's path: the console's mount point. */
export const SESSION_COOKIE_PATH = "/approvals";

/** Options of {@linkcode setSessionCookie}. */
export interface SessionCookieOptions {
  /** Adds `Secure` (the console is reached over TLS). */
  secure: boolean;
  /** The cookie's Max-Age: the session's lifetime. */
  maxAgeSeconds: number;
}

/** Sets the session cookie on the response. */
export function setSessionCookie(
  c: Context,
  token: string,
  options: SessionCookieOptions,
): void {
  setCookie(c, SESSION_COOKIE, token, {
    path: SESSION_COOKIE_PATH,
    httpOnly: true,
    sameSite: "Strict",
    secure: options.secure,
    maxAge: options.maxAgeSeconds,
  });
}

/** Expires the session cookie in the browser. */
export function clearSessionCookie(c: Context, secure: boolean): void {
  deleteCookie(c, SESSION_COOKIE, {
    path: SESSION_COOKIE_PATH,
    httpOnly: true,
    sameSite: "Strict",
    secure,
  });
}

/** The request's session token, when its cookie has the form of one. */
export function sessionTokenOf(c: Context): string | undefined {
  const token = getCookie(c, SESSION_COOKIE);
  return token !== undefined && isSessionToken(token) ? token : undefined;
}
