/**
 * `consoleSecurityHeaders()`: the strict Content-Security-Policy and the
 * other headers every response of the approvals console and its API carries.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";

/** The console's Content-Security-Policy: its own script and style files only, no inline code. */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Every header {@linkcode consoleSecurityHeaders} sets, and its value. */
export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": CONSOLE_CSP,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
  "X-Frame-Options": "DENY",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
};

/** Sets {@linkcode CONSOLE_SECURITY_HEADERS} on every response, errors included. */
export function consoleSecurityHeaders(): MiddlewareHandler {
  return async (c, next): Promise<void> => {
    await next();
    for (const [name, value] of Object.entries(CONSOLE_SECURITY_HEADERS)) {
      c.res.headers.set(name, value);
    }
  };
}
