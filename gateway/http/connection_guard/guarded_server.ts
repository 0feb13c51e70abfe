/**
 * `serveGuarded()`: the service's HTTP listener with bounds Deno.serve does
 * not have. Deno.serve (and Deno's node:http) offer no header-read, body or
 * idle timeout and no cap on connections, so a client that connects and
 * sends nothing, or a byte a second, holds a file descriptor forever
 * without ever authenticating. Here a {@linkcode ConnectionGuard} owns the
 * public socket: it caps the connections open at once, relays each one to
 * a Deno.serve on loopback (an ephemeral port), and closes a connection
 * whose request headers take longer than `HTTP_HEADER_TIMEOUT_SECONDS` or
 * that sits idle (no request in flight, no byte either way) longer than
 * `HTTP_IDLE_TIMEOUT_SECONDS`. The handler here gives each request's body
 * `HTTP_BODY_TIMEOUT_SECONDS` (else 408 and the connection is closed).
 *
 * Why a relay: the guard needs the bytes (when a request began, whether
 * anything moves) and the handler's view (a request in flight, which must
 * never be cut: approval waits, long commands, event streams). Parsing HTTP
 * in the guard would duplicate hyper; relaying bytes and marking requests
 * from the handler keeps HTTP parsing where it is, for one loopback hop per
 * read (measured in the README's Performance section).
 *
 * The handler finds the client connection by the relay socket's local port
 * and passes the real client address on as `remoteAddr` (so `clientIp()`,
 * `TRUSTED_PROXIES` and the audit lines are unchanged); a request on the
 * internal port that did not come through the guard is refused with 403, so
 * a local process cannot go around the bounds.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import { BodyTimeoutError, withBodyDeadline } from "./body_deadline.ts";
import {
  ConnectionGuard,
  INTERNAL_HOST,
  isOutOfDescriptors,
} from "./connection_guard.ts";
import { type GuardCounts, GuardLog } from "./guard_log.ts";

/** The bounds of {@linkcode serveGuarded}, as the configuration names them. */
export interface ConnectionLimits {
  /** `HTTP_MAX_CONNECTIONS`. */
  readonly maxConnections: number;
  /** `HTTP_HEADER_TIMEOUT_SECONDS`. */
  readonly headerTimeoutSeconds: number;
  /** `HTTP_BODY_TIMEOUT_SECONDS`. */
  readonly bodyTimeoutSeconds: number;
  /** `HTTP_IDLE_TIMEOUT_SECONDS`. */
  readonly idleTimeoutSeconds: number;
}

/** What the application gets besides the request (Hono's `c.env`). */
export interface GuardedRequestEnv {
  /** The client's socket address (not the relay's loopback address). */
  readonly remoteAddr: Deno.NetAddr;
}

/** The application's request handler. */
export type GuardedHandler = (
  request: Request,
  env: GuardedRequestEnv,
) => Response | Promise<Response>;

/** Options of {@linkcode serveGuarded}. */
export interface ServeGuardedOptions extends ConnectionLimits {
  readonly hostname: string;
  readonly port: number;
  /** Called once the public listener is bound. */
  readonly onListen?: (addr: Deno.NetAddr) => void;
  /** Where refusals, timeouts and handler errors are logged. */
  readonly log: Logger;
}

/** A running guarded listener. */
export interface GuardedServer {
  /** The public address. */
  readonly addr: Deno.NetAddr;
  /** Resolves once {@linkcode GuardedServer.shutdown} has closed everything. */
  readonly finished: Promise<void>;
  /** Client connections open now. */
  readonly open: number;
  /** What the guard refused and closed so far. */
  readonly counts: GuardCounts;
  /**
   * Stops accepting, lets the requests in flight finish (idle connections
   * are closed), then closes what is left.
   */
  shutdown(): Promise<void>;
}

/** Pause between attempts to start a failed internal server again (ms). */
const RESTART_RETRY_MS = 100;
/** How long relays get to pass on the last answers at shutdown (ms). */
const RELAY_DRAIN_MS = 1000;

/** The JSON of a request refused on the internal port. */
const NOT_RELAYED = {
  error: "forbidden",
  message:
    "This port only serves connections relayed by the service's listener; connect to HOST:PORT",
};

/**
 * Binds `hostname:port` and serves `handler` behind the connection guard.
 *
 * @throws {Deno.errors.AddrInUse} when the address is taken (as Deno.serve)
 */
export function serveGuarded(
  options: ServeGuardedOptions,
  handler: GuardedHandler,
): GuardedServer {
  const { log, bodyTimeoutSeconds } = options;
  const listener = Deno.listen({
    hostname: options.hostname,
    port: options.port,
  });
  // Set once the internal server's port is known, right below.
  const ref: { guard?: ConnectionGuard } = {};
  const handle = async (
    request: Request,
    info: Deno.ServeHandlerInfo,
  ): Promise<Response> => {
    const connection = ref.guard?.lookup(info.remoteAddr);
    if (connection === undefined) {
      await request.body?.cancel().catch(() => {});
      return Response.json(NOT_RELAYED, {
        status: 403,
        headers: { Connection: "close" },
      });
    }
    connection.requestStarted();
    const ended = (): void => connection.requestEnded(performance.now());
    info.completed.then(ended, ended);
    const deadlined = withBodyDeadline(request, bodyTimeoutSeconds);
    if (deadlined.refusal !== undefined) {
      await request.body?.cancel().catch(() => {});
      connection.closeAfterResponse(performance.now());
      return deadlined.refusal;
    }
    let response: Response;
    try {
      response = await handler(deadlined.request, {
        remoteAddr: connection.peer,
      });
    } catch (error) {
      if (!deadlined.expired) throw error;
      response = new Response(null);
    } finally {
      deadlined.release();
    }
    if (!deadlined.expired) return response;
    // The body timed out: whatever the route made of that, the client is
    // told 408 and the connection ends.
    await response.body?.cancel().catch(() => {});
    connection.closeAfterResponse(performance.now());
    ref.guard?.log.closed(
      "body_timeout",
      connection.peer.hostname,
      performance.now(),
    );
    return bodyTimeoutResponse(bodyTimeoutSeconds);
  };
  const startInner = (): Deno.HttpServer<Deno.NetAddr> =>
    Deno.serve({
      hostname: INTERNAL_HOST,
      port: 0,
      // No "Listening on" line: every line of the service is a log record.
      onListen: () => {},
      onError: (error) => {
        log.error("Unhandled error in the HTTP handler: {name}", {
          name: error instanceof Error ? error.name : typeof error,
        });
        return Response.json({ error: "internal", message: "Internal error" }, {
          status: 500,
        });
      },
    }, handle);
  let inner = startInner();
  const guard = new ConnectionGuard({
    listener,
    upstreamPort: inner.addr.port,
    maxConnections: options.maxConnections,
    timeouts: {
      headerMs: options.headerTimeoutSeconds * 1000,
      idleMs: options.idleTimeoutSeconds * 1000,
    },
    log: new GuardLog(log, options),
  });
  ref.guard = guard;
  let stopping: Promise<void> | undefined;

  // Deno.serve stops for good when its accept fails (out of file
  // descriptors); the guard has lowered its cap by then, and a new server
  // takes the relays from here on.
  const watch = (server: Deno.HttpServer<Deno.NetAddr>): void => {
    server.finished.then(undefined, async (error: unknown) => {
      if (stopping !== undefined) return;
      if (isOutOfDescriptors(error)) guard.outOfDescriptors();
      log.error("http_server_failed", {
        error: error instanceof Error ? error.message : String(error),
        message:
          "The HTTP server behind the connection guard stopped; starting a new one (its connections were closed)",
      });
      while (stopping === undefined) {
        try {
          inner = startInner();
          guard.upstreamPort = inner.addr.port;
          watch(inner);
          return;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, RESTART_RETRY_MS));
        }
      }
    });
  };
  watch(inner);

  const accepting = guard.serve();
  const addr = listener.addr as Deno.NetAddr;
  options.onListen?.(addr);
  const finished = Promise.withResolvers<void>();
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      guard.stopAccepting();
      await accepting;
      // In-flight requests finish; the server closes its connections, and
      // each relay ends once it has passed on the last bytes.
      await inner.shutdown().catch(() => {});
      await guard.close(RELAY_DRAIN_MS);
      finished.resolve();
    })();
    return stopping;
  };
  return {
    addr,
    finished: finished.promise,
    get open(): number {
      return guard.open;
    },
    get counts(): GuardCounts {
      return guard.log.counts;
    },
    shutdown,
  };
}

/** The 408 of a body that did not arrive in time; the connection closes. */
export function bodyTimeoutResponse(seconds: number): Response {
  return Response.json({
    error: "request_timeout",
    message: new BodyTimeoutError(seconds).message,
  }, { status: 408, headers: { Connection: "close" } });
}
