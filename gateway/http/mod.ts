/**
 * The gateway's HTTP steps, one named middleware per concern, in the order
 * `createApp()` registers them on `/mcp/*`: {@linkcode clientIp},
 * {@linkcode hostGuard}, {@linkcode authFailureLimit}, {@linkcode mcpAuth}, {@linkcode requestBodyLimit};
 * then {@linkcode methodNotAllowed} for GET and DELETE on each endpoint.
 *
 * @module
 */
export {
  apiKeyAuth,
  type ApiKeyAuthOptions,
  ApiKeyVerifier,
} from "./api_key_auth.ts";
export {
  authFailureLimit,
  type AuthFailureLimitOptions,
} from "./auth_failure_limit.ts";
export { clientIp, type ClientIpOptions } from "./client_ip.ts";
export type { GatewayEnv } from "./gateway_env.ts";
export { hostGuard, type HostGuardOptions } from "./host_guard.ts";
export { challenge, mcpAuth, type McpAuthOptions } from "./mcp_auth.ts";
export { methodNotAllowed } from "./method_not_allowed.ts";
export {
  requestBodyLimit,
  type RequestBodyLimitOptions,
} from "./request_body_limit.ts";
