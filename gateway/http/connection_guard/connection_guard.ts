/**
 * The connection guard: owns the public listener, accepts at most
 * `HTTP_MAX_CONNECTIONS` client connections at once (more are closed at
 * once), relays each to the internal HTTP server on loopback, and closes
 * the connections that pass a timeout ({@linkcode GuardedConnection}).
 * The internal server finds a relayed connection by the relay socket's
 * local port ({@linkcode ConnectionGuard.lookup}); that is how a handler
 * learns the real client address and tells the guard a request is in
 * flight.
 *
 * @module
 */
import { GuardLog } from "./guard_log.ts";
import {
  type CloseReason,
  type ConnectionTimeouts,
  GuardedConnection,
} from "./guarded_connection.ts";

/** Options of {@linkcode ConnectionGuard}. */
export interface ConnectionGuardOptions {
  /** The public listener; the guard accepts from it and closes it. */
  readonly listener: Deno.Listener;
  /** The internal server's loopback port (see {@linkcode ConnectionGuard.upstreamPort}). */
  readonly upstreamPort: number;
  /** `HTTP_MAX_CONNECTIONS`. */
  readonly maxConnections: number;
  readonly timeouts: ConnectionTimeouts;
  readonly log: GuardLog;
  /** How often the timeouts are checked (ms); default from the timeouts. */
  readonly sweepMs?: number;
}

/** The loopback address the internal server listens on and relays come from. */
export const INTERNAL_HOST = "127.0.0.1";
/** Pause after a failed accept (e.g. out of file descriptors), in ms. */
const ACCEPT_RETRY_MS = 100;
/** Share of the open connections the cap falls to when descriptors run out. */
const CAP_AFTER_EXHAUSTION = 0.9;

/** Whether `error` says the process (or system) is out of file descriptors. */
export function isOutOfDescriptors(error: unknown): boolean {
  const text = error instanceof Error ? error.message : String(error);
  return /os error 2[34]\b|too many open files/i.test(text);
}

/** Accepts, bounds and relays the client connections of one listener. */
export class ConnectionGuard {
  readonly #options: ConnectionGuardOptions;
  readonly #open = new Set<GuardedConnection>();
  readonly #byRelayPort = new Map<number, GuardedConnection>();
  readonly #sweeper: ReturnType<typeof setInterval>;
  #maxConnections: number;
  #upstreamPort: number;
  #accepting = true;
  #accepted: Promise<void> | undefined;

  /** Starts checking timeouts; call {@linkcode ConnectionGuard.serve} to accept. */
  constructor(options: ConnectionGuardOptions) {
    this.#options = options;
    this.#maxConnections = options.maxConnections;
    this.#upstreamPort = options.upstreamPort;
    const { headerMs, idleMs } = options.timeouts;
    const sweepMs = options.sweepMs ??
      Math.max(50, Math.min(1000, Math.min(headerMs, idleMs) / 4));
    this.#sweeper = setInterval(() => this.#sweep(), sweepMs);
  }

  /** Client connections open now. */
  get open(): number {
    return this.#open.size;
  }

  /** The cap in force: `HTTP_MAX_CONNECTIONS`, or lower once descriptors ran out. */
  get maxConnections(): number {
    return this.#maxConnections;
  }

  /** Where new relays go (a restarted internal server has a new port). */
  set upstreamPort(port: number) {
    this.#upstreamPort = port;
  }

  /**
   * The process ran out of file descriptors: the cap falls below the
   * connections open now, so that the connections already relayed keep
   * theirs, and a warning names the fix.
   */
  outOfDescriptors(): void {
    const lowered = Math.max(
      1,
      Math.floor(this.#open.size * CAP_AFTER_EXHAUSTION),
    );
    if (lowered >= this.#maxConnections) return;
    this.#maxConnections = lowered;
    this.#options.log.outOfDescriptors(this.#open.size, lowered);
  }

  /** The rate-limited log and its counts. */
  get log(): GuardLog {
    return this.#options.log;
  }

  /** Accepts until {@linkcode ConnectionGuard.stopAccepting}; resolves then. */
  serve(): Promise<void> {
    this.#accepted ??= this.#acceptLoop();
    return this.#accepted;
  }

  /**
   * The relayed client connection whose relay socket is `internalPeer` (the
   * internal server's `remoteAddr`), or `undefined` for a connection that did
   * not come through the guard.
   */
  lookup(internalPeer: Deno.Addr): GuardedConnection | undefined {
    if (
      internalPeer.transport !== "tcp" ||
      internalPeer.hostname !== INTERNAL_HOST
    ) return undefined;
    return this.#byRelayPort.get(internalPeer.port);
  }

  /** Closes the public listener: no new connection is accepted. */
  stopAccepting(): void {
    if (!this.#accepting) return;
    this.#accepting = false;
    try {
      this.#options.listener.close();
    } catch {
      // Closed already.
    }
  }

  /**
   * Stops accepting, waits up to `graceMs` for the open connections to end
   * on their own (a relay ends once it has passed on all the server wrote,
   * and the server closed its side), then closes the rest and stops the
   * timeout checks.
   */
  async close(graceMs = 0): Promise<void> {
    this.stopAccepting();
    if (graceMs > 0 && this.#open.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all([...this.#open].map((c) => c.done)),
        new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
      ]);
      clearTimeout(timer);
    }
    clearInterval(this.#sweeper);
    const open = [...this.#open];
    for (const connection of open) connection.close("shutdown");
    await Promise.all(open.map((c) => c.done));
    await this.#accepted;
    this.#options.log.flush(performance.now(), true);
  }

  async #acceptLoop(): Promise<void> {
    const { listener } = this.#options;
    while (this.#accepting) {
      let client: Deno.Conn;
      try {
        client = await listener.accept();
      } catch (error) {
        if (!this.#accepting || error instanceof Deno.errors.BadResource) {
          return;
        }
        if (isOutOfDescriptors(error)) this.outOfDescriptors();
        // Out of file descriptors or a connection reset before accept:
        // keep serving the connections already open.
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      this.#admit(client);
    }
  }

  /** Relays `client`, or closes it at once when the limit is reached. */
  #admit(client: Deno.Conn): void {
    const now = performance.now();
    if (this.#open.size >= this.#maxConnections) {
      const peer = client.remoteAddr as Deno.NetAddr;
      try {
        client.close();
      } catch {
        // Gone already.
      }
      this.#options.log.refused(
        peer.hostname,
        this.#open.size,
        this.#maxConnections,
        now,
      );
      return;
    }
    const connection = new GuardedConnection(client, now);
    this.#open.add(connection);
    void connection.done.then(() => this.#open.delete(connection));
    void this.#connectRelay(connection);
  }

  async #connectRelay(connection: GuardedConnection): Promise<void> {
    let relay: Deno.TcpConn;
    try {
      relay = await Deno.connect({
        hostname: INTERNAL_HOST,
        port: this.#upstreamPort,
      });
    } catch (error) {
      // Out of descriptors, or the internal server is gone (shutting down,
      // or being started again): so is this connection.
      if (isOutOfDescriptors(error)) this.outOfDescriptors();
      connection.close();
      return;
    }
    const port = relay.localAddr.port;
    this.#byRelayPort.set(port, connection);
    void connection.done.then(() => {
      if (this.#byRelayPort.get(port) === connection) {
        this.#byRelayPort.delete(port);
      }
    });
    connection.relayTo(relay);
  }

  /** Closes the connections past a timeout; writes a due log summary. */
  #sweep(): void {
    const now = performance.now();
    const { timeouts, log } = this.#options;
    for (const connection of this.#open) {
      const reason: CloseReason | undefined = connection.overdue(now, timeouts);
      if (reason === undefined) continue;
      connection.close(reason);
      // A body timeout was logged when the handler answered 408.
      if (reason !== "body_timeout") {
        log.closed(reason, connection.peer.hostname, now);
      }
    }
    log.flush(now);
  }
}
