/**
 * Composition root: config -> services (`gateway/services.ts`) -> gateway
 * app -> the guarded listener (`gateway/http/connection_guard/`: Deno.serve
 * behind a cap on connections and header, body and idle timeouts).
 *
 * `deno task start` runs the service; `deno task check-config` (this file
 * with `--check-config`) validates the configuration and exits.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { createApp } from "./gateway/app.ts";
import { closeAuditChain } from "./gateway/audit_chain/mod.ts";
import { createCcpClient } from "./gateway/ccp_setup.ts";
import { serveGuarded } from "./gateway/http/connection_guard/mod.ts";
import { ConfigError, loadConfig } from "./gateway/config/mod.ts";
import { setupLogging } from "./gateway/logging.ts";
import { SERVICE_VERSION } from "./gateway/mcp_endpoints.ts";
import { GracefulShutdown } from "./gateway/readiness/mod.ts";
import { createServices } from "./gateway/services.ts";

const EXIT_CONFIG = 2;

function fail(error: unknown): never {
  const message = error instanceof ConfigError
    ? error.message
    : `Invalid configuration: ${
      error instanceof Error ? error.message : String(error)
    }`;
  // deno-lint-ignore no-console
  console.error(message);
  Deno.exit(EXIT_CONFIG);
}

async function main(): Promise<void> {
  // ENV_FILE="" reads no file at all (the demo and tests set it).
  const envFile = Deno.env.get("ENV_FILE") ?? ".env";
  let config;
  let ccp;
  try {
    config = loadConfig(envFile === "" ? {} : { envFile });
    ccp = await createCcpClient(config.cyberark);
  } catch (error) {
    fail(error);
  }
  if (Deno.args.includes("--check-config")) {
    ccp.close();
    // deno-lint-ignore no-console
    console.log("Config OK");
    return;
  }

  setupLogging({ ...config.log, auditChain: config.auditChain });
  const log = getLogger(["gateway"]);
  for (const warning of config.warnings) log.warn(warning);

  const running = await createServices(config, ccp);
  // METRICS_PORT: /metrics on its own listener (prom-client loaded only then).
  const metrics = config.metrics.enabled
    ? (await import("./gateway/metrics/mod.ts")).startMetrics(
      running.services,
      config.metrics,
    )
    : undefined;
  const app = createApp(running.services);
  const { http } = config;
  const server = serveGuarded({
    hostname: http.hostname,
    port: http.port,
    maxConnections: http.maxConnections,
    headerTimeoutSeconds: http.headerTimeoutSeconds,
    bodyTimeoutSeconds: http.bodyTimeoutSeconds,
    idleTimeoutSeconds: http.idleTimeoutSeconds,
    log: getLogger(["gateway", "http"]),
    onListen: ({ hostname, port }) => {
      log.info("service_started", {
        version: SERVICE_VERSION,
        // For `kill -HUP <pid>` (reload the policy): under `deno task start`
        // the service is a child of the task runner.
        pid: Deno.pid,
        hostname,
        port,
        app_id: config.cyberark.appId,
        ccp_host: config.cyberark.ccpUrl.host,
        handle_ttl_seconds: config.handles.ttlSeconds,
        handle_single_use: config.handles.singleUse,
        handle_host_binding: config.handles.hostBinding,
        handle_store: running.handleStoreName,
        auth_failure_limit: config.rateLimits.authFailures.limit,
        tool_call_limit: config.rateLimits.toolCalls.limit,
        policy_file: config.policy.file ?? null,
        policy_rules: running.policy.current()?.ruleCount ?? null,
        approvers: config.approvals.approvers.length,
        approval_timeout_seconds: config.approvals.timeoutSeconds,
        audit_chain: config.auditChain.key === undefined ? "off" : "hmac",
        metrics: metrics?.address ?? null,
        max_connections: http.maxConnections,
      });
      // /ready says starting until the handle store and an executor answer.
      running.services.lifecycle.start();
    },
  }, (request, env) => app.fetch(request, env));

  // SIGTERM/SIGINT: /ready says draining and new MCP requests are refused
  // at once; those in flight get SHUTDOWN_GRACE_SECONDS to finish, then
  // what is left is stopped. A second signal stops at once.
  const shutdown = new GracefulShutdown({
    lifecycle: running.services.lifecycle,
    graceSeconds: config.shutdown.graceSeconds,
    stopOperations: () => running.stopOperations(),
    closeServices: () => running.close(),
    closeListener: () => server.shutdown(),
    log,
  });
  let stopping: Promise<void> | undefined;
  const stop = (signal: Deno.Signal): void => {
    const drained = shutdown.request(signal);
    stopping ??= (async () => {
      await drained;
      await metrics?.close();
      ccp.close();
      // The audit chain's last line: nothing is audited after it.
      closeAuditChain();
      Deno.exit(0);
    })();
  };
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  await server.finished;
}

if (import.meta.main) await main();
