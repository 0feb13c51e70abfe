/**
 * `createServices()`: the long-lived services of one gateway process, built
 * from the configuration in dependency order (handle store -> vault;
 * executors; rate limits; policy; approvals and console sessions), and
 * closed in the reverse order.
 *
 * With `HANDLE_STORE=redis` every shared piece (handles, rate-limit
 * counters, approval requests, console sessions) lives in the same Redis
 * under `REDIS_KEY_PREFIX`, so any replica can serve any request. The Redis
 * modules (and the Redis client) are imported only then, so that a gateway
 * without Redis does not hold them in memory.
 *
 * @module
 */
import { ExecutorSpawner } from "../executors/spawner/mod.ts";
import type { CcpClient } from "../vault/ccp_client.ts";
import type { HandleStore } from "../vault/handle_store.ts";
import { HandleVault } from "../vault/handle_vault.ts";
import { MemoryHandleStore } from "../vault/memory_handle_store.ts";
import {
  createApprovalBroker,
  createApprovalStore,
  createApprovalWebhook,
} from "./approvals/mod.ts";
import { consoleSessionsFor } from "./approvals/http/mod.ts";
import { type Config, sharedRedis } from "./config/mod.ts";
import {
  createPolicyHolder,
  type ReloadablePolicyHolder,
} from "./policy/policy_holder.ts";
import { createRateLimits, rateLimitsEnabled } from "./rate_limits.ts";
import { createLifecycle } from "./readiness/mod.ts";
import type { GatewayServices } from "./tool_context.ts";

/** The services, what start-up logs about them, and how to stop them. */
export interface RunningServices {
  readonly services: GatewayServices;
  /** `memory`, or the Redis endpoint without credentials. */
  readonly handleStoreName: string;
  /** The policy holder (its rule count for `service_started`). */
  readonly policy: ReloadablePolicyHolder;
  /**
   * Kills the executors running a call, and fails every call that would
   * start one from now on (the end of the drain on SIGTERM).
   *
   * @returns how many executors it killed
   */
  stopOperations(): number;
  /** Closes everything: waiting approvals expire, handles in memory are dropped. */
  close(): Promise<void>;
}

/**
 * Builds the services and starts the policy's reload watchers. Redis
 * connects in the background: an unreachable Redis is logged at once and
 * fails each call that needs it until it is back.
 */
export async function createServices(
  config: Config,
  ccp: CcpClient,
): Promise<RunningServices> {
  const redis = sharedRedis(config.handleStore);
  let store: HandleStore;
  let handleStoreName = "memory";
  if (redis !== undefined) {
    const { RedisHandleStore } = await import(
      "../vault/redis_handle_store.ts"
    );
    const shared = new RedisHandleStore(redis);
    store = shared;
    handleStoreName = shared.endpoint;
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
    warmMax: config.executors.warmMax,
  });
  const rateLimits = createRateLimits(
    config.rateLimits,
    redis === undefined || !rateLimitsEnabled(config.rateLimits)
      ? undefined
      : (await import("./redis_rate_limits.ts")).redisCounters(redis),
  );
  // The policy read by the configuration; SIGHUP or a change of the file
  // replaces it, a bad new file leaves it in force.
  const policy = createPolicyHolder(config.policy);
  policy.start();
  const { webhookUrl, consoleUrl } = config.approvals;
  const approvals = createApprovalBroker({
    timeoutSeconds: config.approvals.timeoutSeconds,
    store: await createApprovalStore(config.handleStore),
    ...(webhookUrl === undefined ? {} : {
      notifier: createApprovalWebhook({
        url: webhookUrl,
        ...(consoleUrl === undefined ? {} : { consoleUrl }),
      }),
    }),
  });
  const consoleSessions = await consoleSessionsFor(config.handleStore);
  // MCP_AUTH=oauth|both: bearer tokens checked against the issuer, which is
  // discovered lazily (an unreachable issuer refuses tokens with 503 until
  // it is back; the service starts regardless). The verifier (and jose) is
  // loaded only then.
  const tokens = config.oauth.mode === "api_key"
    ? undefined
    : (await import("./oauth/create_token_verifier.ts")).createTokenVerifier(
      config.oauth,
    );
  // /ready's checks: the handle store answers, an executor starts.
  const readiness = createLifecycle({
    store,
    storeName: handleStoreName,
    maxMemoryMb: config.executors.maxMemoryMb,
  });
  return {
    services: {
      config,
      ccp,
      vault,
      executors,
      rateLimits,
      policy,
      approvals,
      consoleSessions,
      ...(tokens === undefined ? {} : { tokens }),
      lifecycle: readiness.lifecycle,
    },
    handleStoreName,
    policy,
    stopOperations: () => executors.stopRunning(),
    close: async () => {
      await readiness.close();
      await policy.close();
      // Waiting calls expire (fail closed) before their handles go.
      await approvals.close();
      await consoleSessions.close();
      await tokens?.close();
      await vault.close();
      await executors.close();
      await rateLimits.close();
    },
  };
}
