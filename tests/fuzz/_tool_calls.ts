/**
 * Tool calls for the fuzz suite: one `tools/call` as plain JSON-RPC (the
 * raw answer is checked, not what an SDK makes of it), fresh handles from
 * `get_credential`, and the placeholders a generated call names instead of
 * a real handle (`REAL:ssh`, ...), which become a fresh handle only when
 * the call is made, so that a counterexample replays with a new one.
 *
 * @module
 */
import { postMcp } from "./_http.ts";
import { ACCOUNTS, type FuzzTarget, type Principal, SAFE } from "./_harness.ts";
import { toolCallBody } from "./_arbitraries.ts";

/** Each tool and the endpoint that serves it. */
export const TOOL_ENDPOINT = {
  get_credential: "cyberark",
  ssh_execute: "ssh",
  ps_execute: "powershell",
  db_query: "database",
} as const;

/** A tool's name. */
export type ToolName = keyof typeof TOOL_ENDPOINT;

/** The account behind each placeholder, and whose handle it is. */
export const PLACEHOLDERS = {
  "REAL:ssh": { account: ACCOUNTS.ssh, owner: "alice" },
  "REAL:pg": { account: ACCOUNTS.postgres, owner: "alice" },
  "REAL:win": { account: ACCOUNTS.winrm, owner: "alice" },
  /** Another principal's handle: alice must never get to use it. */
  "REAL:bob-ssh": { account: ACCOUNTS.ssh, owner: "bob" },
} as const satisfies Record<string, { account: string; owner: Principal }>;

/** A placeholder for a real handle. */
export type Placeholder = keyof typeof PLACEHOLDERS;

/** Whether a generated value names a real handle. */
export function isPlaceholder(value: unknown): value is Placeholder {
  return typeof value === "string" && Object.hasOwn(PLACEHOLDERS, value);
}

/** What a tool call came back with. */
export interface ToolOutcome {
  /** The tool result's text, or the JSON-RPC error's message. */
  text: string;
  /** A tool error or a JSON-RPC error. */
  isError: boolean;
  /** Answered with a JSON-RPC error rather than a tool result. */
  rpcError: boolean;
}

let nextId = 1;

/**
 * Calls a tool as `principal` with plain JSON-RPC and checks the answer by
 * the suite's rules (`FuzzTarget.checkAnswer`).
 *
 * @throws {Error} when the answer breaks a rule or is not a single response
 */
export async function callTool(
  target: FuzzTarget,
  principal: Principal,
  tool: ToolName,
  args: unknown,
): Promise<ToolOutcome> {
  const path = `/mcp/${TOOL_ENDPOINT[tool]}`;
  const answer = await postMcp(
    `${target.baseUrl}${path}`,
    toolCallBody(tool, args, nextId++),
    { apiKey: target.keys[principal] },
  );
  target.checkAnswer(answer, { method: "POST", path });
  if (answer.status !== 200) {
    throw new Error(
      `A tools/call was answered HTTP ${answer.status}: ${answer.body}`,
    );
  }
  const response = JSON.parse(answer.body) as {
    result?: { content?: { text?: string }[]; isError?: boolean };
    error?: { message: string };
  };
  if (response.error !== undefined) {
    return { text: response.error.message, isError: true, rpcError: true };
  }
  const text = (response.result?.content ?? []).map((c) => c.text ?? "")
    .join("\n");
  return { text, isError: response.result?.isError === true, rpcError: false };
}

const HANDLE = /secret:\/\/[A-Za-z0-9_-]{43}/;

/**
 * Gets a fresh handle for one of the fuzz accounts as `principal`.
 *
 * @throws {Error} when get_credential fails
 */
export async function freshHandle(
  target: FuzzTarget,
  principal: Principal,
  account: string,
): Promise<string> {
  const outcome = await callTool(target, principal, "get_credential", {
    safe: SAFE,
    object_name: account,
  });
  const handle = HANDLE.exec(outcome.text)?.[0];
  if (outcome.isError || handle === undefined) {
    throw new Error(`get_credential for ${account} failed: ${outcome.text}`);
  }
  target.noteHandle(handle);
  return handle;
}

/**
 * `args` with a placeholder `secret_handle` replaced by a fresh handle of
 * its owner; other values as they are.
 */
export async function withRealHandle(
  target: FuzzTarget,
  args: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const placeholder = args.secret_handle;
  if (!isPlaceholder(placeholder)) return args;
  const { account, owner } = PLACEHOLDERS[placeholder];
  return {
    ...args,
    secret_handle: await freshHandle(target, owner, account),
  };
}

/** Notes every handle an answer's text shows (a get_credential result). */
export function noteHandles(target: FuzzTarget, text: string): void {
  for (const match of text.matchAll(new RegExp(HANDLE, "g"))) {
    target.noteHandle(match[0]);
  }
}
