/**
 * HTTP/1.1 over a raw TCP connection, for tests that need what `fetch`
 * hides: the same connection for several requests, bytes sent one at a
 * time, a body that never ends, a connection from another loopback address
 * (`127.0.0.7`), and whether and when the server closed the connection.
 *
 * @module
 */
import net from "node:net";

/** One response as read from the connection. */
export interface RawResponse {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
}

/** Options of {@linkcode RawConnection.open}. */
export interface RawConnectionOptions {
  /** The server's address; default `127.0.0.1`. */
  hostname?: string;
  /** The local address to connect from (another loopback address, e.g. `127.0.0.7`). */
  localAddress?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A client connection that reads in the background. */
export class RawConnection {
  #received = new Uint8Array(0);
  #ended = false;
  #endedAt: number | undefined;
  #waiters: (() => void)[] = [];
  readonly #write: (bytes: Uint8Array) => Promise<void>;
  readonly #close: () => void;

  private constructor(
    write: (bytes: Uint8Array) => Promise<void>,
    close: () => void,
  ) {
    this.#write = write;
    this.#close = close;
  }

  /** Connects to `port` and starts reading. */
  static async open(
    port: number,
    options: RawConnectionOptions = {},
  ): Promise<RawConnection> {
    const hostname = options.hostname ?? "127.0.0.1";
    if (options.localAddress !== undefined) {
      return await RawConnection.#openNode(
        port,
        hostname,
        options.localAddress,
      );
    }
    const conn = await Deno.connect({ hostname, port });
    const connection = new RawConnection(async (bytes) => {
      let written = 0;
      while (written < bytes.length) {
        written += await conn.write(bytes.subarray(written));
      }
    }, () => {
      try {
        conn.close();
      } catch {
        // Closed already.
      }
    });
    void (async () => {
      const buffer = new Uint8Array(16 * 1024);
      try {
        for (;;) {
          const n = await conn.read(buffer);
          if (n === null) break;
          connection.#append(buffer.slice(0, n));
        }
      } catch {
        // Reset or closed here: the connection has ended either way.
      }
      connection.#end();
    })();
    return connection;
  }

  static #openNode(
    port: number,
    hostname: string,
    localAddress: string,
  ): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: hostname, port, localAddress });
      const connection = new RawConnection(
        (bytes) =>
          new Promise((done, fail) =>
            socket.write(bytes, (error) => error ? fail(error) : done())
          ),
        () => socket.destroy(),
      );
      socket.on("data", (chunk: Uint8Array) => connection.#append(chunk));
      socket.on("close", () => connection.#end());
      socket.on("error", (error) => {
        connection.#end();
        reject(error);
      });
      socket.on("connect", () => resolve(connection));
    });
  }

  /** Whether the server has closed the connection. */
  get ended(): boolean {
    return this.#ended;
  }

  /** `performance.now()` when the connection ended. */
  get endedAt(): number | undefined {
    return this.#endedAt;
  }

  /** Everything received so far and not yet taken by a response read. */
  get pending(): string {
    return decoder.decode(this.#received);
  }

  /** Sends text or bytes; rejects once the connection is gone. */
  send(data: string | Uint8Array): Promise<void> {
    return this.#write(typeof data === "string" ? encoder.encode(data) : data);
  }

  /**
   * Reads one response (Content-Length or chunked body).
   *
   * @throws {Error} when the connection ends first or `timeoutMs` passes
   */
  async readResponse(timeoutMs = 10_000): Promise<RawResponse> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const parsed = parseResponse(this.#received);
      if (parsed !== undefined) {
        this.#received = this.#received.slice(parsed.length);
        return parsed.response;
      }
      if (this.#ended) {
        throw new Error(
          `The connection ended before a whole response; received: ${
            JSON.stringify(this.pending.slice(0, 300))
          }`,
        );
      }
      if (!(await this.#wait(deadline))) {
        throw new Error(
          `No whole response within ${timeoutMs} ms; received: ${
            JSON.stringify(this.pending.slice(0, 300))
          }`,
        );
      }
    }
  }

  /** Resolves true once the server has closed the connection, false after `timeoutMs`. */
  async waitForEnd(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!this.#ended) {
      if (!(await this.#wait(deadline))) return this.#ended;
    }
    return true;
  }

  /** Closes the client side. */
  close(): void {
    this.#close();
  }

  #append(chunk: Uint8Array): void {
    const joined = new Uint8Array(this.#received.length + chunk.length);
    joined.set(this.#received);
    joined.set(chunk, this.#received.length);
    this.#received = joined;
    this.#wake();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#endedAt = performance.now();
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Waits for news; false when the deadline passed first. */
  #wait(deadline: number): Promise<boolean> {
    const left = deadline - performance.now();
    if (left <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), left);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

/** A response at the start of `bytes` and its length, or undefined when incomplete. */
function parseResponse(
  bytes: Uint8Array,
): { response: RawResponse; length: number } | undefined {
  const text = decoder.decode(bytes);
  const headEnd = text.indexOf("\r\n\r\n");
  if (headEnd < 0) return undefined;
  const [statusLine, ...headerLines] = text.slice(0, headEnd).split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "")?.[1]);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1)
      .trim();
  }
  const headBytes = encoder.encode(text.slice(0, headEnd + 4)).length;
  const rest = bytes.subarray(headBytes);
  if (headers["transfer-encoding"]?.toLowerCase() === "chunked") {
    let offset = 0;
    let body = "";
    const restText = decoder.decode(rest);
    for (;;) {
      const lineEnd = restText.indexOf("\r\n", offset);
      if (lineEnd < 0) return undefined;
      const size = parseInt(restText.slice(offset, lineEnd), 16);
      if (Number.isNaN(size)) return undefined;
      const start = lineEnd + 2;
      if (restText.length < start + size + 2) return undefined;
      if (size === 0) {
        return {
          response: { status, headers, body },
          length: headBytes + encoder.encode(restText.slice(0, start + 2))
            .length,
        };
      }
      body += restText.slice(start, start + size);
      offset = start + size + 2;
    }
  }
  const length = Number(headers["content-length"] ?? "0");
  if (rest.length < length) return undefined;
  return {
    response: {
      status,
      headers,
      body: decoder.decode(rest.subarray(0, length)),
    },
    length: headBytes + length,
  };
}
