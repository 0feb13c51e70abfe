/**
 * What every tool handler receives: the services of the gateway and who is
 * calling.
 *
 * @module
 */
import type { ExecutorRunner } from "../executors/spawner/mod.ts";
import type { CcpClient } from "../vault/ccp_client.ts";
import type { HandleVault } from "../vault/handle_vault.ts";
import type { Config } from "./config/mod.ts";

/** The long-lived services tools use. */
export interface GatewayServices {
  config: Config;
  ccp: CcpClient;
  vault: HandleVault;
  /** Runs operations in sandboxed executors (an `ExecutorSpawner`). */
  executors: ExecutorRunner;
}

/** One MCP request's caller and the services. */
export interface ToolContext {
  services: GatewayServices;
  /** The caller's address (after trusted-proxy resolution). */
  clientIp: string;
  /** A non-secret id of the API key used. */
  apiKeyId: string;
}
