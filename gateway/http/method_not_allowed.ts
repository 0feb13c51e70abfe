/**
 * `methodNotAllowed()`: the answer for GET and DELETE on a stateless MCP
 * endpoint, which has no SSE stream to open and no session to end. Handed to
 * the SDK transport, a GET would open a stream that never sends anything.
 *
 * @module
 */
import type { Handler } from "hono";

/** Answers 405 with `Allow: POST`; route it for GET and DELETE on each endpoint. */
export function methodNotAllowed(): Handler {
  return (c) =>
    c.json(
      {
        error: "method_not_allowed",
        message:
          "This MCP endpoint is stateless: send JSON-RPC requests with POST",
      },
      405,
      { Allow: "POST" },
    );
}
