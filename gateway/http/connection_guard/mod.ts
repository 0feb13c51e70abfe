/**
 * The connection guard in front of the service's HTTP server: a cap on
 * client connections and header, body and idle timeouts, which Deno.serve
 * does not have ({@linkcode serveGuarded}, and why it relays, in
 * `guarded_server.ts`).
 *
 * @module
 */
export {
  BodyTimeoutError,
  type DeadlinedRequest,
  withBodyDeadline,
} from "./body_deadline.ts";
export {
  ConnectionGuard,
  type ConnectionGuardOptions,
  INTERNAL_HOST,
  isOutOfDescriptors,
} from "./connection_guard.ts";
export {
  BASE_FDS,
  FDS_PER_CONNECTION,
  FDS_PER_EXECUTOR,
  neededFileDescriptors,
  ownOpenFileLimit,
  parseOpenFileLimit,
} from "./fd_budget.ts";
export {
  GUARD_LOG_WINDOW_MS,
  type GuardCounts,
  type GuardEventKind,
  GuardLog,
  type GuardLogLimits,
} from "./guard_log.ts";
export {
  type CloseReason,
  type ConnectionTimeouts,
  GuardedConnection,
} from "./guarded_connection.ts";
export {
  bodyTimeoutResponse,
  type ConnectionLimits,
  type GuardedHandler,
  type GuardedRequestEnv,
  type GuardedServer,
  serveGuarded,
  type ServeGuardedOptions,
} from "./guarded_server.ts";
