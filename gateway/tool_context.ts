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
import type { PolicyHolder } from "./policy/policy.ts";
import type { RateLimits } from "./rate_limits.ts";

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
}

/** How a principal proved who it is (OAuth may come later). */
export type AuthMethod = "api_key";

/** The authenticated caller of a request, as audit lines name it. */
export interface Principal {
  /** The principal's configured name (or its key's id for an unnamed key). */
  readonly name: string;
  readonly auth: AuthMethod;
}

/** One MCP request's caller and the services. */
export interface ToolContext {
  services: GatewayServices;
  /** The caller's address (after trusted-proxy resolution). */
  clientIp: string;
  /** Who is calling. */
  principal: Principal;
}

/** The audit fields that say who made a call: address, principal, method. */
export function callerFields(
  context: ToolContext,
): { client_ip: string; principal: string; auth: AuthMethod } {
  return {
    client_ip: context.clientIp,
    principal: context.principal.name,
    auth: context.principal.auth,
  };
}
