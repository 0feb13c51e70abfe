/**
 * One client connection as the connection guard holds it: the client's
 * socket, the relay socket to the internal HTTP server, the bytes pumped
 * between them, and what the guard's timeouts look at: whether a request is
 * in flight (the internal handler says so), when a byte last went either
 * way, and when the client began a request that has not reached the handler
 * yet.
 *
 * @module
 */

/** Why the guard closed a connection. */
export type CloseReason =
  | "header_timeout"
  | "idle_timeout"
  | "body_timeout"
  | "shutdown";

/** The timeouts a connection is checked against, in milliseconds. */
export interface ConnectionTimeouts {
  /** From a request's first byte until the handler has it. */
  readonly headerMs: number;
  /** No request in flight and no byte either way. */
  readonly idleMs: number;
}

/** Bytes read per read call, each way. */
const CHUNK_BYTES = 16 * 1024;
/** How long a refusal (408) may take to write before the socket is closed. */
const FAREWELL_WRITE_MS = 1000;
/** After a request the guard ends (408), how long the server gets to close. */
const CLOSE_AFTER_RESPONSE_MS = 1000;

/** What a client whose headers did not arrive in time is told. */
const HEADER_TIMEOUT_RESPONSE = rawResponse(
  "408 Request Timeout",
  "The request headers did not arrive in time (HTTP_HEADER_TIMEOUT_SECONDS)\n",
);

/** A client connection and its relay to the internal server. */
export class GuardedConnection {
  /** The client's address as its socket names it. */
  readonly peer: Deno.NetAddr;
  readonly #client: Deno.Conn;
  #relay: Deno.Conn | undefined;
  #inFlight = 0;
  #lastActivity: number;
  #requestBegunAt: number | undefined;
  #closeBy: number | undefined;
  #closed = false;
  readonly #done = Promise.withResolvers<void>();

  /** Holds `client` from `now` (`performance.now()`); nothing is relayed yet. */
  constructor(client: Deno.Conn, now: number) {
    this.#client = client;
    this.peer = client.remoteAddr as Deno.NetAddr;
    this.#lastActivity = now;
  }

  /** Resolves once both sockets are closed. */
  get done(): Promise<void> {
    return this.#done.promise;
  }

  /** Whether the guard or either side has closed the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Requests of this connection the handler is answering now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Pumps bytes both ways between the client and `relay` until either side
   * ends; the connection is closed then.
   */
  relayTo(relay: Deno.Conn): void {
    if (this.#closed) {
      closeQuietly(relay);
      return;
    }
    this.#relay = relay;
    trySetNoDelay(this.#client);
    trySetNoDelay(relay);
    void this.#pump(this.#client, relay, true);
    // The server ended: what it wrote has been passed on; close both.
    void this.#pump(relay, this.#client, false).finally(() => this.close());
  }

  /** The handler took a request of this connection: no timeout applies now. */
  requestStarted(): void {
    this.#inFlight++;
    this.#requestBegunAt = undefined;
  }

  /** A request's response has been sent (or could not be): the idle time starts. */
  requestEnded(now: number): void {
    if (this.#inFlight > 0) this.#inFlight--;
    this.#lastActivity = now;
    this.#requestBegunAt = undefined;
  }

  /**
   * The guard refused the request the handler has (408): the server closes
   * the connection once the answer is out; the guard makes sure of it soon
   * after.
   */
  closeAfterResponse(now: number): void {
    this.#closeBy = now + CLOSE_AFTER_RESPONSE_MS;
  }

  /** Which timeout, if any, this connection has passed at `now`. */
  overdue(now: number, timeouts: ConnectionTimeouts): CloseReason | undefined {
    if (this.#closeBy !== undefined && now >= this.#closeBy) {
      return "body_timeout";
    }
    if (this.#inFlight > 0) return undefined;
    if (
      this.#requestBegunAt !== undefined &&
      now - this.#requestBegunAt >= timeouts.headerMs
    ) {
      return "header_timeout";
    }
    if (now - this.#lastActivity >= timeouts.idleMs) return "idle_timeout";
    return undefined;
  }

  /**
   * Closes both sockets; a client whose request headers did not arrive in
   * time is first told so with a 408.
   */
  close(reason?: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#relay !== undefined) closeQuietly(this.#relay);
    if (reason === "header_timeout") {
      void this.#farewell().finally(() => this.#finish());
    } else {
      this.#finish();
    }
  }

  #finish(): void {
    closeQuietly(this.#client);
    this.#done.resolve();
  }

  /** Writes the 408 of a header timeout, for at most a moment. */
  async #farewell(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.#client.write(HEADER_TIMEOUT_RESPONSE),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, FAREWELL_WRITE_MS);
        }),
      ]);
    } catch {
      // The client is gone already.
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Copies `from` to `to` until `from` ends. Bytes from the client while no
   * request is in flight start the header timeout; bytes either way reset
   * the idle time. When the client stops sending, the server's side is
   * half-closed so it sees the end as it would without the guard.
   */
  async #pump(
    from: Deno.Conn,
    to: Deno.Conn,
    fromClient: boolean,
  ): Promise<void> {
    const buffer = new Uint8Array(CHUNK_BYTES);
    try {
      for (;;) {
        const read = await from.read(buffer);
        if (read === null) break;
        const now = performance.now();
        this.#lastActivity = now;
        if (
          fromClient && this.#inFlight === 0 &&
          this.#requestBegunAt === undefined
        ) {
          this.#requestBegunAt = now;
        }
        let written = 0;
        while (written < read) {
          written += await to.write(buffer.subarray(written, read));
        }
      }
      if (fromClient && !this.#closed) await to.closeWrite();
    } catch {
      // Either socket failed or was closed: the connection ends.
      this.close();
    }
  }
}

/** An HTTP/1.1 response that closes the connection, as bytes. */
function rawResponse(status: string, text: string): Uint8Array {
  const body = new TextEncoder().encode(text);
  const head = new TextEncoder().encode(
    `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  const bytes = new Uint8Array(head.length + body.length);
  bytes.set(head);
  bytes.set(body, head.length);
  return bytes;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

function trySetNoDelay(conn: Deno.Conn): void {
  try {
    (conn as Deno.TcpConn).setNoDelay(true);
  } catch {
    // Not a TCP socket, or closed already.
  }
}
