/**
 * `drainGuard()`, the first step on `/mcp/*`: counts every MCP request in
 * flight until its response has been sent to the end (an event stream
 * until it closes; a HEAD request until its headers are ready), and once
 * the drain has started (SIGTERM) refuses new ones with 503, a JSON-RPC
 * error that says to retry on another replica, `Retry-After` and
 * `Connection: close`, before anything else looks at them.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { InFlightRequests } from "./in_flight.ts";
import type { Lifecycle } from "./lifecycle_state.ts";

/** The JSON-RPC error of a request refused while the service drains. */
export const SHUTTING_DOWN_MESSAGE =
  "The service is shutting down; retry on another replica";

/** Seconds a client is asked to wait before it retries a refused request. */
export const DRAIN_RETRY_AFTER_SECONDS = 5;

/** Counts MCP requests in flight and refuses new ones while draining. */
export function drainGuard(lifecycle: Lifecycle): MiddlewareHandler {
  return async (c, next) => {
    if (lifecycle.draining) {
      return c.json(
        {
          jsonrpc: "2.0",
          error: { code: -32000, message: SHUTTING_DOWN_MESSAGE },
          id: null,
        },
        503,
        {
          "Retry-After": String(DRAIN_RETRY_AFTER_SECONDS),
          Connection: "close",
        },
      );
    }
    const end = lifecycle.inFlight.begin();
    try {
      await next();
    } catch (error) {
      end();
      throw error;
    }
    // Hono answers HEAD with the GET route's response and drops its body
    // unread (neither read nor cancelled): the request ends here, or the
    // count would wait for it until the drain's grace runs out.
    if (c.req.method === "HEAD") {
      end();
      return;
    }
    c.res = InFlightRequests.endingWith(c.res, end);
  };
}
