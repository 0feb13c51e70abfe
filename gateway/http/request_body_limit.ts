/**
 * `requestBodyLimit()`: the `MAX_REQUEST_BYTES` cap on MCP request bodies,
 * and the answer to a body that does not arrive within
 * `HTTP_BODY_TIMEOUT_SECONDS` (the guarded server's body deadline fails
 * the read with `BodyTimeoutError`).
 *
 * The body is read here, once, for an authenticated caller, and the request
 * handed on is rebuilt from its parts with the bytes read. It is never
 * rebuilt from the server's request itself (`new Request(request, init)`, as
 * Hono's `bodyLimit` does for a chunked body): that reads the request's
 * `signal`, and Deno then prints a plain-text warning on stderr, a line a
 * JSON log shipper cannot read.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { mayCarryBody, rebuildRequest } from "./rebuild_request.ts";
import {
  BodyTimeoutError,
  bodyTimeoutResponse,
} from "./connection_guard/mod.ts";

/** Options of {@linkcode requestBodyLimit}. */
export interface RequestBodyLimitOptions {
  /** The largest body accepted, in bytes (`MAX_REQUEST_BYTES`). */
  maxBytes: number;
}

/** The body did not fit in `MAX_REQUEST_BYTES`. */
class TooLarge extends Error {}

/**
 * Refuses a body over the limit with 413: by its `Content-Length`, or, for a
 * chunked body without one, by counting bytes as they arrive. A body that
 * did not arrive in time gets 408 and `Connection: close`.
 */
export function requestBodyLimit(
  options: RequestBodyLimitOptions,
): MiddlewareHandler {
  const { maxBytes } = options;
  const tooLarge = (): Response =>
    Response.json({
      error: "payload_too_large",
      message:
        `Request body is larger than ${maxBytes} bytes (MAX_REQUEST_BYTES)`,
    }, { status: 413 });
  return async (c, next): Promise<Response | void> => {
    const request = c.req.raw;
    if (request.body === null || !mayCarryBody(request)) return await next();
    const declared = request.headers.get("content-length");
    if (
      declared !== null && !request.headers.has("transfer-encoding") &&
      Number(declared) > maxBytes
    ) {
      await request.body.cancel().catch(() => {});
      return tooLarge();
    }
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await readAtMost(request.body, maxBytes);
    } catch (error) {
      if (error instanceof TooLarge) return tooLarge();
      if (error instanceof BodyTimeoutError) {
        return bodyTimeoutResponse(error.seconds);
      }
      throw error;
    }
    const copy = rebuildRequest(request, bytes);
    if (copy instanceof Response) return copy;
    c.req.raw = copy;
    return await next();
  };
}

/**
 * Reads `body` to its end.
 *
 * @throws {TooLarge} once more than `maxBytes` have arrived (the rest is not read)
 */
async function readAtMost(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const reader = body.getReader();
  let buffer = new Uint8Array(0);
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.length > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new TooLarge();
    }
    if (size + value.length > buffer.length) {
      const grown = new Uint8Array(
        Math.min(maxBytes, Math.max(size + value.length, buffer.length * 2)),
      );
      grown.set(buffer.subarray(0, size));
      buffer = grown;
    }
    buffer.set(value, size);
    size += value.length;
  }
  return buffer.subarray(0, size);
}
