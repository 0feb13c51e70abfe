/**
 * The metrics check: with `METRICS_PORT` unset no metrics listener runs;
 * set, its address must be free to bind, or already be a running
 * gateway's metrics listener (its `/metrics` shows
 * `mcp_privileged_build_info`). A listener reachable from other machines
 * is a warning: it has no authentication.
 *
 * @module
 */
import type { MetricsConfig } from "../config/mod.ts";
import { isLoopback, parseIp } from "../ip_address.ts";
import type { CheckResult } from "./check_result.ts";
import { fail, pass, warn } from "./_verdicts.ts";

const NAME = "metrics";

/** What was found at the metrics address. */
export type MetricsPortFacts =
  /** Nothing listens there: the gateway can bind it. */
  | { readonly kind: "free" }
  /** A port picked by the system at start (`METRICS_PORT=0`): nothing to try. */
  | { readonly kind: "any_port" }
  /** A gateway's metrics listener answers there. */
  | { readonly kind: "gateway" }
  /** Something else holds the port. */
  | { readonly kind: "taken"; readonly detail: string }
  /** The address cannot be bound at all (not this host's, no permission). */
  | { readonly kind: "unbindable"; readonly detail: string };

/** The metric that marks a gateway's own metrics listener. */
const OWN_METRIC = "mcp_privileged_build_info";

/** Where to reach a listener bound to `hostname` from this host. */
function reachable(hostname: string): string {
  if (hostname === "0.0.0.0") return "127.0.0.1";
  if (hostname === "::") return "[::1]";
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/** Tries to bind the address, and when it is taken asks who holds it. */
export async function metricsPortFacts(
  hostname: string,
  port: number,
): Promise<MetricsPortFacts> {
  if (port === 0) return { kind: "any_port" };
  try {
    Deno.listen({ hostname, port }).close();
    return { kind: "free" };
  } catch (error) {
    if (!(error instanceof Deno.errors.AddrInUse)) {
      return {
        kind: "unbindable",
        detail: error instanceof Error ? error.message : String(error),
      };
    }
  }
  try {
    const response = await fetch(
      `http://${reachable(hostname)}:${port}/metrics`,
      { signal: AbortSignal.timeout(3000) },
    );
    const body = await response.text();
    if (response.ok && body.includes(`# TYPE ${OWN_METRIC} `)) {
      return { kind: "gateway" };
    }
    return {
      kind: "taken",
      detail: `it answers HTTP ${response.status} without ${OWN_METRIC}`,
    };
  } catch (error) {
    return {
      kind: "taken",
      detail: `it does not answer HTTP (${
        error instanceof Error ? error.name : "error"
      })`,
    };
  }
}

/** Judges the metrics settings and what was found at their address. */
export function checkMetrics(
  config: MetricsConfig,
  facts: MetricsPortFacts,
): CheckResult {
  if (!config.enabled) {
    return pass(NAME, "metrics listener off (METRICS_PORT unset)");
  }
  const where = `${config.hostname}:${config.port}`;
  if (facts.kind === "taken") {
    return fail(
      NAME,
      `${where} is in use by something other than a gateway's metrics listener: ${facts.detail}`,
      "set METRICS_PORT to a free port, or stop what holds it",
    );
  }
  if (facts.kind === "unbindable") {
    return fail(
      NAME,
      `cannot listen on ${where}: ${facts.detail}`,
      "set METRICS_HOST to an address of this host (default 127.0.0.1) and METRICS_PORT to a port above 1023",
    );
  }
  const found = facts.kind === "gateway"
    ? `a running gateway serves /metrics on ${where}`
    : facts.kind === "any_port"
    ? `/metrics on ${config.hostname}, on a port picked at start (METRICS_PORT=0)`
    : `/metrics can listen on ${where}`;
  const address = parseIp(config.hostname);
  const loopback = address === undefined
    ? config.hostname === "localhost"
    : isLoopback(address);
  if (!loopback) {
    return warn(
      NAME,
      `${found}, reachable from other machines without authentication`,
      "let only the Prometheus server reach it (firewall or network policy), or set METRICS_HOST=127.0.0.1 and scrape from this host",
    );
  }
  return pass(NAME, `${found}, this host only`);
}

/** Looks at the metrics address (when set) and judges it. */
export async function probeMetrics(
  config: MetricsConfig,
): Promise<CheckResult> {
  return checkMetrics(
    config,
    config.enabled
      ? await metricsPortFacts(config.hostname, config.port)
      : { kind: "free" },
  );
}
