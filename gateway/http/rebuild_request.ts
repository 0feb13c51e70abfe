/**
 * `rebuildRequest()`: a copy of a server request with another body, built
 * from its parts (never `new Request(request, ...)`, which reads the server
 * request's `signal` and makes Deno print a plain-text warning), and the
 * requests the Fetch API cannot copy answered instead of thrown:
 *
 * - methods Fetch forbids (`CONNECT`, `TRACE`, `TRACK`): 405;
 * - `GET` and `HEAD` in any case: Deno's server hands them a body when the
 *   client sent one, which no `Request` of those methods may carry; no
 *   route reads it, so the request passes through unchanged;
 * - a `Host` that makes no URL (`! !`, a port past 65535): 400.
 *
 * @module
 */

const FORBIDDEN_METHODS = /^(CONNECT|TRACE|TRACK)$/i;
const BODILESS_METHODS = /^(GET|HEAD)$/i;

/** Whether a copy of the request may carry a body (not GET or HEAD, in any case). */
export function mayCarryBody(request: Request): boolean {
  return !BODILESS_METHODS.test(request.method);
}

/** The request with `body`, or the answer for a request that cannot carry one. */
export function rebuildRequest(
  request: Request,
  body: BodyInit,
): Request | Response {
  if (FORBIDDEN_METHODS.test(request.method)) {
    return Response.json({
      error: "method_not_allowed",
      message:
        `Method ${request.method.toUpperCase()} is not allowed; the MCP endpoints take POST`,
    }, { status: 405, headers: { Allow: "GET, HEAD, POST" } });
  }
  if (!mayCarryBody(request)) return request;
  try {
    return new Request(request.url, {
      method: request.method,
      headers: request.headers,
      body,
    });
  } catch {
    return Response.json({
      error: "bad_request",
      message:
        "Cannot read the request: its method or Host header makes no valid request; send a Host such as the service's name and port",
    }, { status: 400 });
  }
}
