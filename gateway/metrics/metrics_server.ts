/**
 * The metrics listener: its own `Deno.serve` on `METRICS_HOST:METRICS_PORT`,
 * apart from the MCP listener, its authentication and its rate limits. It
 * answers `GET /metrics` (and `HEAD`) in the Prometheus text format and
 * nothing else: any other path is 404, any other method 405. It has no
 * authentication: keep it on loopback or behind a network policy.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";

const log = getLogger(["gateway"]);

/** What the listener serves at every scrape. */
export interface Scrape {
  readonly body: string;
  readonly contentType: string;
}

/** Options of {@linkcode serveMetrics}. */
export interface MetricsServerOptions {
  readonly hostname: string;
  /** 0 lets the system pick a port ({@linkcode MetricsServer.port} says which). */
  readonly port: number;
  /** Renders the metrics. */
  readonly scrape: () => Promise<Scrape>;
}

/** A running metrics listener. */
export interface MetricsServer {
  readonly hostname: string;
  /** The port it listens on. */
  readonly port: number;
  /** `host:port` (an IPv6 address in brackets), for service_started. */
  readonly address: string;
  /** Stops listening; a scrape in progress finishes. */
  close(): Promise<void>;
}

/** Answers one request of the metrics listener. */
export async function answerMetrics(
  request: Request,
  scrape: () => Promise<Scrape>,
): Promise<Response> {
  const { pathname } = new URL(request.url);
  if (pathname !== "/metrics") {
    return new Response(
      "Not found: the metrics listener serves /metrics only\n",
      {
        status: 404,
        headers: { "content-type": "text/plain; charset=utf-8" },
      },
    );
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("Method not allowed: use GET /metrics\n", {
      status: 405,
      headers: {
        allow: "GET, HEAD",
        "content-type": "text/plain; charset=utf-8",
      },
    });
  }
  let rendered: Scrape;
  try {
    rendered = await scrape();
  } catch (error) {
    log.error("Cannot render the metrics: {error}", {
      error: error instanceof Error ? error.message : String(error),
    });
    return new Response("Cannot render the metrics; see the service log\n", {
      status: 500,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }
  return new Response(request.method === "HEAD" ? null : rendered.body, {
    headers: {
      "content-type": rendered.contentType,
      "cache-control": "no-store",
    },
  });
}

/**
 * Starts the listener and logs `metrics_listening` with its address.
 *
 * @throws {Error} naming METRICS_HOST/METRICS_PORT when the address cannot be bound
 */
export function serveMetrics(options: MetricsServerOptions): MetricsServer {
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: options.hostname,
      port: options.port,
      onListen: () => {},
    }, (request) => answerMetrics(request, options.scrape));
  } catch (error) {
    const why = error instanceof Deno.errors.AddrInUse
      ? "the port is in use"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new Error(
      `Cannot listen for metrics on ${options.hostname}:${options.port}: ${why}; set METRICS_PORT to a free port (and METRICS_HOST to an address of this host), or unset METRICS_PORT to serve no metrics`,
      { cause: error },
    );
  }
  const { hostname, port } = server.addr;
  log.info("metrics_listening", { hostname, port, path: "/metrics" });
  return {
    hostname,
    port,
    address: hostname.includes(":")
      ? `[${hostname}]:${port}`
      : `${hostname}:${port}`,
    close: async () => {
      await server.shutdown();
    },
  };
}
