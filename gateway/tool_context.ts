/**
 * What every tool handler receives: the services of the gateway and who is
 * calling.
 *
 * @module
 */
import type { ExecutorRunner } from "../executors/spawner/mod.ts";
import type { CcpClient } from "../vault/ccp_client.ts";
import type { HandleVault } from "../vault/handle_vault.ts";
import type { ApprovalBroker } from "./approvals/approval.ts";
import type { ConsoleSessions } from "./approvals/http/mod.ts";
import type { Config } from "./config/mod.ts";
import type { TokenVerifier } from "./oauth/token_verifier.ts";
import type { PolicyHolder } from "./policy/policy.ts";
import type { RateLimits } from "./rate_limits.ts";
import type { Lifecycle } from "./readiness/mod.ts";

/** The long-lived services tools use. */
export interface GatewayServices {
  config: Config;
  ccp: CcpClient;
  vault: HandleVault;
  /** Runs operations in sandboxed executors (an `ExecutorSpawner`). */
  executors: ExecutorRunner;
  /** Failed authentications per address and tool calls per principal. */
  rateLimits: RateLimits;
  /** The policy in force (POLICY_FILE), reloaded on SIGHUP and file change. */
  policy: PolicyHolder;
  /** Pending four-eyes approvals (`effect: approve` rules). */
  approvals: ApprovalBroker;
  /** Signed-in approvers of the approvals console. */
  consoleSessions: ConsoleSessions;
  /** Bearer token validation, when `MCP_AUTH` accepts OAuth. */
  tokens?: TokenVerifier;
  /**
   * Readiness (`/ready`) and the drain on SIGTERM: the requests in flight,
   * whether new ones are refused (a `LifecycleView` for its readers).
   */
  lifecycle: Lifecycle;
}

/** How a principal proved who it is: an API key, or an OAuth bearer token. */
export type AuthMethod = "api_key" | "oauth";

/** The authenticated caller of a request, as audit lines name it. */
export interface Principal {
  /**
   * The principal's configured name (or its key's id for an unnamed key),
   * or the token's `OAUTH_PRINCIPAL_CLAIM`.
   */
  readonly name: string;
  readonly auth: AuthMethod;
  /** The identity provider's groups of an OAuth principal (policy `group:NAME`). */
  readonly groups?: readonly string[];
  /** The token's `jti`, or a hash prefix of it (OAuth; never the token). */
  readonly tokenId?: string;
  /** The OAuth client the token was issued to. */
  readonly clientId?: string;
}

/** One MCP request's caller and the services. */
export interface ToolContext {
  services: GatewayServices;
  /** The caller's address (after trusted-proxy resolution). */
  clientIp: string;
  /** Who is calling. */
  principal: Principal;
}

/** The audit fields of who made a call. */
export interface CallerFields {
  client_ip: string;
  principal: string;
  auth: AuthMethod;
  /** OAuth only: the token's id (`jti` or hash prefix). */
  token_id?: string;
  /** OAuth only: the client the token was issued to, when it says. */
  client_id?: string;
}

/**
 * The audit fields that say who made a call: address, principal, method,
 * and for an OAuth token its id and client.
 */
export function callerFields(context: ToolContext): CallerFields {
  const { principal } = context;
  return {
    client_ip: context.clientIp,
    principal: principal.name,
    auth: principal.auth,
    ...(principal.tokenId === undefined ? {} : { token_id: principal.tokenId }),
    ...(principal.clientId === undefined
      ? {}
      : { client_id: principal.clientId }),
  };
}
