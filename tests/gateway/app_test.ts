/**
 * The gateway's HTTP rules, through `app.request()` on the real app with
 * in-memory services: nothing listens on a port and no process is spawned.
 */
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";
import { assert, assertEquals } from "../support/assert.ts";
import { assertAuditLine, captureLogLines } from "../support/log_lines.ts";
import { createApp } from "../../gateway/app.ts";
import { createServices } from "../../gateway/services.ts";
import { createCcpClient } from "../../gateway/ccp_setup.ts";
import {
  apiKeyDigest,
  loadConfig,
  unnamedKeyName,
} from "../../gateway/config/mod.ts";
import { ApiKeyVerifier } from "../../gateway/http/api_key_auth.ts";

const KEY = "k".repeat(8) + "0123456789abcdef0123456789abcdef";
const BASE_ENV: Record<string, string> = {
  MCP_API_KEYS: KEY,
  CYBERARK_CCP_URL:
    "https://cyberark.example.internal/AIMWebService/api/Accounts",
  CYBERARK_APP_ID: "MCP-Privileged-Service",
};
const HOST = "localhost:8443";
const PEER = "10.0.0.9";
const JSON_RPC_HEADERS = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
};
const TOOLS_LIST = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "tools/list",
});
const UNAUTHORIZED =
  '{"error":"unauthorized","message":"Missing or invalid X-API-Key header; use a key from MCP_API_KEYS"}';

type App = ReturnType<typeof createApp>;

interface Call {
  method?: string;
  headers?: Record<string, string>;
  body?: BodyInit;
  /** The socket peer Deno.serve would report. */
  peer?: string;
}

/** Runs `fn` against an app built from `env` over in-memory services. */
async function withApp(
  env: Record<string, string>,
  fn: (app: App) => Promise<void>,
): Promise<void> {
  const config = loadConfig({
    env: { ...BASE_ENV, ...env },
    home: "/nonexistent",
  });
  const ccp = await createCcpClient(config.cyberark);
  const running = await createServices(config, ccp);
  try {
    await fn(createApp(running.services));
  } finally {
    ccp.close();
    await running.close();
  }
}

/** Sends one request as Deno.serve would hand it over (Host set, peer bound). */
function send(app: App, path: string, call: Call = {}): Promise<Response> {
  return Promise.resolve(app.request(
    path,
    {
      method: call.method ?? "POST",
      headers: { host: HOST, ...call.headers },
      ...(call.body === undefined ? {} : { body: call.body }),
    },
    {
      remoteAddr: {
        transport: "tcp",
        hostname: call.peer ?? PEER,
        port: 50123,
      },
    },
  ));
}

/** A JSON-RPC POST with a valid key. */
function rpc(app: App, path: string, body: string): Promise<Response> {
  return send(app, path, {
    headers: { ...JSON_RPC_HEADERS, "x-api-key": KEY },
    body,
  });
}

function chunked(text: string, chunkBytes: number): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  return new ReadableStream({
    pull(controller): void {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(offset, offset + chunkBytes));
      offset += chunkBytes;
    },
  });
}

async function assertJsonResponse(
  response: Response,
  status: number,
  body: string,
): Promise<void> {
  assertEquals(response.status, status);
  assertEquals(response.headers.get("content-type"), "application/json");
  assertEquals(await response.text(), body);
}

Deno.test("app: GET /health answers ok without a key or an allowed Host", async () => {
  await withApp({}, async (app) => {
    for (const host of [HOST, "attacker.example"]) {
      const response = await send(app, "/health", {
        method: "GET",
        headers: { host },
      });
      await assertJsonResponse(response, 200, '{"status":"ok"}');
    }
  });
});

Deno.test("app: a missing or wrong X-API-Key gets 401 and one auth_failure audit line with client_ip", async () => {
  await withApp({}, async (app) => {
    const lines = await captureLogLines(async () => {
      for (const key of [undefined, "", `${KEY}x`, KEY.slice(1)]) {
        const response = await send(app, "/mcp/ssh", {
          headers: {
            ...JSON_RPC_HEADERS,
            ...(key === undefined ? {} : { "x-api-key": key }),
          },
          body: TOOLS_LIST,
        });
        await assertJsonResponse(response, 401, UNAUTHORIZED);
      }
    });
    assertEquals(lines.length, 4);
    for (const line of lines) {
      assertAuditLine(line, "auth_failure", {
        level: "warning",
        fields: ["reason", "client_ip", "path"],
      });
      assertEquals(line.reason, "invalid_or_missing_api_key");
      assertEquals(line.client_ip, PEER);
      assertEquals(line.path, "/mcp/ssh");
    }
    assert(!JSON.stringify(lines).includes(KEY), "no key in the audit line");
  });
});

const RATE_LIMITED_429 = (retryAfter: number): string =>
  `{"error":"rate_limited","message":"Too many failed authentications from this address (AUTH_FAILURE_LIMIT=3 per AUTH_FAILURE_WINDOW_SECONDS=3600); retry after ${retryAfter} seconds with a key from MCP_API_KEYS"}`;

/** Sends tools/list with `key` (none when undefined) from `peer`. */
function listWith(
  app: App,
  key: string | undefined,
  peer: string = PEER,
): Promise<Response> {
  return send(app, "/mcp/ssh", {
    headers: {
      ...JSON_RPC_HEADERS,
      ...(key === undefined ? {} : { "x-api-key": key }),
    },
    body: TOOLS_LIST,
    peer,
  });
}

Deno.test("app: AUTH_FAILURE_LIMIT failures from one address get 429 with Retry-After and a rate_limited line, a correct key too, without comparing it", async () => {
  // A window no test run outlasts: the block never ends while the test runs.
  const env = { AUTH_FAILURE_LIMIT: "3", AUTH_FAILURE_WINDOW_SECONDS: "3600" };
  await withApp(env, async (app) => {
    const verify = ApiKeyVerifier.prototype.verify;
    let compared = 0;
    ApiKeyVerifier.prototype.verify = function (
      presented: string | undefined | null,
    ): string | undefined {
      compared++;
      return verify.call(this, presented);
    };
    try {
      const lines = await captureLogLines(async () => {
        for (const key of [undefined, `${KEY}x`, "wrong"]) {
          const response = await listWith(app, key);
          await assertJsonResponse(response, 401, UNAUTHORIZED);
        }
        assertEquals(compared, 3);
        for (const key of ["wrong", KEY]) {
          const response = await listWith(app, key);
          assertEquals(response.status, 429);
          const retryAfter = Number(response.headers.get("retry-after"));
          assert(
            Number.isInteger(retryAfter) && retryAfter > 0 &&
              retryAfter <= 3600,
            `Retry-After ${retryAfter}`,
          );
          await assertJsonResponse(response, 429, RATE_LIMITED_429(retryAfter));
        }
        assertEquals(compared, 3, "no key is compared while blocked");
        const other = await listWith(app, KEY, "10.0.0.10");
        assertEquals(other.status, 200, "another address is not blocked");
        await other.body?.cancel();
      });
      assertEquals(lines.map((line) => line.event), [
        "auth_failure",
        "auth_failure",
        "auth_failure",
        "rate_limited",
        "rate_limited",
      ]);
      for (const line of lines.slice(3)) {
        assertAuditLine(line, "rate_limited", {
          level: "warning",
          fields: ["reason", "client_ip", "path", "retry_after_seconds"],
        });
        assertEquals(line.reason, "auth_failures");
        assertEquals(line.client_ip, PEER);
        assertEquals(line.path, "/mcp/ssh");
        assert(typeof line.retry_after_seconds === "number");
      }
      assert(!JSON.stringify(lines).includes(KEY), "no key in an audit line");
    } finally {
      ApiKeyVerifier.prototype.verify = verify;
    }
  });
});

Deno.test("app: successful authentications do not count toward AUTH_FAILURE_LIMIT", async () => {
  const env = { AUTH_FAILURE_LIMIT: "2", AUTH_FAILURE_WINDOW_SECONDS: "3600" };
  await withApp(env, async (app) => {
    for (let i = 0; i < 5; i++) {
      const ok = await listWith(app, KEY);
      assertEquals(ok.status, 200);
      await ok.body?.cancel();
    }
    await assertJsonResponse(await listWith(app, "wrong"), 401, UNAUTHORIZED);
    const ok = await listWith(app, KEY);
    assertEquals(ok.status, 200, "one failure and five successes: not blocked");
    await ok.body?.cancel();
    await assertJsonResponse(await listWith(app, "wrong"), 401, UNAUTHORIZED);
    assertEquals((await listWith(app, KEY)).status, 429);
  });
});

Deno.test("app: AUTH_FAILURE_LIMIT=0 never blocks", async () => {
  await withApp({ AUTH_FAILURE_LIMIT: "0" }, async (app) => {
    for (let i = 0; i < 30; i++) {
      await assertJsonResponse(await listWith(app, "wrong"), 401, UNAUTHORIZED);
    }
    const ok = await listWith(app, KEY);
    assertEquals(ok.status, 200);
    await ok.body?.cancel();
  });
});

Deno.test("app: a Host outside ALLOWED_HOSTS gets 403 before the key is checked", async () => {
  await withApp({ ALLOWED_HOSTS: "mcp.example.internal" }, async (app) => {
    const lines = await captureLogLines(async () => {
      const response = await send(app, "/mcp/cyberark", {
        headers: { host: "evil.example" },
        body: TOOLS_LIST,
      });
      await assertJsonResponse(
        response,
        403,
        '{"error":"forbidden","message":"Host \\"evil.example\\" is not allowed; add the name clients use to ALLOWED_HOSTS"}',
      );
    });
    assertEquals(lines, [], "a refused Host writes no auth_failure line");
    const allowed = await rpc(app, "/mcp/cyberark", TOOLS_LIST);
    assertEquals(allowed.status, 403, "localhost is not in this list");
    await allowed.body?.cancel();
    const named = await send(app, "/mcp/cyberark", {
      headers: {
        ...JSON_RPC_HEADERS,
        host: "MCP.example.internal:8443",
        "x-api-key": KEY,
      },
      body: TOOLS_LIST,
    });
    assertEquals(named.status, 200);
    await named.body?.cancel();
  });
});

Deno.test("app: DNS-rebinding Hosts get 403 even with a valid key", async () => {
  await withApp({}, async (app) => {
    for (
      const host of [
        "attacker.example:8443",
        "localhost.attacker.example",
        "127.0.0.1.nip.io",
        "evil.example@localhost",
        "",
      ]
    ) {
      const response = await send(app, "/mcp/cyberark", {
        headers: { ...JSON_RPC_HEADERS, host, "x-api-key": KEY },
        body: TOOLS_LIST,
      });
      assertEquals(response.status, 403, host);
      const body = await response.json();
      assertEquals(body.error, "forbidden");
      assertEquals(
        body.message,
        `Host "${host}" is not allowed; add the name clients use to ALLOWED_HOSTS`,
      );
    }
    const none = await app.request("/mcp/cyberark", {
      method: "POST",
      headers: { "x-api-key": KEY },
    });
    await assertJsonResponse(
      none,
      403,
      '{"error":"forbidden","message":"Host \\"\\" is not allowed; add the name clients use to ALLOWED_HOSTS"}',
    );
  });
});

Deno.test("app: an Origin outside ALLOWED_HOSTS gets 403; an allowed or null Origin passes", async () => {
  await withApp({}, async (app) => {
    const foreign = await send(app, "/mcp/cyberark", {
      headers: {
        ...JSON_RPC_HEADERS,
        origin: "http://attacker.example",
        "x-api-key": KEY,
      },
      body: TOOLS_LIST,
    });
    await assertJsonResponse(
      foreign,
      403,
      '{"error":"forbidden","message":"Origin \\"http://attacker.example\\" is not allowed; add its host to ALLOWED_HOSTS"}',
    );
    const malformed = await send(app, "/mcp/cyberark", {
      headers: { origin: "not a url", "x-api-key": KEY },
      body: TOOLS_LIST,
    });
    await assertJsonResponse(
      malformed,
      403,
      '{"error":"forbidden","message":"Origin header is malformed"}',
    );
    for (const origin of ["http://localhost:3000", "null"]) {
      const response = await send(app, "/mcp/cyberark", {
        headers: { ...JSON_RPC_HEADERS, origin, "x-api-key": KEY },
        body: TOOLS_LIST,
      });
      assertEquals(response.status, 200, origin);
      await response.body?.cancel();
    }
  });
});

Deno.test("app: ALLOWED_HOSTS=* lets any Host and Origin through to the key check", async () => {
  await withApp({ ALLOWED_HOSTS: "*" }, async (app) => {
    const response = await send(app, "/mcp/cyberark", {
      headers: { host: "attacker.example", origin: "http://attacker.example" },
      body: TOOLS_LIST,
    });
    await assertJsonResponse(response, 401, UNAUTHORIZED);
  });
});

Deno.test("app: GET and DELETE on an MCP endpoint get 405 with Allow: POST, after the key check", async () => {
  await withApp({}, async (app) => {
    for (const method of ["GET", "DELETE"]) {
      const response = await send(app, "/mcp/database", {
        method,
        headers: { "x-api-key": KEY },
      });
      assertEquals(response.headers.get("allow"), "POST");
      await assertJsonResponse(
        response,
        405,
        '{"error":"method_not_allowed","message":"This MCP endpoint is stateless: send JSON-RPC requests with POST"}',
      );
      const anonymous = await send(app, "/mcp/database", { method });
      await assertJsonResponse(anonymous, 401, UNAUTHORIZED);
    }
  });
});

Deno.test("app: HEAD is answered as GET without a body: 405 on an MCP endpoint, 200 on /health", async () => {
  await withApp({}, async (app) => {
    const endpoint = await send(app, "/mcp/cyberark", {
      method: "HEAD",
      headers: { "x-api-key": KEY },
    });
    assertEquals(endpoint.status, 405);
    assertEquals(endpoint.headers.get("allow"), "POST");
    assertEquals(await endpoint.text(), "");
    const health = await send(app, "/health", { method: "HEAD" });
    assertEquals(health.status, 200);
    assertEquals(await health.text(), "");
  });
});

Deno.test("app: other methods and unknown paths get 404 once past the key check", async () => {
  await withApp({}, async (app) => {
    const notFound = '{"error":"not_found","message":"No such endpoint"}';
    for (
      const [method, path] of [
        ["PUT", "/mcp/cyberark"],
        ["PATCH", "/mcp/cyberark"],
        ["POST", "/mcp/vault"],
        ["GET", "/mcp/vault"],
        ["POST", "/health"],
        ["GET", "/"],
      ] as const
    ) {
      const response = await send(app, path, {
        method,
        headers: { "x-api-key": KEY },
      });
      await assertJsonResponse(response, 404, notFound);
    }
    const anonymous = await send(app, "/mcp/vault");
    await assertJsonResponse(anonymous, 401, UNAUTHORIZED);
  });
});

Deno.test("app: a body over MAX_REQUEST_BYTES gets 413, by Content-Length or by counting a chunked body", async () => {
  const tooLarge =
    '{"error":"payload_too_large","message":"Request body is larger than 1024 bytes (MAX_REQUEST_BYTES)"}';
  await withApp({ MAX_REQUEST_BYTES: "1024" }, async (app) => {
    const declared = await send(app, "/mcp/cyberark", {
      headers: {
        ...JSON_RPC_HEADERS,
        "x-api-key": KEY,
        "content-length": "1025",
      },
      body: "x".repeat(1025),
    });
    await assertJsonResponse(declared, 413, tooLarge);
    const streamed = await send(app, "/mcp/cyberark", {
      headers: { ...JSON_RPC_HEADERS, "x-api-key": KEY },
      body: chunked("x".repeat(4096), 100),
    });
    assertEquals(streamed.headers.get("content-length"), null);
    await assertJsonResponse(streamed, 413, tooLarge);
    const anonymous = await send(app, "/mcp/cyberark", {
      headers: { "content-length": "4096" },
      body: "x".repeat(4096),
    });
    await assertJsonResponse(anonymous, 401, UNAUTHORIZED);
  });
});

Deno.test("app: a chunked body of exactly MAX_REQUEST_BYTES reaches the MCP endpoint whole", async () => {
  await withApp({ MAX_REQUEST_BYTES: "1024" }, async (app) => {
    const body = TOOLS_LIST.padEnd(1024, " ");
    const response = await send(app, "/mcp/cyberark", {
      headers: { ...JSON_RPC_HEADERS, "x-api-key": KEY },
      body: chunked(body, 100),
    });
    assertEquals(response.status, 200);
    const json = await response.json();
    assertEquals(json.result.tools.map((t: { name: string }) => t.name), [
      "get_credential",
    ]);
  });
});

Deno.test("app: X-Forwarded-For names the client only when the peer is in TRUSTED_PROXIES", async () => {
  const clientIpOf = async (
    app: App,
    peer: string,
    forwardedFor: string,
  ): Promise<unknown> => {
    const lines = await captureLogLines(async () => {
      const response = await send(app, "/mcp/cyberark", {
        peer,
        headers: { "x-forwarded-for": forwardedFor },
      });
      assertEquals(response.status, 401);
      await response.body?.cancel();
    });
    assertEquals(lines.length, 1);
    return lines[0]!.client_ip;
  };
  await withApp({ TRUSTED_PROXIES: "127.0.0.1,10.1.0.0/16" }, async (app) => {
    assertEquals(
      await clientIpOf(app, "127.0.0.1", "203.0.113.7"),
      "203.0.113.7",
    );
    assertEquals(
      await clientIpOf(app, "127.0.0.1", "198.51.100.1, 203.0.113.7, 10.1.2.3"),
      "203.0.113.7",
      "the right-most untrusted hop",
    );
    assertEquals(
      await clientIpOf(app, "127.0.0.1", "not-an-ip"),
      "127.0.0.1",
      "a garbled list is not believed",
    );
    assertEquals(
      await clientIpOf(app, PEER, "203.0.113.7"),
      PEER,
      "an untrusted peer cannot set its address",
    );
  });
  await withApp({}, async (app) => {
    assertEquals(
      await clientIpOf(app, "127.0.0.1", "203.0.113.7"),
      "127.0.0.1",
    );
  });
});

Deno.test("app: initialize and tools/list succeed through each MCP endpoint", async () => {
  const expected = {
    cyberark: "get_credential",
    ssh: "ssh_execute",
    powershell: "ps_execute",
    database: "db_query",
  };
  await withApp({}, async (app) => {
    for (const [endpoint, tool] of Object.entries(expected)) {
      const init = await rpc(
        app,
        `/mcp/${endpoint}`,
        JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: {
            protocolVersion: LATEST_PROTOCOL_VERSION,
            capabilities: {},
            clientInfo: { name: "app_test", version: "1.0.0" },
          },
        }),
      );
      assertEquals(init.status, 200);
      assertEquals(init.headers.get("mcp-session-id"), null, "stateless");
      const initialized = await init.json();
      assertEquals(initialized.id, 1);
      assertEquals(
        initialized.result.serverInfo.name,
        `mcp-privileged-${endpoint}`,
      );
      assertEquals(initialized.result.protocolVersion, LATEST_PROTOCOL_VERSION);
      assert(initialized.result.capabilities.tools !== undefined);

      const list = await rpc(app, `/mcp/${endpoint}`, TOOLS_LIST);
      assertEquals(list.status, 200);
      const listed = await list.json();
      assertEquals(listed.result.tools.map((t: { name: string }) => t.name), [
        tool,
      ]);
    }
  });
});

Deno.test("app: a tool's audit line names the principal of the key and auth=api_key; auth_failure names none", async () => {
  const named = "n".repeat(8) + "fedcba9876543210fedcba9876543210";
  await withApp({ MCP_API_KEYS: `${KEY},ci-bot:${named}` }, async (app) => {
    const call = JSON.stringify({
      jsonrpc: "2.0",
      id: 2,
      method: "tools/call",
      params: {
        name: "ps_execute",
        arguments: {
          host: "127.0.0.1",
          script: "Get-Date",
          secret_handle: `secret://${"A".repeat(43)}`,
        },
      },
    });
    const lines = await captureLogLines(async () => {
      for (const key of [named, KEY, `${named}x`]) {
        const response = await send(app, "/mcp/powershell", {
          headers: { ...JSON_RPC_HEADERS, "x-api-key": key },
          body: call,
        });
        assertEquals(response.status, key === named || key === KEY ? 200 : 401);
        await response.body?.cancel();
      }
    });
    const audit = lines.filter((l) => l.logger === "audit");
    assertEquals(audit.map((l) => [l.event, l.principal, l.auth]), [
      ["handle_refused", "ci-bot", "api_key"],
      ["handle_refused", unnamedKeyName(KEY), "api_key"],
      ["auth_failure", undefined, undefined],
    ]);
    for (const line of audit) assertEquals(line.client_ip, PEER);
    const json = JSON.stringify(lines);
    for (const secret of [KEY, named, apiKeyDigest(KEY), apiKeyDigest(named)]) {
      assert(!json.includes(secret), "no key or digest in a log line");
    }
  });
});

Deno.test("app: get_credential over TOOL_CALL_LIMIT gets a tool error and a rate_limited line before the CCP is asked", async () => {
  const env = { TOOL_CALL_LIMIT: "1", TOOL_CALL_WINDOW_SECONDS: "3600" };
  await withApp(env, async (app) => {
    // A safe name with a leading space is refused as input, without the CCP.
    const call = JSON.stringify({
      jsonrpc: "2.0",
      id: 2,
      method: "tools/call",
      params: {
        name: "get_credential",
        arguments: { safe: " PROD-LINUX", object_name: "linux-root" },
      },
    });
    const texts: string[] = [];
    const lines = await captureLogLines(async () => {
      for (let i = 0; i < 2; i++) {
        const response = await rpc(app, "/mcp/cyberark", call);
        assertEquals(response.status, 200);
        const body = await response.json();
        assertEquals(body.result.isError, true);
        texts.push(body.result.content[0].text);
      }
    });
    assert(!texts[0]!.startsWith("Rate limit"), texts[0]);
    assert(
      /^Rate limit reached: principal "[^"]+" may make 1 tool calls per 3600 seconds \(TOOL_CALL_LIMIT, TOOL_CALL_WINDOW_SECONDS\); retry in \d+ seconds$/
        .test(texts[1]!),
      texts[1],
    );
    const limited = lines.filter((line) => line.event === "rate_limited");
    assertEquals(limited.length, 1);
    assertEquals(limited[0]!.reason, "tool_calls");
    assertEquals(limited[0]!.tool, "get_credential");
    assertEquals(limited[0]!.principal, unnamedKeyName(KEY));
    assertEquals(limited[0]!.safe, " PROD-LINUX");
  });
});
