/**
 * `requestBodyLimit()`: the `MAX_REQUEST_BYTES` cap on MCP request bodies.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";

/** Options of {@linkcode requestBodyLimit}. */
export interface RequestBodyLimitOptions {
  /** The largest body accepted, in bytes (`MAX_REQUEST_BYTES`). */
  maxBytes: number;
}

/**
 * Refuses a body over the limit with 413: by its `Content-Length`, or, for a
 * chunked body without one, by counting bytes as they arrive.
 */
export function requestBodyLimit(
  options: RequestBodyLimitOptions,
): MiddlewareHandler {
  const { maxBytes } = options;
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) =>
      c.json({
        error: "payload_too_large",
        message:
          `Request body is larger than ${maxBytes} bytes (MAX_REQUEST_BYTES)`,
      }, 413),
  });
}
