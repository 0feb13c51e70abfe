/**
 * Four-eyes approvals: the contract (`approval.ts`), the broker that files
 * requests and waits for decisions (`broker.ts`), where requests live
 * (`memory_approval_store.ts`, `redis_approval_store.ts`) and the webhook
 * (`webhook.ts`). The console and its API live in `http/` and `console/`.
 *
 * In main.ts:
 *
 * ```ts
 * const approvals = createApprovalBroker({
 *   timeoutSeconds: config.approvals.timeoutSeconds,
 *   store: createApprovalStore(config.handleStore),
 *   ...(config.approvals.webhookUrl === undefined ? {} : {
 *     notifier: createApprovalWebhook({
 *       url: config.approvals.webhookUrl,
 *       ...(config.approvals.consoleUrl === undefined
 *         ? {}
 *         : { consoleUrl: config.approvals.consoleUrl }),
 *     }),
 *   }),
 * });
 * // ... on stop: await approvals.close();
 * ```
 *
 * @module
 */
import { type HandleStoreConfig, sharedRedis } from "../config/mod.ts";
import type { ApprovalStore } from "./approval_store.ts";
import { MemoryApprovalStore } from "./memory_approval_store.ts";

export {
  type ApprovalBroker,
  ApprovalError,
  type ApprovalErrorReason,
  type ApprovalOutcome,
  type ApprovalRequest,
  type ApprovalState,
  type ApprovalSubject,
  type ApprovalVerdict,
  type Approver,
  type RequestApprovalOptions,
} from "./approval.ts";
export {
  type ApprovalBrokerOptions,
  createApprovalBroker,
  MAX_APPROVAL_COMMENT_CHARS,
  newRequestId,
} from "./broker.ts";
export {
  APPROVAL_RETENTION_MS,
  type ApprovalChange,
  type ApprovalStore,
  ApprovalStoreError,
  type ApprovalStoreEvent,
  MAX_LISTED_APPROVALS,
  type TransitionResult,
} from "./approval_store.ts";
export {
  MemoryApprovalStore,
  type MemoryApprovalStoreOptions,
} from "./memory_approval_store.ts";
export type { RedisApprovalStoreOptions } from "./redis_approval_store.ts";
export {
  type ApprovalNotifier,
  type ApprovalWebhookEvent,
  type ApprovalWebhookOptions,
  createApprovalWebhook,
  webhookRequest,
  webhookText,
} from "./webhook.ts";

/**
 * The store for the handle store setting: Redis (keys under
 * `REDIS_KEY_PREFIX` + `approvals:`, shared by the replicas) with
 * `HANDLE_STORE=redis`, else this process's memory. The Redis store (and
 * the Redis client) is loaded only when configured.
 */
export async function createApprovalStore(
  handleStore: HandleStoreConfig,
): Promise<ApprovalStore> {
  const redis = sharedRedis(handleStore);
  if (redis === undefined) return new MemoryApprovalStore();
  const { RedisApprovalStore } = await import("./redis_approval_store.ts");
  return new RedisApprovalStore(redis);
}
