/**
 * Fuzzing the JSON-RPC layer of the four MCP endpoints with well-formed
 * HTTP (a valid key and headers) and generated bodies: envelopes with
 * random methods, ids of every JSON type, params of every shape, missing
 * or wrong `jsonrpc`, extra members; batches (the empty one included);
 * `initialize` with random capabilities, protocol versions and client info;
 * and known methods whose params have one member of the wrong type.
 *
 * Besides the checks after every case (`_harness.ts`): valid JSON is never
 * a parse error (-32700), the empty batch is one -32600 Invalid Request, a
 * request's answer carries its id, a `tools/call` is answered -32602 exactly
 * when its params are not a call of the endpoint's tool, `initialize`
 * succeeds exactly when its params are well typed, and a malformed member
 * is answered -32602 with a message that names it.
 */
import fc from "fast-check";
import { stackPattern } from "./_answers.ts";
import {
  initializeParams,
  jsonRpcBatch,
  jsonRpcBody,
  jsonValue,
  PROTOCOL_VERSIONS,
} from "./_arbitraries.ts";
import { eventStreamMessages } from "./_answers.ts";
import { type HttpAnswer, postMcp } from "./_http.ts";
import { checkProperty, type FuzzTarget, startFuzzTarget } from "./_harness.ts";
import { assert, assertEquals } from "../support/assert.ts";

/** Each endpoint and the one tool it serves. */
const ENDPOINT_TOOL = {
  cyberark: "get_credential",
  ssh: "ssh_execute",
  powershell: "ps_execute",
  database: "db_query",
} as const;
type Endpoint = keyof typeof ENDPOINT_TOOL;
const endpoint = fc.constantFrom(
  ...Object.keys(ENDPOINT_TOOL) as Endpoint[],
);

/** Request ids the SDK answers: strings and safe integers. */
const requestId = fc.oneof(fc.integer(), fc.string({ maxLength: 20 }));

/** The client capabilities MCP defines (their values have schemas). */
const KNOWN_CAPABILITIES = [
  "experimental",
  "roots",
  "sampling",
  "elicitation",
  "tasks",
  "extensions",
];

const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;
const INVALID_PARAMS = -32602;

type Message = Record<string, unknown>;

function isPlainObject(value: unknown): value is Message {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isRequestId(value: unknown): value is string | number {
  return typeof value === "string" || Number.isSafeInteger(value);
}

/**
 * A JSON-RPC request and nothing else: `jsonrpc` "2.0", an id (string or
 * integer), a method name, and params at most.
 */
function isPlainRequest(value: unknown): value is Message {
  return isPlainObject(value) && value.jsonrpc === "2.0" &&
    isRequestId(value.id) && typeof value.method === "string" &&
    Object.keys(value).every((k) =>
      ["jsonrpc", "id", "method", "params"].includes(k)
    );
}

/** The JSON-RPC responses in an answer (JSON object, batch or event stream). */
function responsesOf(answer: HttpAnswer): Message[] {
  if (answer.body === "") return [];
  const type = answer.headers.get("content-type") ?? "";
  const parsed: unknown = type.startsWith("text/event-stream")
    ? eventStreamMessages(answer.body)
    : JSON.parse(answer.body);
  const all = Array.isArray(parsed) ? parsed : [parsed];
  return all.filter((m): m is Message => isPlainObject(m) && "id" in m);
}

function errorCode(response: Message | undefined): number | undefined {
  const error = response?.error;
  return isPlainObject(error) && typeof error.code === "number"
    ? error.code
    : undefined;
}

function errorMessage(response: Message | undefined): string {
  const error = response?.error;
  return isPlainObject(error) ? String(error.message) : "";
}

/** Why `params` are not a `tools/call` of `tool`, or undefined when they are. */
function badToolCall(params: unknown, tool: string): string | undefined {
  if (!isPlainObject(params)) return "params are not an object";
  if (params.name !== tool) return "another tool's name";
  if ("arguments" in params && !isPlainObject(params.arguments)) {
    return "arguments are not an object";
  }
  if ("_meta" in params) {
    const meta = params._meta;
    if (!isPlainObject(meta)) return "_meta is not an object";
    if ("progressToken" in meta && !isRequestId(meta.progressToken)) {
      return "the progress token is neither a string nor an integer";
    }
  }
  return undefined;
}

/** Checks that hold for any body sent to an MCP endpoint. */
function checkJsonRpcRules(
  body: unknown,
  answer: HttpAnswer,
  tool: string,
): void {
  const responses = responsesOf(answer);
  for (const response of responses) {
    assert(
      errorCode(response) !== PARSE_ERROR,
      `valid JSON was answered as a parse error: ${answer.body.slice(0, 300)}`,
    );
  }
  if (Array.isArray(body) && body.length === 0) {
    assert(
      !answer.body.trimStart().startsWith("[") && responses.length === 1,
      `the empty batch must get one error, got: HTTP ${answer.status} ${answer.body}`,
    );
    assertEquals(errorCode(responses[0]), INVALID_REQUEST, answer.body);
  }
  if (Array.isArray(body)) {
    const ids = body.filter(isPlainObject).map((m) => m.id);
    for (const response of responses) {
      assert(
        response.id === null || ids.includes(response.id),
        `a batch answer has an id no request had: ${answer.body.slice(0, 300)}`,
      );
    }
  }
  if (!isPlainRequest(body)) return;
  assertEquals(responses.length, 1, `one answer to a request: ${answer.body}`);
  const [response] = responses;
  assertEquals(response!.id, body.id, `the answer's id: ${answer.body}`);
  if (body.method === "tools/call") {
    const bad = badToolCall(body.params, tool);
    if (bad === undefined) {
      assert(
        isPlainObject(response!.result),
        `a well-formed call of ${tool} was refused: ${answer.body}`,
      );
    } else {
      assertEquals(
        errorCode(response),
        INVALID_PARAMS,
        `a tools/call whose ${bad} must be -32602: ${answer.body}`,
      );
    }
  }
}

/**
 * POSTs `body` as JSON; returns the answer and the body as the gateway
 * reads it (after JSON.stringify: -0 is 0, undefined members are gone).
 */
async function post(
  target: FuzzTarget,
  where: Endpoint,
  body: unknown,
): Promise<{ answer: HttpAnswer; sent: unknown }> {
  const text = JSON.stringify(body);
  const answer = await postMcp(`${target.baseUrl}/mcp/${where}`, text, {
    apiKey: target.keys.alice,
  });
  return { answer, sent: JSON.parse(text) };
}

/** Leaves out generated bodies that hold a stack pattern (echoes would match). */
function echoSafe<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return arbitrary.filter((value) =>
    stackPattern(JSON.stringify(value) ?? "") === undefined
  );
}

/** A known method's params with exactly one member of the wrong type. */
interface MalformedParams {
  method: string;
  params: Message;
  /** The member that is wrong, as its key. */
  member: string;
}

const validInitialize = {
  protocolVersion: "2025-06-18",
  capabilities: {},
  clientInfo: { name: "fuzz", version: "1.0.0" },
};

const notString = jsonValue.filter((v) => typeof v !== "string");
const notObject = jsonValue.filter((v) => !isPlainObject(v));

function malformedParams(tool: string): fc.Arbitrary<MalformedParams> {
  return fc.oneof(
    notString.map((v) => ({
      method: "initialize",
      params: { ...validInitialize, protocolVersion: v },
      member: "protocolVersion",
    })),
    notObject.map((v) => ({
      method: "initialize",
      params: { ...validInitialize, capabilities: v },
      member: "capabilities",
    })),
    notObject.map((v) => ({
      method: "initialize",
      params: { ...validInitialize, clientInfo: v },
      member: "clientInfo",
    })),
    fc.tuple(fc.constantFrom("name", "version"), notString).map((
      [key, v],
    ) => ({
      method: "initialize",
      params: {
        ...validInitialize,
        clientInfo: { ...validInitialize.clientInfo, [key]: v },
      },
      member: key,
    })),
    notString.map((v) => ({
      method: "tools/call",
      params: { name: v, arguments: {} },
      member: "name",
    })),
    notObject.map((v) => ({
      method: "tools/call",
      params: { name: tool, arguments: v },
      member: "arguments",
    })),
    notString.map((v) => ({
      method: "tools/list",
      params: { cursor: v },
      member: "cursor",
    })),
    notObject.map((v) => ({
      method: "ping",
      params: { _meta: v },
      member: "_meta",
    })),
  );
}

Deno.test({
  name:
    "fuzz: JSON-RPC bodies are answered by the rules of JSON-RPC 2.0 and MCP, never with an internal error",
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const target = await startFuzzTarget({ env: { EXECUTOR_WARM_MAX: "0" } });
  try {
    await t.step("any message, batch or JSON value", async () => {
      await checkProperty(
        "JSON-RPC messages",
        fc.asyncProperty(
          endpoint,
          echoSafe(jsonRpcBody),
          (where, body) =>
            target.runCase(async () => {
              const { answer, sent } = await post(target, where, body);
              target.checkAnswer(answer, {
                method: "POST",
                path: `/mcp/${where}`,
              });
              checkJsonRpcRules(sent, answer, ENDPOINT_TOOL[where]);
            }),
        ),
        { defaultRuns: 1200, file: import.meta.url },
      );
    });

    await t.step("batches of 0 to 5 members", async () => {
      await checkProperty(
        "JSON-RPC batches",
        fc.asyncProperty(
          endpoint,
          echoSafe(jsonRpcBatch),
          (where, batch) =>
            target.runCase(async () => {
              const { answer, sent } = await post(target, where, batch);
              target.checkAnswer(answer, {
                method: "POST",
                path: `/mcp/${where}`,
              });
              checkJsonRpcRules(sent, answer, ENDPOINT_TOOL[where]);
            }),
        ),
        { defaultRuns: 400, file: import.meta.url },
      );
    });

    await t.step(
      "initialize succeeds exactly when its params are well typed",
      async () => {
        await checkProperty(
          "initialize",
          fc.asyncProperty(
            endpoint,
            requestId,
            echoSafe(initializeParams),
            (where, id, params) =>
              target.runCase(async () => {
                const { protocolVersion, capabilities, clientInfo } = params;
                const wrong: string[] = [];
                if (typeof protocolVersion !== "string") {
                  wrong.push("protocolVersion");
                }
                if (!isPlainObject(capabilities)) wrong.push("capabilities");
                if (
                  !isPlainObject(clientInfo) ||
                  typeof clientInfo.name !== "string" ||
                  typeof clientInfo.version !== "string"
                ) wrong.push("clientInfo");
                // Known capability names with random values may or may not be
                // valid: such params are held to the common rules only.
                const uncertain = isPlainObject(capabilities) &&
                  Object.keys(capabilities).some((k) =>
                    KNOWN_CAPABILITIES.includes(k)
                  );
                const body = {
                  jsonrpc: "2.0",
                  id,
                  method: "initialize",
                  params,
                };
                const { answer, sent } = await post(target, where, body);
                target.checkAnswer(answer, {
                  method: "POST",
                  path: `/mcp/${where}`,
                });
                const [response] = responsesOf(answer);
                assertEquals(response?.id, (sent as Message).id, answer.body);
                if (wrong.length === 0 && !uncertain) {
                  const result = response?.result;
                  assert(
                    isPlainObject(result) &&
                      (PROTOCOL_VERSIONS as readonly unknown[]).includes(
                        result.protocolVersion,
                      ),
                    `well-typed initialize params were refused: ${answer.body}`,
                  );
                } else if (wrong.length > 0) {
                  assertEquals(
                    errorCode(response),
                    INVALID_PARAMS,
                    answer.body,
                  );
                  assert(
                    wrong.some((member) =>
                      errorMessage(response).includes(member)
                    ),
                    `the message names none of ${
                      wrong.join(", ")
                    }: ${answer.body}`,
                  );
                }
              }),
          ),
          { defaultRuns: 300, file: import.meta.url },
        );
      },
    );

    await t.step(
      "one malformed member of a known method's params is -32602 naming it",
      async () => {
        await checkProperty(
          "malformed params",
          fc.asyncProperty(
            endpoint.chain((where) =>
              fc.tuple(
                fc.constant(where),
                echoSafe(malformedParams(ENDPOINT_TOOL[where])),
                requestId,
              )
            ),
            ([where, { method, params, member }, id]) =>
              target.runCase(async () => {
                const body = { jsonrpc: "2.0", id, method, params };
                const { answer, sent } = await post(target, where, body);
                target.checkAnswer(answer, {
                  method: "POST",
                  path: `/mcp/${where}`,
                });
                const [response] = responsesOf(answer);
                assertEquals(response?.id, (sent as Message).id, answer.body);
                assertEquals(errorCode(response), INVALID_PARAMS, answer.body);
                assert(
                  errorMessage(response).includes(member),
                  `the message does not name "${member}": ${answer.body}`,
                );
              }),
          ),
          { defaultRuns: 300, file: import.meta.url },
        );
      },
    );

    await target.finish();
  } finally {
    await target.stop();
  }
});
