/**
 * The metrics listener section: `METRICS_HOST` and `METRICS_PORT`. The
 * Prometheus endpoint runs on its own listener, off unless `METRICS_PORT` is
 * set, so that scraping never shares the MCP port, its authentication or its
 * rate limits, and a network policy can open it to the scraper alone.
 *
 * @module
 */
import { isIp, isLoopback, parseIp, unbracket } from "../ip_address.ts";
import type { MetricsConfig } from "./config.ts";
import { ConfigError } from "./config_error.ts";
import type { EnvValues } from "./env_schema.ts";
import type { ParseContext } from "./_parse_context.ts";

/** `METRICS_HOST` when unset: this machine only. */
export const DEFAULT_METRICS_HOST = "127.0.0.1";

/**
 * Builds the metrics section; warns when the listener is reachable from
 * other machines (the metrics carry no secret, but do show activity).
 *
 * @throws {ConfigError} for a METRICS_PORT that is no port, or a METRICS_HOST that is no address
 */
export function parseMetricsConfig(
  values: EnvValues,
  context: ParseContext,
): MetricsConfig {
  const rawPort = values.METRICS_PORT?.trim() ?? "";
  const rawHost = values.METRICS_HOST?.trim() ?? "";
  if (rawPort === "") {
    if (rawHost !== "") {
      context.warnings.push(
        "METRICS_HOST is set but METRICS_PORT is not: no metrics listener runs; set METRICS_PORT (e.g. 9464) to serve /metrics",
      );
    }
    return { enabled: false };
  }
  const port = /^\d{1,5}$/.test(rawPort) ? Number(rawPort) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new ConfigError(
      "METRICS_PORT",
      `is "${rawPort}"; set it to the TCP port of the Prometheus endpoint, e.g. 9464, or leave it unset to serve no metrics`,
    );
  }
  const hostname = rawHost === "" ? DEFAULT_METRICS_HOST : unbracket(rawHost);
  if (!isIp(hostname) && !/^[a-zA-Z0-9.-]{1,253}$/.test(hostname)) {
    throw new ConfigError(
      "METRICS_HOST",
      `is "${rawHost}"; set it to the address the metrics listener binds, e.g. ${DEFAULT_METRICS_HOST}, or the pod address 0.0.0.0 behind a network policy`,
    );
  }
  const address = parseIp(hostname);
  if (address === undefined ? hostname !== "localhost" : !isLoopback(address)) {
    context.warnings.push(
      `METRICS_HOST=${hostname}: /metrics is reachable from other machines without authentication; restrict it to the Prometheus scraper with a firewall or network policy`,
    );
  }
  return { enabled: true, hostname, port };
}
