/**
 * The four MCP servers (`/mcp/cyberark`, `/mcp/ssh`, `/mcp/powershell`,
 * `/mcp/database`) over stateless Streamable HTTP: a fresh server and
 * transport per request, so any replica can answer any request.
 *
 * @module
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import type { ToolContext } from "./tool_context.ts";
import { registerDbQuery } from "./tools/db_query.ts";
import { registerGetCredential } from "./tools/get_credential.ts";
import { registerPsExecute } from "./tools/ps_execute.ts";
import { registerSshExecute } from "./tools/ssh_execute.ts";

/** Service version reported to MCP clients. */
export const SERVICE_VERSION = "0.1.0";

/** Registers one tool on a per-request server. */
export type ToolRegistrar = (server: McpServer, context: ToolContext) => void;

/** The endpoint names, as in the operations manual (section 9.1). */
export const ENDPOINT_NAMES = [
  "cyberark",
  "ssh",
  "powershell",
  "database",
] as const;
/** One endpoint name. */
export type EndpointName = typeof ENDPOINT_NAMES[number];

/** The tools each endpoint serves. */
export const ENDPOINT_TOOLS: Record<EndpointName, readonly ToolRegistrar[]> = {
  cyberark: [registerGetCredential],
  ssh: [registerSshExecute],
  powershell: [registerPsExecute],
  database: [registerDbQuery],
};

const INSTRUCTIONS: Record<EndpointName, string> = {
  cyberark:
    "Retrieves CyberArk credentials as short-lived opaque handles (secret://...). Pass a handle to ssh_execute, ps_execute or db_query; the secret is never revealed.",
  ssh:
    "Runs commands on Linux hosts over SSH with a handle from get_credential.",
  powershell:
    "Runs PowerShell on Windows hosts over WinRM with a handle from get_credential.",
  database:
    "Runs SQL on PostgreSQL, MySQL and SQL Server with a handle from get_credential.",
};

/** Answers one MCP HTTP request on an endpoint. */
export async function handleMcpRequest(
  endpoint: EndpointName,
  request: Request,
  context: ToolContext,
): Promise<Response> {
  const server = new McpServer(
    { name: `mcp-privileged-${endpoint}`, version: SERVICE_VERSION },
    { instructions: INSTRUCTIONS[endpoint] },
  );
  const tools = ENDPOINT_TOOLS[endpoint];
  if (tools.length === 0) {
    // Answer tools/list with an empty list until this endpoint gets its tools.
    server.server.registerCapabilities({ tools: {} });
    server.server.setRequestHandler(
      ListToolsRequestSchema,
      () => ({ tools: [] }),
    );
  }
  for (const register of tools) register(server, context);
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  });
  await server.connect(transport);
  try {
    return await transport.handleRequest(request);
  } finally {
    await server.close();
  }
}
