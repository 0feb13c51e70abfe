/**
 * The approvals console and its JSON API: {@linkcode approvalRoutes}, mounted
 * at `/approvals`, and the console's session stores.
 *
 * @module
 */
export {
  approvalRoutes,
  type ApprovalRoutesOptions,
  MAX_APPROVALS_BODY_BYTES,
} from "./approval_routes.ts";
export type { ApprovalsEnv } from "./approvals_env.ts";
export {
  type ConsoleSession,
  type ConsoleSessions,
  consoleSessionsFor,
  type ConsoleSessionsOptions,
  createConsoleSessions,
  type NewConsoleSession,
} from "./console_sessions.ts";
export {
  MemoryConsoleSessions,
  type MemoryConsoleSessionsOptions,
} from "./memory_console_sessions.ts";
export type { RedisConsoleSessionsOptions } from "./redis_console_sessions.ts";
export { CONSOLE_CSP, CONSOLE_SECURITY_HEADERS } from "./security_headers.ts";
