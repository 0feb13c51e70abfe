/**
 * The wire format between the gateway and a child, both halves: one JSON
 * request on the child's stdin, one JSON response on its stdout, each bounded
 * in size and checked against the protocol's schemas on arrival.
 *
 * The response is one line: JSON (which escapes every newline inside its
 * strings) and then `\n`. The newline tells the parent that the response is
 * complete, so it need not wait for the child's stdout to close, which
 * happens only when the process has exited (several milliseconds later).
 *
 * @module
 */
import {
  type ExecutorRequest,
  ExecutorRequestSchema,
  type ExecutorResponse,
  ExecutorResponseSchema,
  PROTOCOL_VERSION,
} from "./messages.ts";

/** Upper bound on a request written to a child's stdin (bytes). */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/**
 * Largest response the parent reads: each of stdout and stderr of the
 * operation may be `maxOutputBytes`, and JSON escaping may grow a byte to six
 * (`\u0000`), plus room for the rest of the response.
 */
export function responseLimitBytes(maxOutputBytes: number): number {
  return 2 * 6 * maxOutputBytes + 64 * 1024;
}

/**
 * Encodes a request for the child's stdin (parent side). The caller zeroes
 * the bytes once written: they hold the plaintext.
 *
 * @throws {RangeError} when the request is larger than {@linkcode MAX_REQUEST_BYTES}
 */
export function encodeRequest(request: ExecutorRequest): Uint8Array {
  const bytes = new TextEncoder().encode(JSON.stringify(request));
  if (bytes.length > MAX_REQUEST_BYTES) {
    bytes.fill(0);
    throw new RangeError(
      `The executor request is ${bytes.length} bytes, more than the protocol's ${MAX_REQUEST_BYTES}; shorten the operation`,
    );
  }
  return bytes;
}

/**
 * Reads and validates the request from stdin (child side).
 *
 * @throws {TypeError} when stdin does not hold one valid request
 * @throws {SyntaxError} when stdin is not JSON (its message quotes the input:
 *   never pass it on)
 */
export async function readRequest(): Promise<ExecutorRequest> {
  const text = await new Response(Deno.stdin.readable).text();
  if (text.length > MAX_REQUEST_BYTES) {
    throw new TypeError("Executor request is larger than the protocol allows");
  }
  const parsed = ExecutorRequestSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new TypeError(
      `Executor request does not match ${PROTOCOL_VERSION}: ${
        issuePaths(parsed.error.issues)
      }`,
    );
  }
  return parsed.data;
}

/** Ends a response: the parent reads up to the first one. */
export const RESPONSE_END = 0x0a;

/** Writes the one response to stdout as one line (child side). */
export async function writeResponse(response: ExecutorResponse): Promise<void> {
  const bytes = new TextEncoder().encode(`${JSON.stringify(response)}\n`);
  const writer = Deno.stdout.writable.getWriter();
  await writer.write(bytes);
  await writer.close();
}

/** A response the parent could read, or why it could not. */
export type DecodedResponse =
  | { readonly ok: true; readonly response: ExecutorResponse }
  | { readonly ok: false; readonly problem: "not_json" }
  | { readonly ok: false; readonly problem: "schema"; readonly at: string };

/**
 * Parses a child's stdout (parent side). Every string in it passes through
 * `clean` before the schema sees it; `cut` is true for a string `x` whose
 * object also holds `xTruncated: true` (as `stdout` / `stdoutTruncated`): the
 * child cut it, maybe inside a secret.
 */
export function decodeResponse(
  text: string,
  clean: (text: string, cut: boolean) => string,
): DecodedResponse {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, problem: "not_json" };
  }
  const parsed = ExecutorResponseSchema.safeParse(cleanStrings(json, clean));
  if (!parsed.success) {
    return {
      ok: false,
      problem: "schema",
      at: issuePaths(parsed.error.issues),
    };
  }
  return { ok: true, response: parsed.data };
}

function cleanStrings(
  value: unknown,
  clean: (text: string, cut: boolean) => string,
  cut = false,
): unknown {
  if (typeof value === "string") return clean(value, cut);
  if (Array.isArray(value)) {
    return value.map((item) => cleanStrings(item, clean));
  }
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(record)) {
      out[key] = cleanStrings(item, clean, record[`${key}Truncated`] === true);
    }
    return out;
  }
  return value;
}

/** Where a schema failed, never what the value was (it may hold a secret). */
export function issuePaths(issues: readonly { path: PropertyKey[] }[]): string {
  return issues
    .slice(0, 5)
    .map((issue) => issue.path.map(String).join(".") || "(root)")
    .join(", ");
}
