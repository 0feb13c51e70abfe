/**
 * The Prometheus endpoint of the gateway, started by `main.ts` when
 * `METRICS_PORT` is set: the registry of the catalogue's metrics, connected
 * to what reports them (audit events, tool calls and policy decisions, the
 * executors, the CCP client, the process), served by its own listener.
 * Loaded only then (`import()`), so a gateway without metrics does not hold
 * prom-client in memory.
 *
 * @module
 */
import { onAudit } from "../audit.ts";
import { observeCalls } from "../call_events.ts";
import type { LifecycleView } from "../lifecycle.ts";
import { SERVICE_VERSION } from "../mcp_endpoints.ts";
import type { GatewayServices } from "../tool_context.ts";
import { auditMetrics } from "./audit_metrics.ts";
import { callMetrics } from "./call_metrics.ts";
import { watchCcp } from "./ccp_metrics.ts";
import { watchExecutors } from "./executor_metrics.ts";
import { type MetricsServer, serveMetrics } from "./metrics_server.ts";
import { watchProcess } from "./process_metrics.ts";
import { GatewayMetrics } from "./registry.ts";

export { GatewayMetrics } from "./registry.ts";
export { type MetricsServer, serveMetrics } from "./metrics_server.ts";

/** The running metrics: the listener's address, and how to stop it all. */
export interface RunningMetrics {
  /** `host:port` of the listener. */
  readonly address: string;
  /** The registry (tests read it directly). */
  readonly metrics: GatewayMetrics;
  /** Stops the listener and disconnects every source. */
  close(): Promise<void>;
}

/**
 * Builds the registry and connects it to the services' sources; returns
 * the registry and the function that disconnects it.
 */
export function instrument(
  services: GatewayServices,
): { metrics: GatewayMetrics; stop: () => void } {
  const metrics = new GatewayMetrics();
  metrics.set("buildInfo", { version: SERVICE_VERSION }, 1);
  // Readiness and the drain (`/ready`); 0 for services without a lifecycle.
  const lifecycle: LifecycleView | undefined = services.lifecycle;
  metrics.gaugeFrom("ready", () => lifecycle?.ready === true ? 1 : 0);
  const stops = [
    onAudit(auditMetrics(metrics)),
    observeCalls(callMetrics(metrics)),
    watchExecutors(metrics, services.executors),
    watchCcp(metrics, services.ccp),
    watchProcess(metrics),
  ];
  return {
    metrics,
    stop: () => {
      for (const stop of stops) stop();
    },
  };
}

/**
 * Instruments the services and starts the metrics listener on
 * `hostname:port`; it logs `metrics_listening`.
 *
 * @throws {Error} when the address cannot be bound (the message names METRICS_PORT)
 */
export function startMetrics(
  services: GatewayServices,
  listen: { readonly hostname: string; readonly port: number },
): RunningMetrics {
  const { metrics, stop } = instrument(services);
  let server: MetricsServer;
  try {
    server = serveMetrics({
      ...listen,
      scrape: async () => ({
        body: await metrics.scrape(),
        contentType: metrics.contentType,
      }),
    });
  } catch (error) {
    stop();
    throw error;
  }
  return {
    address: server.address,
    metrics,
    close: async () => {
      stop();
      await server.close();
    },
  };
}
