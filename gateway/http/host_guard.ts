/**
 * `hostGuard()`: DNS-rebinding protection. The `Host` header, and `Origin`
 * when present, must name an allowed host.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { unbracket } from "../ip_address.ts";

/** Options of {@linkcode hostGuard}. */
export interface HostGuardOptions {
  /** Accepted host names (`ALLOWED_HOSTS`); `["*"]` turns the check off. */
  allowedHosts: readonly string[];
}

/**
 * Refuses with 403 a request whose `Host`, or `Origin` when sent, is not
 * allowed; the message names the header and `ALLOWED_HOSTS`.
 */
export function hostGuard(options: HostGuardOptions): MiddlewareHandler {
  const { allowedHosts } = options;
  return async (c, next): Promise<Response | void> => {
    const refused = checkHostAndOrigin(
      c.req.header("host"),
      c.req.header("origin"),
      allowedHosts,
    );
    if (refused !== undefined) {
      return c.json({ error: "forbidden", message: refused }, 403);
    }
    await next();
  };
}

/** Returns why a request's Host/Origin is not allowed, or `undefined` when it is. */
export function checkHostAndOrigin(
  hostHeader: string | undefined,
  originHeader: string | undefined,
  allowedHosts: readonly string[],
): string | undefined {
  if (allowedHosts.includes("*")) return undefined;
  const host = hostnameOf(hostHeader ?? "");
  if (host === undefined || !allowedHosts.includes(host)) {
    return `Host "${
      printable(hostHeader ?? "")
    }" is not allowed; add the name clients use to ALLOWED_HOSTS`;
  }
  if (originHeader !== undefined && originHeader !== "null") {
    let origin: string;
    try {
      origin = unbracket(new URL(originHeader).hostname.toLowerCase());
    } catch {
      return "Origin header is malformed";
    }
    if (!allowedHosts.includes(origin)) {
      return `Origin "${
        printable(originHeader)
      }" is not allowed; add its host to ALLOWED_HOSTS`;
    }
  }
  return undefined;
}

function hostnameOf(header: string): string | undefined {
  if (!/^[A-Za-z0-9.\-\[\]:]{1,262}$/.test(header)) return undefined;
  try {
    return unbracket(new URL(`http://${header}/`).hostname.toLowerCase());
  } catch {
    return undefined;
  }
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 100);
}
