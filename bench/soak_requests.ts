/**
 * What a soak client sends and how each answer is judged: a fresh handle
 * (`get_credential`), a handle used at once (`get_credential` then
 * `db_query SELECT 1`), and bad requests whose refusal is the expected
 * answer (a wrong API key, malformed JSON, an unknown handle, junk
 * arguments). Every answer is `ok`, an expected `refused`, or an `error`
 * that should not happen (a 5xx, a failed good call, a refusal of the
 * wrong kind, no answer at all).
 *
 * @module
 */

/** How one request ended. */
export type Outcome = "ok" | "refused" | "error";

/** The request kinds, as the per-window figures name them. */
export type RequestKind =
  | "get_credential"
  | "db_query"
  | "wrong_key"
  | "malformed_json"
  | "unknown_handle"
  | "junk_arguments";

/** One finished request. */
export interface Sample {
  kind: RequestKind;
  outcome: Outcome;
  ms: number;
  /** Why an `error`: the status and the start of the answer. */
  detail?: string;
}

/** Where the soak's gateway and database are. */
export interface SoakTarget {
  baseUrl: string;
  apiKey: string;
  safe: string;
  /** The CyberArk object of the PostgreSQL login. */
  account: string;
  db: { host: string; port: number; database: string };
}

interface Answer {
  status: number;
  body: string;
}

let nextId = 1;

async function post(
  target: SoakTarget,
  endpoint: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(`${target.baseUrl}/mcp/${endpoint}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "x-api-key": target.apiKey,
      ...headers,
    },
    body,
    signal: AbortSignal.timeout(120_000),
  });
  return { status: response.status, body: await response.text() };
}

function toolCall(name: string, args: unknown): string {
  return JSON.stringify({
    jsonrpc: "2.0",
    id: nextId++,
    method: "tools/call",
    params: { name, arguments: args },
  });
}

/** The tool result of a 200 answer: its text and whether it is an error. */
function toolResult(answer: Answer): { text: string; isError: boolean } {
  if (answer.status !== 200) return { text: "", isError: true };
  try {
    const json = JSON.parse(answer.body) as {
      result?: { content?: { text?: string }[]; isError?: boolean };
    };
    if (json.result === undefined) return { text: "", isError: true };
    return {
      text: (json.result.content ?? []).map((c) => c.text ?? "").join("\n"),
      isError: json.result.isError === true,
    };
  } catch {
    return { text: "", isError: true };
  }
}

function describe(answer: Answer): string {
  return `HTTP ${answer.status}: ${answer.body.slice(0, 160)}`;
}

/** Times `run` and turns a thrown error (no answer) into an `error`. */
async function timed(
  kind: RequestKind,
  run: () => Promise<{ outcome: Outcome; detail?: string }>,
): Promise<Sample> {
  const start = performance.now();
  try {
    const { outcome, detail } = await run();
    return {
      kind,
      outcome,
      ms: performance.now() - start,
      ...(detail === undefined ? {} : { detail }),
    };
  } catch (error) {
    return {
      kind,
      outcome: "error",
      ms: performance.now() - start,
      detail: error instanceof Error ? error.message : String(error),
    };
  }
}

const HANDLE = /secret:\/\/[A-Za-z0-9_-]{43}/;

/** `get_credential` for the PostgreSQL login; the handle when it worked. */
export async function getCredential(
  target: SoakTarget,
): Promise<{ sample: Sample; handle: string | undefined }> {
  let handle: string | undefined;
  const sample = await timed("get_credential", async () => {
    const answer = await post(
      target,
      "cyberark",
      toolCall("get_credential", {
        safe: target.safe,
        object_name: target.account,
      }),
    );
    const result = toolResult(answer);
    handle = result.isError ? undefined : HANDLE.exec(result.text)?.[0];
    return handle === undefined
      ? { outcome: "error", detail: describe(answer) }
      : { outcome: "ok" };
  });
  return { sample, handle };
}

/** `db_query SELECT 1` with `handle`. */
export function dbQuery(target: SoakTarget, handle: string): Promise<Sample> {
  return timed("db_query", async () => {
    const answer = await post(
      target,
      "database",
      toolCall("db_query", {
        ...target.db,
        db_type: "postgres",
        query: "SELECT 1",
        secret_handle: handle,
      }),
    );
    const result = toolResult(answer);
    return !result.isError && result.text.includes("Rows returned: 1")
      ? { outcome: "ok" }
      : { outcome: "error", detail: describe(answer) };
  });
}

/** A client address in 198.18.0.0/15, the range set aside for benchmarks. */
function benchmarkAddress(): string {
  const n = Math.floor(Math.random() * 2 ** 17);
  return `198.${18 + (n >> 16)}.${(n >> 8) & 0xff}.${n & 0xff}`;
}

/**
 * One bad request of a random kind. A wrong key comes from an address of
 * its own (`X-Forwarded-For` behind the trusted loopback proxy), so the
 * failed-authentication limit blocks that address, not the good clients.
 */
export function badRequest(target: SoakTarget): Promise<Sample> {
  const pick = Math.floor(Math.random() * 4);
  if (pick === 0) {
    return timed("wrong_key", async () => {
      const answer = await post(
        target,
        "cyberark",
        toolCall("get_credential", { safe: target.safe, object_name: "x" }),
        {
          "x-api-key": `wrong-${crypto.randomUUID()}`,
          "x-forwarded-for": benchmarkAddress(),
        },
      );
      return answer.status === 401 || answer.status === 429
        ? { outcome: "refused" }
        : { outcome: "error", detail: describe(answer) };
    });
  }
  if (pick === 1) {
    return timed("malformed_json", async () => {
      const answer = await post(
        target,
        "cyberark",
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{',
      );
      return answer.status === 400 && answer.body.includes("-32700")
        ? { outcome: "refused" }
        : { outcome: "error", detail: describe(answer) };
    });
  }
  if (pick === 2) {
    return timed("unknown_handle", async () => {
      const junk = `secret://${crypto.randomUUID().replaceAll("-", "")}${
        "A".repeat(11)
      }`;
      const answer = await post(
        target,
        "database",
        toolCall("db_query", {
          ...target.db,
          db_type: "postgres",
          query: "SELECT 1",
          secret_handle: junk,
        }),
      );
      const result = toolResult(answer);
      return answer.status === 200 && result.isError
        ? { outcome: "refused" }
        : { outcome: "error", detail: describe(answer) };
    });
  }
  return timed("junk_arguments", async () => {
    const answer = await post(
      target,
      "cyberark",
      toolCall("get_credential", {
        safe: 5,
        object_name: ["x"],
        extra: { nested: "\u0000\ud800" },
      }),
    );
    const result = toolResult(answer);
    const rpcError = answer.status === 200 && answer.body.includes("-32602");
    return (answer.status === 200 && result.isError) || rpcError
      ? { outcome: "refused" }
      : { outcome: "error", detail: describe(answer) };
  });
}
