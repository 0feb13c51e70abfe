/**
 * End to end: the real gateway process (`deno task start` with a .env file)
 * against the CCP emulator over HTTPS, driven by the MCP SDK client.
 */
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "../support/assert.ts";
import { startGateway } from "../support/gateway_process.ts";
import {
  assertAuditLine,
  assertNoLeak,
  CREDENTIAL_FETCHED_FIELDS,
} from "../support/log_lines.ts";
import {
  callToolOnce,
  connectMcp,
  postJsonRpc,
  resultText,
} from "../support/mcp_client.ts";
import { createTlsFixtures } from "../support/tls_fixtures.ts";
import {
  type EmulatorData,
  startCcpEmulator,
} from "../../emulator/ccp_emulator.ts";

const APP = "MCP-Privileged-Service";
const KEY_A = "a".repeat(8) + crypto.randomUUID().replaceAll("-", "");
const KEY_B = "b".repeat(8) + crypto.randomUUID().replaceAll("-", "");
const SECRETS = [
  `Linux-${crypto.randomUUID()}`,
  `Win-${crypto.randomUUID()}`,
  `Db-${crypto.randomUUID()}`,
];
const DATA: EmulatorData = {
  applications: [{ appId: APP, safes: ["PROD-LINUX", "WIN-SAFE", "DB-SAFE"] }],
  accounts: [
    {
      Content: SECRETS[0]!,
      Safe: "PROD-LINUX",
      Name: "linux-root",
      UserName: "root",
      Address: "server01.internal",
      PolicyID: "UnixSSH",
      Port: "2222",
      PasswordChangeInProcess: "False",
    },
    {
      Content: SECRETS[1]!,
      Safe: "WIN-SAFE",
      Name: "domain-admin",
      UserName: "Administrator",
      Address: "win-server01.internal",
      PolicyID: "WinDomain",
      LogonDomain: "CORP",
      PasswordChangeInProcess: "True",
    },
    {
      Content: SECRETS[2]!,
      Safe: "DB-SAFE",
      Name: "pg-reader",
      UserName: "db_reader",
      Address: "pg.internal",
      PolicyID: "PostgreSQL",
    },
  ],
};

async function rawHttp(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(request));
  const response = await new Response(conn.readable).text();
  return response;
}

Deno.test("gateway end to end: tools, get_credential, audit lines, 401s, and no secret in any log line", async (t) => {
  const tls = createTlsFixtures();
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/ca.pem`, tls.caCertPem);
  const emulator = await startCcpEmulator({
    data: DATA,
    tls: { certPem: tls.serverCertPem, keyPem: tls.serverKeyPem },
  });
  const gateway = await startGateway({
    MCP_API_KEYS: `agent-a:${KEY_A},${KEY_B}`,
    CYBERARK_CCP_URL: emulator.url,
    CYBERARK_APP_ID: APP,
    CYBERARK_VERIFY_SSL: `${dir}/ca.pem`,
    HANDLE_TTL_SECONDS: "120",
  });
  const handles: string[] = [];
  const cyberarkUrl = `${gateway.baseUrl}/mcp/cyberark`;
  try {
    await t.step("GET /health answers ok without a key", async () => {
      const response = await fetch(`${gateway.baseUrl}/health`);
      assertEquals(await response.json(), { status: "ok" });
    });

    await t.step(
      "every endpoint lists its tools over Streamable HTTP",
      async () => {
        const expected: Record<string, string[]> = {
          cyberark: ["get_credential"],
          ssh: ["ssh_execute"],
          powershell: ["ps_execute"],
          database: ["db_query"],
        };
        for (const [name, tools] of Object.entries(expected)) {
          const client = await connectMcp(
            `${gateway.baseUrl}/mcp/${name}`,
            KEY_B,
          );
          const listed = await client.listTools();
          await client.close();
          assertEquals(
            listed.tools.map((tool: { name: string }) => tool.name),
            tools,
          );
          if (name === "cyberark") {
            const tool = listed.tools[0]!;
            assertStringIncludes(tool.description ?? "", "single-use");
            assertEquals(
              Object.keys(tool.inputSchema.properties ?? {}).sort(),
              ["folder", "object_name", "reason", "safe"],
            );
            assertEquals(tool.inputSchema.required?.sort(), [
              "object_name",
              "safe",
            ]);
          }
        }
      },
    );

    await t.step(
      "get_credential returns a handle, never the secret, and audits credential_fetched",
      async () => {
        const result = await callToolOnce(cyberarkUrl, KEY_A, {
          name: "get_credential",
          arguments: { safe: "PROD-LINUX", object_name: "linux-root" },
        });
        const text = resultText(result);
        assertEquals(result.isError, undefined);
        const lines = text.split("\n");
        assertMatch(lines[0]!, /^Handle: secret:\/\/[A-Za-z0-9_-]{43}$/);
        assertEquals(lines[1], "Username: root");
        assertEquals(lines[2], "Address: server01.internal");
        assertEquals(
          lines[3],
          "Use with: ssh_execute on server01.internal:2222",
        );
        assertMatch(lines[4]!, /^Expires: in 120 seconds \(\d{4}-\d\d-\d\dT/);
        assertStringIncludes(lines[5]!, "Single-use: yes");
        for (const secret of SECRETS) assert(!text.includes(secret));
        const handle = lines[0]!.slice("Handle: ".length);
        handles.push(handle);

        const line = await gateway.waitFor((e) =>
          e.event === "credential_fetched"
        );
        assertAuditLine(line, "credential_fetched", {
          level: "info",
          fields: [...CREDENTIAL_FETCHED_FIELDS],
          anyOrder: true,
        });
        assertEquals(line.principal, "agent-a");
        assertEquals(line.auth, "api_key");
        assertEquals(line.app_id, APP);
        assertEquals(line.safe, "PROD-LINUX");
        assertEquals(line.object_name, "linux-root");
        assertEquals(line.ttl_seconds, 120);
        assertEquals(line.client_ip, "127.0.0.1");
        assertMatch(String(line.handle_id), /^[0-9a-f]{16}$/);
      },
    );

    await t.step(
      "get_credential notes a password change in progress",
      async () => {
        const result = await callToolOnce(cyberarkUrl, KEY_A, {
          name: "get_credential",
          arguments: {
            safe: "WIN-SAFE",
            object_name: "domain-admin",
            reason: "CHG-1234 patching",
          },
        });
        const text = resultText(result);
        handles.push(text.split("\n")[0]!.slice("Handle: ".length));
        assertStringIncludes(text, "Username: Administrator");
        assertStringIncludes(
          text,
          "\nUse with: ps_execute on win-server01.internal:5985 or 5986\n",
        );
        assertStringIncludes(text, "password change in progress");
      },
    );

    await t.step(
      "a CyberArk error becomes a tool error and a cyberark_error audit line",
      async () => {
        const client = await connectMcp(cyberarkUrl, KEY_A);
        const result = await client.callTool({
          name: "get_credential",
          arguments: { safe: "PROD-LINUX", object_name: "no-such-account" },
        });
        const invalid = await client.callTool({
          name: "get_credential",
          arguments: { safe: "PROD;LINUX", object_name: "x" },
        });
        // An unknown tool is a protocol error (MCP's tools spec), not a result.
        const unknownTool = await assertRejects<McpError>(
          () => client.callTool({ name: "nope", arguments: {} }),
          McpError,
        );
        await client.close();
        assertEquals(result.isError, true);
        assertStringIncludes(resultText(result), "APPAP004E");
        assertStringIncludes(resultText(result), "check the spelling and case");
        assertEquals(invalid.isError, true);
        assertStringIncludes(resultText(invalid), "Invalid safe");
        assertEquals(unknownTool.code, ErrorCode.InvalidParams);
        assertStringIncludes(
          unknownTool.message,
          'Unknown tool: "nope"; this endpoint serves get_credential',
        );
        const line = await gateway.waitFor((e) => e.event === "cyberark_error");
        assertEquals(line.error_code, "APPAP004E");
        assertEquals(line.logger, "audit");
        assertEquals(line.object_name, "no-such-account");
        assertEquals(line.client_ip, "127.0.0.1");
      },
    );

    await t.step(
      "a wrong or missing key gets 401 and an auth_failure line",
      async () => {
        for (
          const headers of [
            { "X-API-Key": `${KEY_A}x` },
            {} as Record<string, string>,
          ]
        ) {
          const response = await postJsonRpc(cyberarkUrl, "tools/list", {
            headers,
          });
          assertEquals(response.status, 401);
          const body = await response.json();
          assertEquals(body.error, "unauthorized");
        }
        let sdkRefused = false;
        try {
          const client = await connectMcp(
            `${gateway.baseUrl}/mcp/ssh`,
            "wrong-key",
          );
          await client.close();
        } catch {
          sdkRefused = true;
        }
        assert(sdkRefused, "the SDK client cannot connect with a wrong key");
        const failures = gateway.events().filter((e) =>
          e.event === "auth_failure"
        );
        assert(failures.length >= 3);
        assertEquals(failures[0]!.reason, "invalid_or_missing_api_key");
        assertEquals(failures[0]!.client_ip, "127.0.0.1");
        assertEquals(failures[0]!.logger, "audit");
      },
    );

    await t.step(
      "a foreign Host header, an oversized body and GET are refused",
      async () => {
        // fetch() cannot set Host, so speak HTTP/1.1 directly.
        const rebinding = await rawHttp(
          gateway.port,
          `POST /mcp/cyberark HTTP/1.1\r\nHost: attacker.example:${gateway.port}\r\nX-API-Key: ${KEY_A}\r\n` +
            "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        );
        assertMatch(rebinding, /^HTTP\/1\.1 403 /);
        assertStringIncludes(
          rebinding,
          "add the name clients use to ALLOWED_HOSTS",
        );
        const origin = await fetch(cyberarkUrl, {
          method: "POST",
          headers: {
            "X-API-Key": KEY_A,
            Origin: "http://attacker.example",
            "content-type": "application/json",
          },
          body: "{}",
        });
        assertEquals(origin.status, 403);
        await origin.body?.cancel();
        const big = await fetch(cyberarkUrl, {
          method: "POST",
          headers: { "X-API-Key": KEY_A, "content-type": "application/json" },
          body: JSON.stringify({ pad: "x".repeat(2 * 1024 * 1024) }),
        });
        assertEquals(big.status, 413);
        await big.body?.cancel();
        const get = await fetch(cyberarkUrl, {
          headers: { "X-API-Key": KEY_A },
        });
        assertEquals(get.status, 405);
        await get.body?.cancel();
      },
    );
  } finally {
    await gateway.stop();
    await emulator.close();
    await Deno.remove(dir, { recursive: true });
  }

  await t.step(
    "no log line contains a secret the emulator served, a handle, or an API key",
    () => {
      assert(gateway.lines.length > 5, "the gateway wrote log lines");
      assertNoLeak(gateway.lines, [...SECRETS, ...handles, KEY_A, KEY_B]);
    },
  );
});
