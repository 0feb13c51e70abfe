/**
 * The fuzz suite's two ways of talking to the gateway: raw HTTP/1.1 over a
 * TCP socket (any method, path, header or body, byte for byte, which
 * `fetch` would refuse or normalise), and `fetch` for well-formed MCP
 * requests. Both return the same {@linkcode HttpAnswer}.
 *
 * @module
 */

/** How long an answer may take before the gateway counts as hung. */
export const ANSWER_TIMEOUT_MS = 30_000;

/** An HTTP request as the fuzzer built it. */
export interface RawRequest {
  method: string;
  /** The request target: a path with an optional query. */
  target: string;
  /** Header lines in order; repeats allowed. */
  headers: [string, string][];
  body: Uint8Array;
  /** Send the body with `Transfer-Encoding: chunked` instead of `Content-Length`. */
  chunked: boolean;
}

/** What came back. */
export interface HttpAnswer {
  status: number;
  /** Header names in lower case. */
  headers: Headers;
  body: string;
}

const encoder = new TextEncoder();

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Latin-1 bytes of a string whose characters are all below 256. */
function latin1(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}

/**
 * The bytes of a request: the fuzzer's headers, then the framing
 * (`Content-Length` or chunks) and `Connection: close`, so that the answer
 * ends when the gateway closes the socket.
 */
export function encodeRequest(request: RawRequest): Uint8Array {
  const lines = [`${request.method} ${request.target} HTTP/1.1`];
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  if (request.chunked) lines.push("Transfer-Encoding: chunked");
  else if (request.body.length > 0 || request.method !== "GET") {
    lines.push(`Content-Length: ${request.body.length}`);
  }
  lines.push("Connection: close", "", "");
  const head = latin1(lines.join("\r\n"));
  if (!request.chunked) return concat([head, request.body]);
  const parts = [head];
  for (let offset = 0; offset < request.body.length; offset += 4096) {
    const chunk = request.body.subarray(offset, offset + 4096);
    parts.push(encoder.encode(`${chunk.length.toString(16)}\r\n`), chunk);
    parts.push(encoder.encode("\r\n"));
  }
  parts.push(encoder.encode("0\r\n\r\n"));
  return concat(parts);
}

function indexOf(bytes: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= bytes.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (bytes[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

const CRLF = encoder.encode("\r\n");
const HEAD_END = encoder.encode("\r\n\r\n");

function dechunk(bytes: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = indexOf(bytes, CRLF, offset);
    if (lineEnd < 0) throw new Error("Cannot read the answer: a chunk is cut");
    const size = parseInt(
      new TextDecoder().decode(bytes.subarray(offset, lineEnd)),
      16,
    );
    if (!Number.isFinite(size)) {
      throw new Error("Cannot read the answer: a chunk size is not hex");
    }
    if (size === 0) return concat(parts);
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
}

interface Head {
  status: number;
  headers: Headers;
  /** Where the body starts. */
  bodyStart: number;
}

/** The status line and headers, or undefined while they are incomplete. */
function parseHead(bytes: Uint8Array): Head | undefined {
  const headEnd = indexOf(bytes, HEAD_END);
  if (headEnd < 0) return undefined;
  const [statusLine, ...headerLines] = new TextDecoder().decode(
    bytes.subarray(0, headEnd),
  ).split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "")?.[1]);
  if (!Number.isInteger(status)) {
    throw new Error(`Cannot read the status line "${statusLine}"`);
  }
  const headers = new Headers();
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon > 0) {
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
  }
  return { status, headers, bodyStart: headEnd + 4 };
}

/**
 * The answer's body once all of it has arrived, or undefined while more is
 * to come (`eof`: the socket is closed, so what came is all there is).
 */
function completeBody(
  bytes: Uint8Array,
  head: Head,
  method: string,
  eof: boolean,
): Uint8Array | undefined {
  const rest = bytes.subarray(head.bodyStart);
  if (method === "HEAD" || head.status === 204 || head.status === 304) {
    return new Uint8Array();
  }
  if (/chunked/i.test(head.headers.get("transfer-encoding") ?? "")) {
    try {
      return dechunk(rest);
    } catch (error) {
      if (eof) throw error;
      return undefined;
    }
  }
  const length = head.headers.get("content-length");
  if (length !== null) {
    if (rest.length >= Number(length)) return rest.subarray(0, Number(length));
    if (eof) throw new Error("Cannot read the answer: its body is cut short");
    return undefined;
  }
  return eof ? rest : undefined;
}

/**
 * The answer in `bytes`, or undefined while it is incomplete.
 *
 * @throws {Error} when the bytes are not an HTTP/1.1 answer, or the socket
 *   closed before the answer was whole
 */
export function parseAnswer(
  bytes: Uint8Array,
  method: string,
  eof: boolean,
): HttpAnswer | undefined {
  const head = parseHead(bytes);
  if (head === undefined) {
    if (!eof) return undefined;
    throw new Error(
      `Cannot read the answer: no complete header (${bytes.length} bytes: ${
        new TextDecoder().decode(bytes.subarray(0, 200))
      })`,
    );
  }
  const body = completeBody(bytes, head, method, eof);
  if (body === undefined) return undefined;
  return {
    status: head.status,
    headers: head.headers,
    body: new TextDecoder().decode(body),
  };
}

/**
 * Sends raw bytes to `127.0.0.1:port` and reads one answer: up to the end
 * its framing gives (`Content-Length`, the last chunk), or up to the
 * closed socket.
 *
 * @throws {Error} when the connection is refused or reset before an answer,
 *   or no answer ends within {@linkcode ANSWER_TIMEOUT_MS}
 */
export async function sendRaw(
  port: number,
  request: Uint8Array,
  method: string,
): Promise<HttpAnswer> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, ANSWER_TIMEOUT_MS);
  let received: Uint8Array = new Uint8Array();
  try {
    // A gateway may answer before it has read the whole body (413) and
    // close the socket: writing the rest may fail then, which is fine.
    await writeAll(conn, request).catch(() => {});
    const buffer = new Uint8Array(64 * 1024);
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch (error) {
        if (timedOut) throw error;
        // A reset after the answer (bytes of the body were still unread)
        // leaves what arrived readable.
        n = null;
        if (received.length === 0) throw error;
      }
      if (n !== null) received = concat([received, buffer.subarray(0, n)]);
      const answer = parseAnswer(received, method, n === null);
      if (answer !== undefined) return answer;
    }
  } catch (error) {
    if (timedOut) {
      throw new Error(
        `The gateway did not finish its answer within ${ANSWER_TIMEOUT_MS} ms (received ${received.length} bytes)`,
      );
    }
    throw error;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer.
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await conn.write(bytes.subarray(offset));
  }
}

/** Options of {@linkcode postMcp}. */
export interface PostMcpOptions {
  /** The API key (`X-API-Key`); none when undefined. */
  apiKey: string | undefined;
  /** Headers that replace the defaults. */
  headers?: Record<string, string>;
}

/** POSTs a JSON-RPC body (text) to an MCP endpoint with `fetch`. */
export async function postMcp(
  url: string,
  body: string,
  options: PostMcpOptions,
): Promise<HttpAnswer> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(options.apiKey === undefined ? {} : { "x-api-key": options.apiKey }),
      ...options.headers,
    },
    body,
    signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: await response.text(),
  };
}
