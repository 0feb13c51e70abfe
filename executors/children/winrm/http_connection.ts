/**
 * A minimal HTTP/1.1 client over one kept-alive TCP or TLS connection.
 *
 * NTLM authenticates a connection, not a request: the handshake and every
 * sealed message must travel on the same socket, which `fetch` cannot
 * promise. This client sends one request at a time on one socket and reads
 * Content-Length, chunked and read-until-close responses, with bounded
 * header and body sizes.
 *
 * TLS: `verify: true` uses `Deno.connectTls` (Mozilla roots plus an optional
 * CA bundle). `verify: false` (the operator's explicit choice) uses node:tls
 * with `rejectUnauthorized: false`, the only TLS client here that can skip
 * chain verification; both work under `--allow-net=HOST:PORT` alone.
 *
 * @module
 */
import { joinBytes } from "./join_bytes.ts";
import * as nodeTls from "node:tls";

/** A bidirectional byte stream (`Deno.Conn`, `Deno.TlsConn`, or a node:tls adapter). */
export interface ByteStream {
  /** Reads into `buffer`; null at end of stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes some of `data`; returns how many bytes were written. */
  write(data: Uint8Array): Promise<number>;
  /** Closes the stream; a pending read rejects or returns null. */
  close(): void;
}

/** An HTTP header as a name/value pair (names compared case-insensitively). */
export type HttpHeader = readonly [string, string];

/** One request. */
export interface HttpRequest {
  method: string;
  /** Request target, e.g. `/wsman`. */
  path: string;
  /** Headers besides Host and Content-Length, which the client writes. */
  headers: readonly HttpHeader[];
  body: Uint8Array;
}

/** One response. */
export interface HttpResponse {
  status: number;
  reason: string;
  /** Every header line in order, repeated names kept apart. */
  headers: HttpHeader[];
  body: Uint8Array;
}

/** Why a connection or an exchange failed. */
export type HttpErrorKind =
  | "connect"
  | "tls"
  | "closed"
  | "protocol"
  | "too_large";

/** A connection, TLS or framing failure. */
export class HttpError extends Error {
  /** What went wrong. */
  readonly kind: HttpErrorKind;

  /** Creates the error. */
  constructor(kind: HttpErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HttpError";
    this.kind = kind;
  }
}

/** The first value of a header, or null. */
export function headerValue(
  headers: readonly HttpHeader[],
  name: string,
): string | null {
  const lower = name.toLowerCase();
  return headers.find(([n]) => n.toLowerCase() === lower)?.[1] ?? null;
}

/** Every value of a header, one per header line. */
export function headerValues(
  headers: readonly HttpHeader[],
  name: string,
): string[] {
  const lower = name.toLowerCase();
  return headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
}

/** Default cap on one response body (bytes). */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
/** Cap on the status line and headers of one response (bytes). */
export const MAX_HEADER_BYTES = 64 * 1024;

const READ_CHUNK = 64 * 1024;
const CRLF = new Uint8Array([13, 10]);
const CRLFCRLF = new Uint8Array([13, 10, 13, 10]);

/** Options of {@linkcode HttpConnection}. */
export interface HttpConnectionOptions {
  /** The Host header, e.g. `win01.example.com:5985` or `[::1]:5985`. */
  hostHeader: string;
  /** Cap on one response body (default {@linkcode DEFAULT_MAX_RESPONSE_BYTES}). */
  maxResponseBytes?: number;
}

/**
 * HTTP/1.1 exchanges on one connection, strictly one at a time. After a
 * failed or aborted exchange, or a response that ends the connection, the
 * connection is closed and {@linkcode HttpConnection.isOpen} is false.
 */
export class HttpConnection {
  readonly #stream: ByteStream;
  readonly #hostHeader: string;
  readonly #maxResponseBytes: number;
  #pending: Uint8Array = new Uint8Array(0);
  #open = true;
  #busy = false;

  /** Wraps a connected stream. */
  constructor(stream: ByteStream, options: HttpConnectionOptions) {
    this.#stream = stream;
    this.#hostHeader = options.hostHeader;
    this.#maxResponseBytes = options.maxResponseBytes ??
      DEFAULT_MAX_RESPONSE_BYTES;
  }

  /** Whether another request may be sent. */
  get isOpen(): boolean {
    return this.#open;
  }

  /** Closes the connection. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    try {
      this.#stream.close();
    } catch {
      // Already closed.
    }
  }

  /**
   * Sends one request and reads its response. An abort closes the
   * connection and rejects with the signal's reason.
   *
   * @throws {HttpError} for a closed connection or a malformed response
   * @throws {TypeError} for an invalid method, path or header, or when
   *   another request is still in flight
   */
  async request(
    request: HttpRequest,
    signal?: AbortSignal,
  ): Promise<HttpResponse> {
    if (!this.#open) {
      throw new HttpError(
        "closed",
        "The connection is closed; open a new one",
      );
    }
    if (this.#busy) {
      throw new TypeError(
        "Cannot send a request while another is in flight on this connection",
      );
    }
    signal?.throwIfAborted();
    const bytes = this.#encodeRequest(request);
    this.#busy = true;
    const onAbort = (): void => this.close();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await this.#writeAll(bytes);
      const response = await this.#readResponse(request.method);
      if (!keepsAlive(response)) this.close();
      return response;
    } catch (error) {
      this.close();
      if (signal?.aborted) throw signal.reason;
      if (error instanceof HttpError) throw error;
      throw new HttpError(
        "closed",
        `The connection failed during the exchange (${
          error instanceof Error ? error.name : "error"
        })`,
        { cause: error },
      );
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.#busy = false;
    }
  }

  #encodeRequest(request: HttpRequest): Uint8Array {
    if (!/^[A-Z]+$/.test(request.method) || /[\s]/.test(request.path)) {
      throw new TypeError("Invalid HTTP method or path");
    }
    let head = `${request.method} ${request.path} HTTP/1.1\r\n` +
      `Host: ${this.#hostHeader}\r\n`;
    for (const [name, value] of request.headers) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n]/.test(value)) {
        throw new TypeError(`Invalid HTTP header ${name.slice(0, 40)}`);
      }
      head += `${name}: ${value}\r\n`;
    }
    head += `Content-Length: ${request.body.length}\r\n\r\n`;
    const headBytes = new TextEncoder().encode(head);
    const out = new Uint8Array(headBytes.length + request.body.length);
    out.set(headBytes, 0);
    out.set(request.body, headBytes.length);
    return out;
  }

  async #writeAll(data: Uint8Array): Promise<void> {
    let written = 0;
    while (written < data.length) {
      written += await this.#stream.write(data.subarray(written));
    }
  }

  /** Reads more bytes into the pending buffer; false at end of stream. */
  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(READ_CHUNK);
    const n = await this.#stream.read(chunk);
    if (n === null) return false;
    const next = new Uint8Array(this.#pending.length + n);
    next.set(this.#pending, 0);
    next.set(chunk.subarray(0, n), this.#pending.length);
    this.#pending = next;
    return true;
  }

  #take(n: number): Uint8Array {
    const out = this.#pending.slice(0, n);
    this.#pending = this.#pending.slice(n);
    return out;
  }

  /** Reads up to and including `delimiter`; returns the bytes before it. */
  async #readUntil(
    delimiter: Uint8Array,
    limit: number,
    what: string,
  ): Promise<Uint8Array> {
    let searchFrom = 0;
    for (;;) {
      const at = indexOf(this.#pending, delimiter, searchFrom);
      if (at >= 0) {
        const out = this.#take(at);
        this.#take(delimiter.length);
        return out;
      }
      if (this.#pending.length > limit) {
        throw new HttpError(
          "too_large",
          `The server's ${what} is longer than ${limit} bytes`,
        );
      }
      searchFrom = Math.max(0, this.#pending.length - delimiter.length + 1);
      if (!await this.#fill()) {
        throw new HttpError(
          "closed",
          `The server closed the connection before the end of the ${what}`,
        );
      }
    }
  }

  async #readExactly(n: number): Promise<Uint8Array> {
    if (this.#pending.length >= n) return this.#take(n);
    // Read straight into the result: no quadratic re-copying of big bodies.
    const out = new Uint8Array(n);
    let filled = this.#pending.length;
    out.set(this.#pending, 0);
    this.#pending = new Uint8Array(0);
    while (filled < n) {
      const read = await this.#stream.read(out.subarray(filled));
      if (read === null) {
        throw new HttpError(
          "closed",
          "The server closed the connection in the middle of a response body",
        );
      }
      filled += read;
    }
    return out;
  }

  async #readToEnd(): Promise<Uint8Array> {
    const parts = [this.#take(this.#pending.length)];
    let total = parts[0]!.length;
    this.#checkSize(total);
    for (;;) {
      const chunk = new Uint8Array(READ_CHUNK);
      const n = await this.#stream.read(chunk);
      if (n === null) break;
      parts.push(chunk.subarray(0, n));
      total += n;
      this.#checkSize(total);
    }
    return joinBytes(parts);
  }

  async #readResponse(method: string): Promise<HttpResponse> {
    for (;;) {
      const headBytes = await this.#readUntil(
        CRLFCRLF,
        MAX_HEADER_BYTES,
        "response headers",
      );
      const lines = latin1(headBytes).split("\r\n");
      const statusLine = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(
        lines[0] ?? "",
      );
      if (statusLine === null) {
        throw new HttpError(
          "protocol",
          `The server did not answer with HTTP/1.x (status line "${
            (lines[0] ?? "").slice(0, 40)
          }")`,
        );
      }
      const headers: HttpHeader[] = [];
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        if (colon <= 0) {
          throw new HttpError(
            "protocol",
            `The server sent a malformed header line "${line.slice(0, 40)}"`,
          );
        }
        headers.push([
          line.slice(0, colon).trim(),
          line.slice(colon + 1).trim(),
        ]);
      }
      const status = Number(statusLine[2]);
      if (status >= 100 && status < 200) continue; // Interim response.
      const minor = statusLine[1];
      const body = await this.#readBody(method, status, headers);
      if (
        minor === "0" &&
        !/keep-alive/i.test(headerValue(headers, "connection") ?? "")
      ) {
        headers.push(["Connection", "close"]);
      }
      return { status, reason: statusLine[3] ?? "", headers, body };
    }
  }

  async #readBody(
    method: string,
    status: number,
    headers: HttpHeader[],
  ): Promise<Uint8Array> {
    if (method === "HEAD" || status === 204 || status === 304) {
      return new Uint8Array(0);
    }
    const transferEncoding = headerValue(headers, "transfer-encoding");
    if (transferEncoding !== null) {
      if (!/(^|,)\s*chunked\s*$/i.test(transferEncoding)) {
        throw new HttpError(
          "protocol",
          `The server used Transfer-Encoding "${
            transferEncoding.slice(0, 40)
          }", which this client does not read`,
        );
      }
      return await this.#readChunked();
    }
    const lengths = headerValues(headers, "content-length");
    if (lengths.length > 0) {
      const values = new Set(
        lengths.flatMap((v) => v.split(",")).map((v) => v.trim()),
      );
      const [only] = values;
      if (values.size !== 1 || only === undefined || !/^\d{1,12}$/.test(only)) {
        throw new HttpError(
          "protocol",
          "The server sent an invalid or conflicting Content-Length",
        );
      }
      const length = Number(only);
      this.#checkSize(length);
      return await this.#readExactly(length);
    }
    // No framing: the body runs to the end of the connection.
    headers.push(["Connection", "close"]);
    return await this.#readToEnd();
  }

  async #readChunked(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const sizeLine = latin1(
        await this.#readUntil(CRLF, 1024, "chunk size line"),
      );
      const sizeText = sizeLine.split(";")[0]!.trim();
      if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) {
        throw new HttpError(
          "protocol",
          `The server sent an invalid chunk size "${sizeText.slice(0, 20)}"`,
        );
      }
      const size = parseInt(sizeText, 16);
      if (size === 0) {
        // Trailers, up to the empty line.
        while (
          (await this.#readUntil(CRLF, MAX_HEADER_BYTES, "trailers")).length > 0
        ) {
          // Ignored.
        }
        break;
      }
      total += size;
      this.#checkSize(total);
      parts.push(await this.#readExactly(size));
      const end = await this.#readExactly(2);
      if (end[0] !== 13 || end[1] !== 10) {
        throw new HttpError(
          "protocol",
          "The server sent a chunk without its closing CRLF",
        );
      }
    }
    return joinBytes(parts);
  }

  #checkSize(size: number): void {
    if (size > this.#maxResponseBytes) {
      throw new HttpError(
        "too_large",
        `The server's response body is larger than ${this.#maxResponseBytes} bytes`,
      );
    }
  }
}

function keepsAlive(response: HttpResponse): boolean {
  return !headerValues(response.headers, "connection").some((v) =>
    /(^|,)\s*close\s*(,|$)/i.test(v)
  );
}

function latin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    out += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return out;
}

function indexOf(
  haystack: Uint8Array,
  needle: Uint8Array,
  from: number,
): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

/** TLS settings of a connection. */
export interface TlsSettings {
  /** false: skip certificate verification (the operator's explicit choice). */
  verify: boolean;
  /** PEM CA certificates trusted in addition to the default roots. */
  caCerts?: string[];
}

/** Options of {@linkcode openByteStream}. */
export interface OpenStreamOptions {
  host: string;
  port: number;
  /** TLS settings; plain TCP when absent. */
  tls?: TlsSettings;
  /** Aborts the connect and the TLS handshake. */
  signal?: AbortSignal;
}

/**
 * Connects TCP (and TLS) to the host. For TLS the handshake completes here,
 * so certificate errors surface as `HttpError` of kind `tls`.
 *
 * @throws {HttpError} of kind `connect` or `tls`
 * @throws the signal's reason when it aborts
 * @throws {Deno.errors.NotCapable} when the sandbox refuses the connection
 */
export async function openByteStream(
  options: OpenStreamOptions,
): Promise<ByteStream> {
  const { host, port, tls, signal } = options;
  signal?.throwIfAborted();
  if (tls !== undefined && !tls.verify) {
    return await connectUnverified(host, port, signal);
  }
  let conn: Deno.Conn | Deno.TlsConn;
  try {
    const connecting: Promise<Deno.Conn | Deno.TlsConn> = tls === undefined
      ? Deno.connect({ hostname: host, port })
      : Deno.connectTls({
        hostname: host,
        port,
        ...(tls.caCerts === undefined ? {} : { caCerts: tls.caCerts }),
      });
    conn = await untilAborted(connecting, signal);
  } catch (error) {
    if (signal?.aborted || error instanceof Deno.errors.NotCapable) {
      throw error;
    }
    const tlsFailure = tls !== undefined &&
      /certificate|handshake|alert|tls/i.test(
        error instanceof Error ? error.message : "",
      );
    throw tlsFailure
      ? new HttpError("tls", tlsMessage(error), { cause: error })
      : new HttpError("connect", connectMessage(error), { cause: error });
  }
  if (tls !== undefined) {
    const tlsConn = conn as Deno.TlsConn;
    const onAbort = (): void => {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await tlsConn.handshake();
    } catch (error) {
      onAbort();
      signal?.throwIfAborted();
      throw new HttpError("tls", tlsMessage(error), { cause: error });
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }
  // Nagle + delayed ACK would stall each small request by up to 40 ms.
  if (tls === undefined) (conn as Deno.TcpConn).setNoDelay(true);
  return conn;
}

/**
 * Settles with the connection, or rejects with the signal's reason as soon
 * as it aborts (a connect to a silent host can take minutes); a connection
 * that arrives after the abort is closed.
 */
function untilAborted<T extends Deno.Conn>(
  connecting: Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (signal === undefined) return connecting;
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      reject(signal.reason);
      connecting.then((conn) => conn.close(), () => {});
    };
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });
    connecting.then(
      (conn) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) conn.close();
        else resolve(conn);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

function connectMessage(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) {
    return "connection refused";
  }
  if (error instanceof Deno.errors.TimedOut) return "the connection timed out";
  if (error instanceof Deno.errors.ConnectionReset) {
    return "the connection was reset";
  }
  const message = error instanceof Error ? error.message : String(error);
  if (/dns|resolve|lookup|name or service|nodename/i.test(message)) {
    return "the host name does not resolve";
  }
  if (/unreachable|no route/i.test(message)) return "no route to the host";
  return message.slice(0, 200);
}

function tlsMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, " ").slice(0, 300);
}

/** TLS without certificate verification, through node:tls. */
function connectUnverified(
  host: string,
  port: number,
  signal: AbortSignal | undefined,
): Promise<ByteStream> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const socket = nodeTls.connect({
      host,
      port,
      rejectUnauthorized: false,
      ...(isIpLiteral(host) ? {} : { servername: host }),
    });
    const onAbort = (): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("secureConnect", () => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      socket.setNoDelay(true);
      resolve(new NodeSocketStream(socket));
    });
    socket.once("error", (error: Error & { code?: string }) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      if (error instanceof Deno.errors.NotCapable) {
        reject(error);
        return;
      }
      const connectFailure =
        /^E(CONNREFUSED|NOTFOUND|AI_|HOSTUNREACH|NETUNREACH|TIMEDOUT)/
          .test(error.code ?? "");
      reject(
        new HttpError(
          connectFailure ? "connect" : "tls",
          error.code === "ECONNREFUSED"
            ? "connection refused"
            : tlsMessage(error),
          { cause: error },
        ),
      );
    });
  });
}

function isIpLiteral(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(":");
}

const MAX_QUEUED_BYTES = 1024 * 1024;

/** A node:tls socket seen as a {@linkcode ByteStream}. */
class NodeSocketStream implements ByteStream {
  readonly #socket: nodeTls.TLSSocket;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;

  constructor(socket: nodeTls.TLSSocket) {
    this.#socket = socket;
    socket.on("data", (chunk: Uint8Array) => {
      this.#queue.push(new Uint8Array(chunk));
      this.#queued += chunk.length;
      if (this.#queued > MAX_QUEUED_BYTES) socket.pause();
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (error: Error) => {
      this.#error = error;
      this.#notify();
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#queue.length === 0 && !this.#ended && this.#error === null) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    const head = this.#queue[0];
    if (head === undefined) {
      if (this.#error !== null) throw this.#error;
      return null;
    }
    const n = Math.min(buffer.length, head.length);
    buffer.set(head.subarray(0, n), 0);
    if (n === head.length) this.#queue.shift();
    else this.#queue[0] = head.subarray(n);
    this.#queued -= n;
    if (this.#queued <= MAX_QUEUED_BYTES / 2) this.#socket.resume();
    return n;
  }

  write(data: Uint8Array): Promise<number> {
    if (this.#error !== null) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#socket.write(data, (error?: Error | null) => {
        if (error) reject(error);
        else resolve(data.length);
      });
    });
  }

  close(): void {
    this.#ended = true;
    this.#socket.destroy();
    this.#notify();
  }
}
