/**
 * Malformed requests from a hostile or broken client, through the real app
 * (`createApp()` over the services a gateway builds) with the CCP emulator
 * behind it: bad characters in tool arguments are input errors naming the
 * argument; malformed JSON-RPC gets `-32600` / `-32602` with a readable
 * message, never `-32603` with a schema dump; an empty batch is an error.
 * None of them writes an ERROR line or asks the CCP anything.
 */
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { captureLogLines } from "../support/log_lines.ts";
import { type CcpFixture, startCcpFixture } from "../support/ccp_fixture.ts";
import { createApp } from "../../gateway/app.ts";
import { createCcpClient } from "../../gateway/ccp_setup.ts";
import { loadConfig } from "../../gateway/config/mod.ts";
import { createServices } from "../../gateway/services.ts";

const SAFE = "BARS-DB";
const OBJECT = "bars-pg";
const SECRET = `bars-${crypto.randomUUID()}`;
/** A handle of the right form that no vault issued. */
const FAKE_HANDLE = `secret://${"A".repeat(43)}`;
const HOST = "localhost:8443";
const JSON_RPC_HEADERS = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
};

type App = ReturnType<typeof createApp>;

interface Gateway {
  readonly app: App;
  readonly ccp: CcpFixture;
}

/** Runs `fn` against the app of a gateway whose CCP is the emulator. */
async function withGateway(fn: (g: Gateway) => Promise<void>): Promise<void> {
  const ccp = await startCcpFixture(SAFE, [{
    Name: OBJECT,
    Content: SECRET,
    UserName: "bars",
    Address: "127.0.0.1",
    PolicyID: "PostgreSQL",
  }]);
  try {
    const config = loadConfig({
      // No executor is started ahead for the one handle issued here.
      // No host key lookup: the unknown handle is what stops a call that
      // passes the character rules.
      env: {
        ...ccp.gatewayEnv,
        EXECUTOR_WARM_MAX: "0",
        SSH_KNOWN_HOSTS: "disable",
      },
      home: "/nonexistent",
    });
    const client = await createCcpClient(config.cyberark);
    const running = await createServices(config, client);
    try {
      await fn({ app: createApp(running.services), ccp });
    } finally {
      client.close();
      await running.close();
    }
  } finally {
    await ccp.close();
  }
}

/** POSTs `body` (sent as it is) to an endpoint with the fixture's key. */
function post(
  g: Gateway,
  endpoint: string,
  body: string,
  headers: Record<string, string> = JSON_RPC_HEADERS,
): Promise<Response> {
  return Promise.resolve(g.app.request(
    `/mcp/${endpoint}`,
    {
      method: "POST",
      headers: { host: HOST, "x-api-key": g.ccp.key, ...headers },
      body,
    },
    { remoteAddr: { transport: "tcp", hostname: "10.0.0.9", port: 50123 } },
  ));
}

/** A `tools/call` body; JSON.stringify writes a lone surrogate as `\ud800`. */
function toolCall(name: string, args: Record<string, unknown>): string {
  return JSON.stringify({
    jsonrpc: "2.0",
    id: 7,
    method: "tools/call",
    params: { name, arguments: args },
  });
}

/** The text of a tool error answered to a tools/call. */
async function toolErrorText(response: Response): Promise<string> {
  assertEquals(response.status, 200);
  const body = await response.json();
  assertEquals(body.id, 7);
  assertEquals(body.result?.isError, true, JSON.stringify(body));
  return body.result.content[0].text;
}

/** A message a person can read: no schema dump, stack or source path. */
function assertReadable(message: string): void {
  for (
    const sign of ["Zod", "[{", "[\n", "\n", "file:", ".ts:", "node_modules"]
  ) {
    assert(!message.includes(sign), `${JSON.stringify(sign)} in: ${message}`);
  }
  assert(!/^\s*at /m.test(message), `a stack in: ${message}`);
  assert(message.length < 300, `too long: ${message}`);
}

/** Runs `fn` and checks that it wrote no ERROR line; returns the lines. */
async function withoutErrorLines(
  fn: () => Promise<void>,
): Promise<Record<string, unknown>[]> {
  const lines = await captureLogLines(fn);
  const errors = lines.filter((line) => line.level === "error");
  assertEquals(errors, [], "no ERROR line for bad input");
  return lines;
}

// ---------------------------------------------------------------------------
// Defect 1: characters in tool arguments

const SURROGATE_TEXT = (argument: string, at: number): string =>
  `Invalid ${argument}: it contains a lone UTF-16 surrogate (not valid Unicode) at character ${at}; send it as well-formed Unicode text`;

Deno.test("get_credential: a lone surrogate in safe, object_name, folder or reason is an input error naming it; no ERROR line, the CCP is not asked", async () => {
  await withGateway(async (g) => {
    const valid = { safe: SAFE, object_name: OBJECT };
    await withoutErrorLines(async () => {
      for (
        const [argument, value, at] of [
          ["safe", "BARS-DB\ud800", 8],
          ["object_name", "\udc00bars-pg", 1],
          ["folder", "Root\ud800x", 5],
          ["reason", "\ud800", 1],
        ] as const
      ) {
        const text = await toolErrorText(
          await post(
            g,
            "cyberark",
            toolCall("get_credential", { ...valid, [argument]: value }),
          ),
        );
        assertEquals(text, SURROGATE_TEXT(argument, at));
        assertReadable(text);
      }
    });
    assertEquals(g.ccp.emulator.requests, 0, "nothing asked of the CCP");
    // The same gateway fetches a well-formed request: the count above means it.
    const text = (await (await post(
      g,
      "cyberark",
      toolCall("get_credential", {
        ...valid,
        reason: "ticket CHG-1 \u00e9\u{1f512}",
      }),
    )).json()).result.content[0].text;
    assertMatch(text, /^Handle: secret:\/\//);
    assertEquals(g.ccp.emulator.requests, 1);
  });
});

Deno.test("get_credential: control characters (C0, DEL, C1) in a name or the reason are input errors naming the code point; the CCP is not asked", async () => {
  await withGateway(async (g) => {
    const valid = { safe: SAFE, object_name: OBJECT };
    await withoutErrorLines(async () => {
      for (
        const [argument, value, code, at] of [
          ["object_name", "bars\u0085pg", "U+0085", 5],
          ["safe", "BARS\u009b", "U+009B", 5],
          ["folder", "Ro\u007fot", "U+007F", 3],
          ["reason", "ticket\u0000", "U+0000", 7],
          ["reason", "\u0090", "U+0090", 1],
        ] as const
      ) {
        const text = await toolErrorText(
          await post(
            g,
            "cyberark",
            toolCall("get_credential", { ...valid, [argument]: value }),
          ),
        );
        assertEquals(
          text,
          `Invalid ${argument}: it contains a control character (${code}) at character ${at}; remove it (${argument} is a name or one line of plain text)`,
        );
      }
    });
    assertEquals(g.ccp.emulator.requests, 0);
  });
});

/** Well-formed arguments of each target tool, with a handle no vault issued. */
const TARGET_CALLS: readonly {
  endpoint: string;
  tool: string;
  args: Record<string, unknown>;
  /** The argument holding the command, script or query. */
  text: string;
}[] = [
  {
    endpoint: "ssh",
    tool: "ssh_execute",
    args: { host: "127.0.0.1", command: "uptime", secret_handle: FAKE_HANDLE },
    text: "command",
  },
  {
    endpoint: "powershell",
    tool: "ps_execute",
    args: { host: "127.0.0.1", script: "Get-Date", secret_handle: FAKE_HANDLE },
    text: "script",
  },
  {
    endpoint: "database",
    tool: "db_query",
    args: {
      host: "127.0.0.1",
      database: "bars",
      db_type: "postgres",
      query: "select 1",
      secret_handle: FAKE_HANDLE,
    },
    text: "query",
  },
];

Deno.test("target tools: a lone surrogate in any string argument is an input error naming it, before the handle is looked at", async () => {
  await withGateway(async (g) => {
    const lines = await withoutErrorLines(async () => {
      for (const call of TARGET_CALLS) {
        for (const [argument, value] of Object.entries(call.args)) {
          if (typeof value !== "string" || argument === "db_type") continue;
          const text = await toolErrorText(
            await post(
              g,
              call.endpoint,
              toolCall(call.tool, {
                ...call.args,
                [argument]: `${value}\ud83d`,
              }),
            ),
          );
          assertEquals(
            text,
            `${
              SURROGATE_TEXT(argument, [...value].length + 1)
            }; the handle was not used`,
            `${call.tool} ${argument}`,
          );
        }
      }
    });
    // Refused before the handle was checked: no handle_refused line.
    assertEquals(lines.filter((line) => line.logger === "audit"), []);
  });
});

Deno.test("target tools: NUL is refused in a command, script or query; C0/C1 controls in host, database and secret_handle; newlines and tabs pass in text", async () => {
  await withGateway(async (g) => {
    await withoutErrorLines(async () => {
      for (const call of TARGET_CALLS) {
        const nul = await toolErrorText(
          await post(
            g,
            call.endpoint,
            toolCall(call.tool, { ...call.args, [call.text]: "a\u0000b" }),
          ),
        );
        assertEquals(
          nul,
          `Invalid ${call.text}: it contains a control character (U+0000) at character 2; remove it (no target takes a NUL in a ${call.text}); the handle was not used`,
        );
        for (const argument of ["host", "secret_handle", "database"]) {
          if (!(argument in call.args)) continue;
          const text = await toolErrorText(
            await post(
              g,
              call.endpoint,
              toolCall(call.tool, { ...call.args, [argument]: "x\u0085" }),
            ),
          );
          assertEquals(
            text,
            `Invalid ${argument}: it contains a control character (U+0085) at character 2; remove it (${argument} is a name or one line of plain text); the handle was not used`,
          );
        }
        // Multi-line text passes the character rules (the unknown handle stops it).
        const multiLine = await toolErrorText(
          await post(
            g,
            call.endpoint,
            toolCall(call.tool, { ...call.args, [call.text]: "a\n\tb\r\n" }),
          ),
        );
        assert(!multiLine.startsWith("Invalid"), multiLine);
      }
    });
  });
});

// ---------------------------------------------------------------------------
// Defect 3: malformed parameters

interface ParamsCase {
  readonly endpoint?: string;
  readonly body: unknown;
  readonly message: string;
}

const INITIALIZE_OK = {
  protocolVersion: "2025-06-18",
  capabilities: {},
  clientInfo: { name: "t", version: "1" },
};

const PARAMS_CASES: readonly ParamsCase[] = [
  ...[null, [], "x", 5].map((args) => ({
    body: { name: "get_credential", arguments: args },
    message: 'Invalid params for tools/call: "arguments" must be an object',
  })),
  {
    body: { arguments: {} },
    message: 'Invalid params for tools/call: "name" is missing (a string)',
  },
  ...[5, null, true].map((name) => ({
    body: { name, arguments: {} },
    message: 'Invalid params for tools/call: "name" must be a string',
  })),
  {
    body: { name: "ssh_execute", arguments: {} },
    message: 'Unknown tool: "ssh_execute"; this endpoint serves get_credential',
  },
  {
    endpoint: "database",
    body: { name: "no\u0000such\ud800tool", arguments: {} },
    message:
      'Unknown tool: "no\\u{0}such\\u{d800}tool"; this endpoint serves db_query',
  },
  {
    body: {
      name: "get_credential",
      arguments: {},
      _meta: { progressToken: {} },
    },
    message:
      'Invalid params for tools/call: "_meta.progressToken" has the wrong type',
  },
];

Deno.test("tools/call with malformed params answers -32602 with a short readable message, never -32603 or a schema dump", async () => {
  await withGateway(async (g) => {
    await withoutErrorLines(async () => {
      for (const { endpoint, body, message } of PARAMS_CASES) {
        const response = await post(
          g,
          endpoint ?? "cyberark",
          JSON.stringify({
            jsonrpc: "2.0",
            id: 3,
            method: "tools/call",
            params: body,
          }),
        );
        assertEquals(response.status, 200, message);
        assertEquals(response.headers.get("content-type"), "application/json");
        assertEquals(await response.json(), {
          jsonrpc: "2.0",
          id: 3,
          error: { code: -32602, message },
        });
        assertReadable(message);
      }
    });
    assertEquals(g.ccp.emulator.requests, 0);
  });
});

Deno.test("a tools/call that asks for progress is refused the same way, as JSON rather than an event stream", async () => {
  await withGateway(async (g) => {
    const response = await post(
      g,
      "cyberark",
      JSON.stringify({
        jsonrpc: "2.0",
        id: "p",
        method: "tools/call",
        params: {
          name: "get_credential",
          arguments: null,
          _meta: { progressToken: "t1" },
        },
      }),
    );
    assertEquals(response.status, 200);
    assertEquals(response.headers.get("content-type"), "application/json");
    assertEquals(await response.json(), {
      jsonrpc: "2.0",
      id: "p",
      error: {
        code: -32602,
        message: 'Invalid params for tools/call: "arguments" must be an object',
      },
    });
  });
});

Deno.test("initialize, tools/list and ping with params of the wrong type answer -32602; an unknown method -32601", async () => {
  const cases: [string, unknown, number, string][] = [
    [
      "initialize",
      { protocolVersion: 5, capabilities: "x" },
      -32602,
      'Invalid params for initialize: "protocolVersion" must be a string; "capabilities" must be an object; "clientInfo" is missing (an object)',
    ],
    [
      "initialize",
      { ...INITIALIZE_OK, clientInfo: { name: "t" } },
      -32602,
      'Invalid params for initialize: "clientInfo.version" is missing (a string)',
    ],
    [
      "initialize",
      undefined,
      -32602,
      'Invalid params for initialize: "params" is missing (an object)',
    ],
    [
      "tools/list",
      5,
      -32602,
      'Invalid params for tools/list: "params" must be an object',
    ],
    [
      "tools/list",
      [],
      -32602,
      'Invalid params for tools/list: "params" must be an object',
    ],
    [
      "tools/list",
      { cursor: 5 },
      -32602,
      'Invalid params for tools/list: "cursor" must be a string',
    ],
    [
      "ping",
      "x",
      -32602,
      'Invalid params for ping: "params" must be an object',
    ],
    ["resources/list", {}, -32601, "Method not found"],
  ];
  await withGateway(async (g) => {
    await withoutErrorLines(async () => {
      for (const [method, params, code, message] of cases) {
        const response = await post(
          g,
          "ssh",
          JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
        );
        assertEquals(response.status, 200, message);
        assertEquals(await response.json(), {
          jsonrpc: "2.0",
          id: 1,
          error: { code, message },
        });
        assertReadable(message);
      }
    });
  });
});

// ---------------------------------------------------------------------------
// Defect 4: batches and bodies that are not messages

/** The whole answer to a body refused as a message: HTTP 400, id null. */
async function assertRefused(
  response: Response,
  code: number,
  message: string,
): Promise<void> {
  assertEquals(response.status, 400, message);
  assertEquals(response.headers.get("content-type"), "application/json");
  assertEquals(
    await response.text(),
    JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }),
  );
}

Deno.test("an empty batch gets HTTP 400 and one Invalid Request error", async () => {
  await withGateway(async (g) => {
    await withoutErrorLines(async () => {
      for (const endpoint of ["cyberark", "ssh", "powershell", "database"]) {
        const response = await post(g, endpoint, "[]");
        assertEquals(response.status, 400);
        assertEquals(
          await response.text(),
          '{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request: empty batch"},"id":null}',
        );
      }
    });
  });
});

Deno.test("JSON that is not a message, a batch with a bad member, a bad jsonrpc or id get -32600; invalid JSON -32700", async () => {
  const list = { jsonrpc: "2.0", id: 1, method: "tools/list" };
  const cases: [string, number, string][] = [
    [
      "5",
      -32600,
      "Invalid Request: a JSON-RPC message must be an object, not a number",
    ],
    [
      '"x"',
      -32600,
      "Invalid Request: a JSON-RPC message must be an object, not a string",
    ],
    [
      "null",
      -32600,
      "Invalid Request: a JSON-RPC message must be an object, not null",
    ],
    [
      "true",
      -32600,
      "Invalid Request: a JSON-RPC message must be an object, not a boolean",
    ],
    [
      "[1,2]",
      -32600,
      "Invalid Request: a JSON-RPC message must be an object, not a number (batch member 1)",
    ],
    [
      JSON.stringify([list, [list]]),
      -32600,
      "Invalid Request: a JSON-RPC message must be an object, not an array (batch member 2)",
    ],
    [
      JSON.stringify([list, { ...list, jsonrpc: "1.0" }]),
      -32600,
      'Invalid Request: "jsonrpc" must be "2.0" (batch member 2)',
    ],
    [
      JSON.stringify([list, {
        ...list,
        method: "tools/call",
        params: { name: "get_credential", arguments: null },
      }]),
      -32602,
      'Invalid params for tools/call: "arguments" must be an object (batch member 2)',
    ],
    [
      JSON.stringify({ id: 1, method: "tools/list" }),
      -32600,
      'Invalid Request: "jsonrpc" must be "2.0"',
    ],
    [
      JSON.stringify({ ...list, id: null }),
      -32600,
      'Invalid Request: "id" must be a string or an integer',
    ],
    [
      JSON.stringify({ ...list, id: 1.5 }),
      -32600,
      'Invalid Request: "id" must be a string or an integer',
    ],
    [
      JSON.stringify({ ...list, id: undefined, method: 5 }),
      -32600,
      'Invalid Request: "method" must be a string',
    ],
    [
      JSON.stringify({ ...list, id: undefined, extra: 1 }),
      -32600,
      'Invalid Request: not a JSON-RPC 2.0 request, notification or response (unknown member "extra")',
    ],
    ["{bad", -32700, "Parse error: Invalid JSON"],
  ];
  await withGateway(async (g) => {
    await withoutErrorLines(async () => {
      for (const [body, code, message] of cases) {
        await assertRefused(await post(g, "cyberark", body), code, message);
        assertReadable(message);
      }
    });
    assertEquals(g.ccp.emulator.requests, 0);
  });
});

Deno.test("well-formed bodies still reach the SDK: a batch of valid messages, a notification, and header checks before body checks", async () => {
  const list = { jsonrpc: "2.0", id: 1, method: "tools/list" };
  await withGateway(async (g) => {
    // Batches (dropped from MCP in 2025-06-18) are still served to older clients.
    const batch = await post(
      g,
      "cyberark",
      JSON.stringify([list, { ...list, id: 2, method: "ping" }]),
    );
    assertEquals(batch.status, 200);
    const answers = await batch.json();
    assertEquals(answers.map((a: { id: number }) => a.id).sort(), [1, 2]);
    const notification = await post(
      g,
      "cyberark",
      JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
    );
    assertEquals(notification.status, 202);
    await notification.body?.cancel();
    // The SDK answers a request that does not accept event streams first.
    const notAcceptable = await post(g, "cyberark", "[]", {
      "content-type": "application/json",
      accept: "application/json",
    });
    assertEquals(notAcceptable.status, 406);
    await notAcceptable.body?.cancel();
    const initialize = await post(
      g,
      "cyberark",
      JSON.stringify({ ...list, method: "initialize", params: INITIALIZE_OK }),
    );
    assertEquals(initialize.status, 200);
    assertEquals(
      (await initialize.json()).result.protocolVersion,
      "2025-06-18",
    );
  });
});
