/**
 * The MCP TypeScript SDK client over Streamable HTTP with `X-API-Key`, as
 * Claude Code connects.
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

/** Connects an SDK client to one endpoint. */
export async function connectMcp(url: string, apiKey: string): Promise<Client> {
  const client = new Client({ name: "mcp-privileged-tests", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { "X-API-Key": apiKey } },
  });
  await client.connect(transport);
  return client;
}

/** The text of a tool result. */
export function resultText(
  result: CallToolResult | Record<string, unknown>,
): string {
  const content: CallToolResult["content"] =
    (result as CallToolResult).content ?? [];
  return content.map((
    c: CallToolResult["content"][number],
  ) => (c.type === "text" ? c.text : ""))
    .join("\n");
}
