/**
 * The four MCP servers (`/mcp/cyberark`, `/mcp/ssh`, `/mcp/powershell`,
 * `/mcp/database`) over stateless Streamable HTTP: a fresh server and
 * transport per request, so any replica can answer any request.
 *
 * @module
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { isJsonContentType } from "@modelcontextprotocol/sdk/shared/mediaType.js";
import { ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { refusalResponse, refuseMalformed } from "./json_rpc_guard.ts";
import type { ToolContext } from "./tool_context.ts";
import { DB_QUERY, registerDbQuery } from "./tools/db_query.ts";
import {
  GET_CREDENTIAL,
  registerGetCredential,
} from "./tools/get_credential.ts";
import { PS_EXECUTE, registerPsExecute } from "./tools/ps_execute.ts";
import { registerSshExecute, SSH_EXECUTE } from "./tools/ssh_execute.ts";

/** Service version reported to MCP clients. */
export const SERVICE_VERSION = "0.1.0";

/** Registers one tool on a per-request server. */
export type ToolRegistrar = (server: McpServer, context: ToolContext) => void;

/** A tool an endpoint serves: its name and how it is registered. */
export interface EndpointTool {
  readonly name: string;
  readonly register: ToolRegistrar;
}

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
export const ENDPOINT_TOOLS: Record<EndpointName, readonly EndpointTool[]> = {
  cyberark: [{ name: GET_CREDENTIAL, register: registerGetCredential }],
  ssh: [{ name: SSH_EXECUTE, register: registerSshExecute }],
  powershell: [{ name: PS_EXECUTE, register: registerPsExecute }],
  database: [{ name: DB_QUERY, register: registerDbQuery }],
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

/**
 * Answers one MCP HTTP request on an endpoint. A malformed JSON-RPC body
 * is refused here with a readable JSON-RPC error (`json_rpc_guard.ts`);
 * everything else is the SDK's.
 */
export async function handleMcpRequest(
  endpoint: EndpointName,
  request: Request,
  context: ToolContext,
): Promise<Response> {
  const tools = ENDPOINT_TOOLS[endpoint];
  const body = await readBody(request);
  // Header problems keep the SDK's answers (406, 415), as before.
  if (body.ok && transportTakes(request)) {
    const refusal = refuseMalformed(
      body.value,
      tools.map((tool) => tool.name),
    );
    if (refusal !== undefined) return refusalResponse(refusal);
  }
  const server = new McpServer(
    { name: `mcp-privileged-${endpoint}`, version: SERVICE_VERSION },
    { instructions: INSTRUCTIONS[endpoint] },
  );
  if (tools.length === 0) {
    // Answer tools/list with an empty list until this endpoint gets its tools.
    server.server.registerCapabilities({ tools: {} });
    server.server.setRequestHandler(
      ListToolsRequestSchema,
      () => ({ tools: [] }),
    );
  }
  for (const tool of tools) tool.register(server, context);
  // A tool call that asked for progress gets an event stream, so that its
  // progress notifications (and keep-alive comments) reach the client while
  // it waits; everything else is answered with plain JSON.
  const streamed = body.ok && asksForProgress(body.value);
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: !streamed,
  });
  await server.connect(transport);
  let response: Response;
  try {
    response = body.ok
      ? await transport.handleRequest(request, { parsedBody: body.value })
      : await transport.handleRequest(
        new Request(request.url, {
          method: request.method,
          headers: request.headers,
          body: body.text,
        }),
      );
  } catch (error) {
    await server.close();
    throw error;
  }
  if (!streamed || response.body === null) {
    await server.close();
    return response;
  }
  // The server lives until its stream ends: closing it earlier would end the
  // stream before the result. A client that goes away cancels the stream,
  // and closing the server then aborts the waiting call's signal.
  return new Response(closingWith(response.body, () => server.close()), {
    status: response.status,
    headers: response.headers,
  });
}

/**
 * Whether the SDK's transport reads this request's body: it answers a
 * request that does not accept both JSON and event streams (406), or whose
 * body is not declared JSON (415), before looking at the body. The same
 * tests as the SDK's.
 */
function transportTakes(request: Request): boolean {
  const accept = request.headers.get("accept") ?? "";
  return accept.includes("application/json") &&
    accept.includes("text/event-stream") &&
    isJsonContentType(request.headers.get("content-type"));
}

/** The request body as text, and as JSON when it parses. */
async function readBody(
  request: Request,
): Promise<{ ok: true; value: unknown } | { ok: false; text: string }> {
  const text = await request.text();
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, text };
  }
}

/** Whether a JSON-RPC message (or batch) is a tools/call with a progress token. */
function asksForProgress(value: unknown): boolean {
  const messages = Array.isArray(value) ? value : [value];
  return messages.some((message) => {
    if (typeof message !== "object" || message === null) return false;
    const { method, params } = message as {
      method?: unknown;
      params?: { _meta?: { progressToken?: unknown } };
    };
    const token = params?._meta?.progressToken;
    return method === "tools/call" &&
      (typeof token === "string" || typeof token === "number");
  });
}

/** `body`, calling `onEnd` once when it is read to the end or cancelled. */
function closingWith(
  body: ReadableStream<Uint8Array>,
  onEnd: () => Promise<void>,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let ended = false;
  const end = async (): Promise<void> => {
    if (ended) return;
    ended = true;
    await onEnd().catch(() => {});
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller): Promise<void> {
      try {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          await end();
        } else {
          controller.enqueue(value);
        }
      } catch (error) {
        controller.error(error);
        await end();
      }
    },
    async cancel(reason): Promise<void> {
      await reader.cancel(reason).catch(() => {});
      await end();
    },
  });
}
