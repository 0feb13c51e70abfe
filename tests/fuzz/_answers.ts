/**
 * What every answer of the gateway must look like, whatever was sent: a
 * status below 500; a body that is a JSON-RPC response (or batch of them,
 * or an event stream of them), a JSON error object `{error, message}`, a
 * page of the approvals console (its login form answers a failed login
 * with the form again), or nothing where HTTP says so; no stack
 * trace or internal path; no internal error (`-32603`, or a tool's
 * "Internal error ... (reference ...)") for what a client sent; and JSON-RPC
 * error messages in words, not a dump of a validator's issues.
 *
 * @module
 */
import type { HttpAnswer } from "./_http.ts";

/** Text that shows a stack trace or where the code lives. */
export const STACK_PATTERNS = [
  "    at ",
  ".ts:",
  "file://",
  "/work/",
  "node_modules",
  "ZodError",
] as const;

/** The first of {@linkcode STACK_PATTERNS} in `text`, or undefined. */
export function stackPattern(text: string): string | undefined {
  return STACK_PATTERNS.find((pattern) => text.includes(pattern));
}

/** The JSON-RPC error code of an internal error (a bug, never the client's). */
export const INTERNAL_ERROR = -32603;

/** The MCP endpoints' paths. */
export const MCP_PATH = /^\/mcp\/(cyberark|ssh|powershell|database)$/;

/** What an answer answered. */
export interface AnswerContext {
  method: string;
  /** The path of the request target, without its query. */
  path: string;
  /**
   * The request was deliberately not valid HTTP, so the HTTP server itself
   * may refuse it with an empty 400.
   */
  malformed?: boolean;
}

type Json = unknown;

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Why a JSON-RPC error message is not readable, or undefined. */
function unreadable(message: string): string | undefined {
  const trimmed = message.trim();
  if (trimmed === "") return "is empty";
  if (trimmed.startsWith("[") || trimmed.startsWith("{")) {
    return "is a JSON dump, not a sentence";
  }
  if (/"(code|path|expected)"\s*:/.test(message)) {
    return "holds a validator's issue list";
  }
  return undefined;
}

/** The text of a tool error that is a bug (`gateway/tool_errors.ts`). */
const INTERNAL_TOOL_TEXT = /Internal error in \S+ \(reference [0-9a-f]+\)/;

/** What is wrong with one JSON-RPC message of an answer, or undefined. */
export function jsonRpcProblem(
  value: Json,
  options: { allowNotification?: boolean } = {},
): string | undefined {
  if (!isObject(value)) return "a JSON-RPC message is not an object";
  if (value.jsonrpc !== "2.0") return 'a JSON-RPC message lacks jsonrpc "2.0"';
  if (!("id" in value)) {
    return options.allowNotification === true &&
        typeof value.method === "string"
      ? undefined
      : "a JSON-RPC response has no id";
  }
  const id = value.id;
  if (id !== null && typeof id !== "string" && typeof id !== "number") {
    return `a JSON-RPC response has the id ${JSON.stringify(id)}`;
  }
  const hasResult = "result" in value;
  const hasError = "error" in value;
  if (hasResult === hasError) {
    return "a JSON-RPC response must have exactly one of result and error";
  }
  if (hasError) {
    const error = value.error;
    if (!isObject(error)) return "a JSON-RPC error is not an object";
    if (!Number.isInteger(error.code)) {
      return "a JSON-RPC error code is not an integer";
    }
    if (typeof error.message !== "string") {
      return "a JSON-RPC error message is not a string";
    }
    if (error.code === INTERNAL_ERROR) {
      return `the client's request was answered with an internal error (-32603): ${
        error.message.slice(0, 300)
      }`;
    }
    const why = unreadable(error.message);
    if (why !== undefined) {
      return `the JSON-RPC error message ${why}: ${
        error.message.slice(0, 300)
      }`;
    }
    return undefined;
  }
  const result = value.result;
  if (!isObject(result)) return "a JSON-RPC result is not an object";
  if (Array.isArray(result.content)) {
    for (const item of result.content) {
      if (!isObject(item) || typeof item.type !== "string") {
        return "a tool result's content item has no type";
      }
      if (
        result.isError === true && typeof item.text === "string" &&
        INTERNAL_TOOL_TEXT.test(item.text)
      ) {
        return `the client's input ended in an internal error: ${
          item.text.slice(0, 300)
        }`;
      }
    }
  }
  return undefined;
}

/** The JSON-RPC messages of an event stream's `data:` lines. */
export function eventStreamMessages(body: string): Json[] {
  const messages: Json[] = [];
  for (const event of body.split(/\r?\n\r?\n/)) {
    const data = event.split(/\r?\n/).filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5).replace(/^ /, ""));
    if (data.length > 0) messages.push(JSON.parse(data.join("\n")));
  }
  return messages;
}

function jsonBodyProblem(
  answer: HttpAnswer,
  context: AnswerContext,
): string | undefined {
  let value: Json;
  try {
    value = JSON.parse(answer.body);
  } catch {
    return "the body is not JSON although its type says so";
  }
  const isErrorObject = isObject(value) && typeof value.error === "string" &&
    typeof value.message === "string";
  if (answer.status >= 400) {
    if (isErrorObject) return undefined;
    if (isObject(value) && "error" in value) return jsonRpcProblem(value);
    if (context.path === "/ready" && isObject(value)) return undefined;
    return "an error answer is neither {error, message} nor a JSON-RPC error";
  }
  if (MCP_PATH.test(context.path) && context.method === "POST") {
    if (Array.isArray(value)) {
      if (value.length === 0) return "an empty JSON-RPC batch answer";
      for (const item of value) {
        const problem = jsonRpcProblem(item);
        if (problem !== undefined) return problem;
      }
      return undefined;
    }
    return jsonRpcProblem(value);
  }
  if (context.path === "/health" && context.method === "GET") {
    return isObject(value) && value.status === "ok"
      ? undefined
      : "/health did not answer {status: ok}";
  }
  return isObject(value) ? undefined : "a JSON answer is not an object";
}

const CONSOLE_TYPES =
  /^(text\/html|text\/css|text\/javascript|application\/javascript)\b/;

/** Everything wrong with an answer (empty when it is fine). */
export function answerProblems(
  answer: HttpAnswer,
  context: AnswerContext,
): string[] {
  const problems: string[] = [];
  if (answer.status >= 500) problems.push(`status ${answer.status}`);
  const headerText = [...answer.headers].map(([n, v]) => `${n}: ${v}`).join(
    "\n",
  );
  const trace = stackPattern(answer.body) ?? stackPattern(headerText);
  if (trace !== undefined) {
    problems.push(`the answer shows a stack trace or path ("${trace}")`);
  }
  const type = answer.headers.get("content-type") ?? "";
  const noBody = context.method === "HEAD" || answer.status === 202 ||
    answer.status === 204 || (answer.status >= 300 && answer.status < 400);
  if (noBody) {
    if (answer.body !== "") problems.push("a body where none belongs");
    return problems;
  }
  if (
    answer.status === 400 && context.malformed === true && answer.body === ""
  ) {
    return problems;
  }
  let problem: string | undefined;
  if (type.startsWith("text/event-stream")) {
    try {
      const messages = eventStreamMessages(answer.body);
      if (!messages.some((m) => isObject(m) && "id" in m)) {
        problem = "an event stream without a JSON-RPC response";
      }
      for (const message of messages) {
        problem ??= jsonRpcProblem(message, { allowNotification: true });
      }
    } catch {
      problem = "an event stream data line is not JSON";
    }
  } else if (type.startsWith("application/json")) {
    problem = jsonBodyProblem(answer, context);
  } else if (
    CONSOLE_TYPES.test(type) && context.path.startsWith("/approvals/") &&
    !context.path.startsWith("/approvals/api/")
  ) {
    // The console's pages, script and style, and its login form, which
    // answers a failed login with the form again (401, 429).
    problem = undefined;
  } else {
    problem = `a body of type "${type}" where JSON belongs`;
  }
  if (problem !== undefined) problems.push(problem);
  return problems;
}

/** A short description of an answer for a failure message. */
export function describeAnswer(answer: HttpAnswer): string {
  return `HTTP ${answer.status} ${answer.headers.get("content-type") ?? ""}: ${
    answer.body.slice(0, 600)
  }`;
}
