/**
 * Readiness and the drain on shutdown: the gateway's
 * {@linkcode Lifecycle} (`gateway/lifecycle.ts`'s view), its checks
 * (handle store, executor runtime), `/ready`, the guard that counts MCP
 * requests in flight and refuses new ones while draining, and the drain
 * itself ({@linkcode GracefulShutdown}).
 *
 * @module
 */
export { drainGuard, SHUTTING_DOWN_MESSAGE } from "./drain_guard.ts";
export {
  createLifecycle,
  type CreateLifecycleOptions,
  EXECUTOR_TIMING,
  HANDLE_STORE_TIMING,
  type LifecycleHandle,
} from "./create_lifecycle.ts";
export { executorProbe } from "./executor_check.ts";
export {
  GracefulShutdown,
  type GracefulShutdownOptions,
  type ShutdownSummary,
} from "./graceful_shutdown.ts";
export { handleStoreProbe } from "./handle_store_check.ts";
export { InFlightRequests } from "./in_flight.ts";
export {
  Lifecycle,
  type LifecycleCheck,
  type ReadinessReport,
} from "./lifecycle_state.ts";
export {
  CachedCheck,
  type CheckTiming,
  type CheckVerdict,
  type ReadinessProbe,
} from "./readiness_check.ts";
export { readyRoute } from "./ready_route.ts";
