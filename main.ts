/**
 * Composition root: config -> handle store -> vault -> policy -> gateway ->
 * Deno.serve.
 *
 * `deno task start` runs the service; `deno task check-config` (this file
 * with `--check-config`) validates the configuration and exits.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { createApp } from "./gateway/app.ts";
import { createCcpClient } from "./gateway/ccp_setup.ts";
import { ConfigError, loadConfig } from "./gateway/config/mod.ts";
import { setupLogging } from "./gateway/logging.ts";
import { createPolicyHolder } from "./gateway/policy/policy_holder.ts";
import { createRateLimits } from "./gateway/rate_limits.ts";
import { SERVICE_VERSION } from "./gateway/mcp_endpoints.ts";
import { ExecutorSpawner } from "./executors/spawner/mod.ts";
import type { HandleStore } from "./vault/handle_store.ts";
import { HandleVault } from "./vault/handle_vault.ts";
import { MemoryHandleStore } from "./vault/memory_handle_store.ts";
import { RedisHandleStore } from "./vault/redis_handle_store.ts";

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
    ccp = createCcpClient(config.cyberark);
  } catch (error) {
    fail(error);
  }
  if (Deno.args.includes("--check-config")) {
    ccp.close();
    // deno-lint-ignore no-console
    console.log("Config OK");
    return;
  }

  setupLogging(config.log);
  const log = getLogger(["gateway"]);
  for (const warning of config.warnings) log.warn(warning);

  let store: HandleStore;
  let storeName = "memory";
  if (config.handleStore.kind === "redis") {
    // Connects in the background; an unreachable Redis is logged at once and
    // fails each tool call with "Handle store unavailable" until it is back.
    const redis = new RedisHandleStore({
      ...config.handleStore.connection,
      keyPrefix: config.handleStore.keyPrefix,
    });
    store = redis;
    storeName = redis.endpoint;
  } else {
    store = new MemoryHandleStore();
  }
  const vault = new HandleVault({ ...config.handles, store });
  const executors = new ExecutorSpawner({
    maxConcurrent: config.executors.maxConcurrent,
    maxQueued: config.executors.maxQueued,
    defaultTimeoutMs: config.executors.defaultTimeoutSeconds * 1000,
    defaultMaxOutputBytes: config.executors.maxOutputBytes,
    maxMemoryMb: config.executors.maxMemoryMb,
  });
  // The counters share the handle store's Redis, so every replica sees them.
  const rateLimits = createRateLimits(
    config.rateLimits,
    config.handleStore.kind === "redis"
      ? {
        redis: {
          ...config.handleStore.connection,
          keyPrefix: config.handleStore.keyPrefix,
        },
      }
      : {},
  );
  // The policy read by the configuration; SIGHUP or a change of the file
  // replaces it, a bad new file leaves it in force.
  const policy = createPolicyHolder(config.policy);
  policy.start();
  const app = createApp({
    config,
    ccp,
    vault,
    executors,
    rateLimits,
    policy,
  });
  const server = Deno.serve({
    hostname: config.http.hostname,
    port: config.http.port,
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
        handle_store: storeName,
        auth_failure_limit: config.rateLimits.authFailures.limit,
        tool_call_limit: config.rateLimits.toolCalls.limit,
        policy_file: config.policy.file ?? null,
        policy_rules: policy.current()?.ruleCount ?? null,
      });
    },
  }, app.fetch);

  const stop = async (): Promise<void> => {
    log.info("service_stopping");
    await server.shutdown();
    await policy.close();
    await vault.close();
    await rateLimits.close();
    ccp.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  await server.finished;
}

if (import.meta.main) await main();
