/**
 * `sameOriginGuard()`: a state-changing request (anything but GET and HEAD)
 * that a browser marks as coming from another origin is refused before it is
 * looked at, in addition to SameSite=Strict and the CSRF token. Scripts that
 * send no `Origin` and no `Sec-Fetch-Site` (the CLI, curl) pass.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { unbracket } from "../../ip_address.ts";

/**
 * Refuses with 403 a POST whose `Sec-Fetch-Site` is `cross-site` or
 * `same-site`, or whose `Origin` names another host than `Host` (nginx
 * passes the client's Host without its port, so host names are compared).
 * `Origin: null` is refused unless the browser vouches with
 * `Sec-Fetch-Site: same-origin`: under `Referrer-Policy: no-referrer`
 * Chromium sends `null` for the console's own login form.
 */
export function sameOriginGuard(): MiddlewareHandler {
  return async (c, next): Promise<Response | void> => {
    if (c.req.method === "GET" || c.req.method === "HEAD") return await next();
    const refused = crossOriginReason(
      c.req.header("origin"),
      c.req.header("host"),
      c.req.header("sec-fetch-site"),
    );
    if (refused !== undefined) {
      return c.json({ error: "cross_origin", message: refused }, 403);
    }
    await next();
  };
}

/** Why a state-changing request looks cross-origin, or undefined. */
export function crossOriginReason(
  origin: string | undefined,
  host: string | undefined,
  fetchSite: string | undefined,
): string | undefined {
  const refusal =
    "Cross-origin request refused; use the approvals console itself or the API with Authorization: Bearer";
  if (fetchSite === "cross-site" || fetchSite === "same-site") return refusal;
  if (origin === undefined) return undefined;
  if (origin === "null") {
    return fetchSite === "same-origin" ? undefined : refusal;
  }
  let originHost: string;
  let ownHost: string;
  try {
    originHost = unbracket(new URL(origin).hostname.toLowerCase());
    ownHost = unbracket(
      new URL(`http://${host ?? ""}/`).hostname.toLowerCase(),
    );
  } catch {
    return refusal;
  }
  return originHost === ownHost && ownHost !== "" ? undefined : refusal;
}
