/**
 * Refuses malformed JSON-RPC bodies at an MCP endpoint before the MCP SDK
 * sees them, with the codes JSON-RPC 2.0 and MCP name and a message a
 * person can read. Left to the SDK, such a body is answered `-32700 Parse
 * error` (valid JSON that is not a message), `-32603 Internal error` with a
 * raw schema-issue dump (a `tools/call` whose `arguments` is `null`), a
 * tool result (an unknown tool), or `202` with nothing (an empty batch).
 *
 * | Body                                              | HTTP | Code     |
 * | ------------------------------------------------- | ---- | -------- |
 * | `[]`                                              | 400  | `-32600` |
 * | JSON, not an object or array (`5`, `"x"`, `null`) | 400  | `-32600` |
 * | not a JSON-RPC 2.0 message (`jsonrpc`, `id`, ...) | 400  | `-32600` |
 * | `params` not an object                            | 200* | `-32602` |
 * | params a handled method's schema refuses          | 200* | `-32602` |
 * | `tools/call` of a tool the endpoint does not serve| 200* | `-32602` |
 *
 * \* 200 with the request's `id`, as the SDK answers a request its handler
 * refuses; 400 with `id: null` for a notification or a batch member.
 *
 * A batch (JSON-RPC batching, which MCP 2025-06-18 dropped and the SDK
 * still accepts from older clients) is refused whole, with one error that
 * names the first bad member. Everything else (invalid JSON, wrong
 * headers, unknown methods, a valid message) is the SDK's to answer, as
 * before; well-formed requests reach it untouched.
 *
 * @module
 */
import {
  CallToolRequestSchema,
  InitializeRequestSchema,
  JSONRPCMessageSchema,
  ListToolsRequestSchema,
  PingRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";

/** JSON-RPC 2.0 error codes the guard answers with. */
export const INVALID_REQUEST = -32600;
/** `Invalid params`. */
export const INVALID_PARAMS = -32602;

/** A JSON-RPC error answer for a body the guard refuses. */
export interface JsonRpcRefusal {
  /** The HTTP status. */
  readonly status: 200 | 400;
  readonly code: number;
  /** Short and readable: what is wrong, naming the member. */
  readonly message: string;
  /** The request's id when it could be read; null otherwise. */
  readonly id: string | number | null;
}

/** A request schema as the guard uses it: zod's `safeParse`. */
interface RequestSchema {
  safeParse(value: unknown): { success: true } | {
    success: false;
    error: { issues: readonly SchemaIssue[] };
  };
}

/** The part of a zod issue the guard reads. */
interface SchemaIssue {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly expected?: unknown;
}

/**
 * The methods a per-request server handles (`McpServer` with tools:
 * `initialize` and `ping` from the SDK's server, `tools/list` and
 * `tools/call` from the tools), with the schemas their handlers parse
 * with. Other methods are the SDK's: `-32601 Method not found`.
 */
const HANDLED_METHODS: ReadonlyMap<string, RequestSchema> = new Map<
  string,
  RequestSchema
>([
  ["initialize", InitializeRequestSchema],
  ["ping", PingRequestSchema],
  ["tools/list", ListToolsRequestSchema],
  ["tools/call", CallToolRequestSchema],
]);

const MAX_ISSUES = 3;
const MAX_ECHOED_CHARS = 40;

/**
 * Why `body` (parsed JSON) is refused at an endpoint serving `tools`, or
 * undefined when it is the SDK's to answer.
 */
export function refuseMalformed(
  body: unknown,
  tools: readonly string[],
): JsonRpcRefusal | undefined {
  if (Array.isArray(body)) {
    if (body.length === 0) {
      return invalidRequest("Invalid Request: empty batch");
    }
    for (const [index, member] of body.entries()) {
      const refusal = checkMessage(member, tools);
      if (refusal !== undefined) {
        return {
          status: 400,
          code: refusal.code,
          message: `${refusal.message} (batch member ${index + 1})`,
          id: null,
        };
      }
    }
    return undefined;
  }
  return checkMessage(body, tools);
}

/** The HTTP answer for a refusal, shaped as the SDK shapes its own. */
export function refusalResponse(refusal: JsonRpcRefusal): Response {
  const error = { code: refusal.code, message: refusal.message };
  const body = refusal.id === null
    ? { jsonrpc: "2.0", error, id: null }
    : { jsonrpc: "2.0", id: refusal.id, error };
  return new Response(JSON.stringify(body), {
    status: refusal.status,
    headers: { "Content-Type": "application/json" },
  });
}

function checkMessage(
  message: unknown,
  tools: readonly string[],
): JsonRpcRefusal | undefined {
  if (!isPlainObject(message)) {
    return invalidRequest(
      `Invalid Request: a JSON-RPC message must be an object, not ${
        kindOf(message)
      }`,
    );
  }
  if (message.jsonrpc !== "2.0") {
    return invalidRequest('Invalid Request: "jsonrpc" must be "2.0"');
  }
  if ("id" in message && !isRequestId(message.id)) {
    return invalidRequest(
      'Invalid Request: "id" must be a string or an integer',
    );
  }
  const id = isRequestId(message.id) ? message.id : null;
  if ("method" in message) {
    const { method } = message;
    if (typeof method !== "string") {
      return invalidRequest('Invalid Request: "method" must be a string', id);
    }
    if ("params" in message && !isPlainObject(message.params)) {
      return HANDLED_METHODS.has(method)
        ? invalidParams(
          `Invalid params for ${method}: "params" must be an object`,
          id,
        )
        : invalidRequest('Invalid Request: "params" must be an object', id);
    }
  } else if (!("result" in message) && !("error" in message)) {
    return invalidRequest(
      'Invalid Request: "method" is missing (or "result" / "error" for a response)',
      id,
    );
  }
  // A handled method's params first: what its handler would refuse is
  // "Invalid params" (a bad `_meta` included), not a malformed message.
  const method = message.method;
  const schema = id === null || typeof method !== "string"
    ? undefined
    : HANDLED_METHODS.get(method);
  const parsed = schema?.safeParse(message);
  if (parsed !== undefined && !parsed.success) {
    return invalidParams(
      `Invalid params for ${method}: ${
        describeIssues(parsed.error.issues, message)
      }`,
      id,
    );
  }
  if (!JSONRPCMessageSchema.safeParse(message).success) {
    return invalidRequest(
      `Invalid Request: not a JSON-RPC 2.0 request, notification or response${
        unknownMembers(message)
      }`,
      id,
    );
  }
  if (schema !== undefined && method === "tools/call") {
    const name = (message.params as { name: string }).name;
    if (!tools.includes(name)) {
      return invalidParams(
        `Unknown tool: ${echo(name)}; this endpoint serves ${
          tools.length === 0 ? "no tools" : tools.join(", ")
        }`,
        id,
      );
    }
  }
  return undefined;
}

function invalidRequest(
  message: string,
  id: string | number | null = null,
): JsonRpcRefusal {
  return { status: 400, code: INVALID_REQUEST, message, id };
}

function invalidParams(
  message: string,
  id: string | number | null,
): JsonRpcRefusal {
  return { status: id === null ? 400 : 200, code: INVALID_PARAMS, message, id };
}

/** MCP request ids: a string or an integer (never null). */
function isRequestId(value: unknown): value is string | number {
  return typeof value === "string" || Number.isSafeInteger(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** ` ("foo" is not a member of any)` for members no message kind has. */
function unknownMembers(message: Record<string, unknown>): string {
  const known = new Set([
    "jsonrpc",
    "id",
    "method",
    "params",
    "result",
    "error",
  ]);
  const extra = Object.keys(message).filter((key) => !known.has(key));
  return extra.length === 0
    ? ""
    : ` (unknown member ${extra.slice(0, MAX_ISSUES).map(echo).join(", ")})`;
}

/** Up to three issues as `"path" must be ...`, joined by "; ". */
function describeIssues(
  issues: readonly SchemaIssue[],
  message: Record<string, unknown>,
): string {
  const described = issues.slice(0, MAX_ISSUES).map((issue) =>
    describeIssue(issue, message)
  );
  const more = issues.length - described.length;
  return described.join("; ") +
    (more > 0 ? `; and ${more} more problem${more === 1 ? "" : "s"}` : "");
}

function describeIssue(
  issue: SchemaIssue,
  message: Record<string, unknown>,
): string {
  // Paths start at the message; inside params, name the member as the
  // method's documentation does ("arguments", "clientInfo.name").
  const path = issue.path[0] === "params" && issue.path.length > 1
    ? issue.path.slice(1)
    : issue.path;
  const name = `"${
    path.map((key) => echo(String(key)).slice(1, -1)).join(".")
  }"`;
  const present = valueAt(message, issue.path) !== undefined;
  switch (issue.code) {
    case "invalid_type": {
      const expected = expectedType(issue.expected);
      return present
        ? `${name} must be ${expected}`
        : `${name} is missing (${expected})`;
    }
    case "invalid_union":
      return `${name} has the wrong type`;
    case "invalid_value":
      return `${name} has a value it cannot take`;
    case "unrecognized_keys":
      return `${name} has members it cannot take`;
    default:
      return `${name} is invalid`;
  }
}

/** "a string", "an object": zod's expected type in words. */
function expectedType(expected: unknown): string {
  switch (expected) {
    case "object":
    case "record":
      return "an object";
    case "array":
    case "tuple":
      return "an array";
    case "string":
      return "a string";
    case "number":
      return "a number";
    case "int":
      return "an integer";
    case "boolean":
      return "a boolean";
    default:
      return `of type ${echo(String(expected))}`;
  }
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** "an array", "a number", "null": a JSON value's kind, for messages. */
function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** A short, escaped, quoted prefix of untrusted input for a message. */
function echo(value: string): string {
  let out = "";
  let count = 0;
  for (const char of value) {
    if (++count > MAX_ECHOED_CHARS) {
      out += "...";
      break;
    }
    const code = char.codePointAt(0) ?? 0;
    out += code >= 0x20 && code <= 0x7e && char !== '"' && char !== "\\"
      ? char
      : `\\u{${code.toString(16)}}`;
  }
  return `"${out}"`;
}
