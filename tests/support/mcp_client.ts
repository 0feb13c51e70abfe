/**
 * The MCP TypeScript SDK client over Streamable HTTP with `X-API-Key`, as
 * Claude Code connects; plain JSON-RPC POSTs for what the SDK hides (status
 * codes, refused requests, timing without the client's overhead); and the
 * calls every end-to-end test makes (get a handle, run a tool).
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";

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

/** One tool call: the tool's name and its arguments. */
export interface ToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

/** Connects to `url`, makes one tool call, and closes the connection. */
export async function callToolOnce(
  url: string,
  apiKey: string,
  call: ToolCall,
): Promise<CallToolResult> {
  const client = await connectMcp(url, apiKey);
  try {
    return await client.callTool(call) as CallToolResult;
  } finally {
    await client.close();
  }
}

/** What a tool answered: its text, and whether it was a tool error. */
export interface ToolOutcome {
  text: string;
  isError: boolean;
}

/** Calls a tool and returns its text and error flag. */
export async function callToolText(
  client: Client,
  call: ToolCall,
): Promise<ToolOutcome> {
  const result = await client.callTool(call);
  return { text: resultText(result), isError: result.isError === true };
}

/** The safe and object of a `get_credential` call. */
export interface CredentialRef {
  safe: string;
  object_name: string;
}

/**
 * Calls `get_credential` and returns the handle on the first line of its
 * answer.
 *
 * @throws {AssertionError} when the call fails or answers without a handle
 */
export async function issueHandle(
  cyberark: Client,
  credential: CredentialRef,
): Promise<string> {
  const { text, isError } = await callToolText(cyberark, {
    name: "get_credential",
    arguments: { ...credential },
  });
  assertEquals(isError, false, text);
  const handle = text.split("\n")[0]!.replace("Handle: ", "");
  assertMatch(handle, /^secret:\/\/[A-Za-z0-9_-]{43}$/);
  return handle;
}

/** Options of {@linkcode postJsonRpc}. */
export interface PostJsonRpcOptions {
  /** Headers added to the JSON-RPC ones (e.g. `X-API-Key`). */
  headers?: Record<string, string>;
  /** The request's `params`; left out when undefined. */
  params?: unknown;
  /** The HTTP client of `fetch` (e.g. one that trusts a test CA). */
  client?: Deno.HttpClient;
}

/**
 * POSTs one JSON-RPC request (id 1) to an MCP endpoint with `fetch`, without
 * the SDK: for status codes, refused requests and benchmarks.
 */
export function postJsonRpc(
  url: string,
  method: string,
  options: PostJsonRpcOptions = {},
): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: {
      ...options.headers,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method,
      ...(options.params === undefined ? {} : { params: options.params }),
    }),
    ...(options.client === undefined ? {} : { client: options.client }),
  });
}

/**
 * Asserts that the endpoint `client` is connected to lists exactly the tool
 * `name`, whose arguments are `argumentNames` (sorted).
 */
export async function assertListsOneTool(
  client: Client,
  name: string,
  argumentNames: readonly string[],
): Promise<void> {
  const { tools } = await client.listTools();
  assertEquals(tools.map((tool: { name: string }) => tool.name), [name]);
  assertEquals(
    Object.keys(tools[0]!.inputSchema.properties ?? {}).sort(),
    [...argumentNames],
  );
}

/**
 * Asserts that a handle is single-use: the first call with it succeeds, the
 * second is the tool error "Handle already consumed".
 */
export async function assertUsableOnce(
  use: (secretHandle: string) => Promise<ToolOutcome>,
  secretHandle: string,
): Promise<void> {
  const first = await use(secretHandle);
  assertEquals(first.isError, false, first.text);
  const again = await use(secretHandle);
  assertEquals(again.isError, true);
  assertStringIncludes(again.text, "Handle already consumed");
}
