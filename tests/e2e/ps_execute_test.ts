/**
 * ps_execute end to end: the real gateway (`deno task start`), the CCP
 * emulator, the wire-level WinRM test server (NTLM sealed over HTTP, Basic
 * over HTTPS) answering with recorded Windows responses, and the MCP SDK
 * client over HTTP.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../support/assert.ts";
import {
  type GatewayProcess,
  startGateway,
} from "../support/gateway_process.ts";
import { startCcpFixture } from "../support/ccp_fixture.ts";
import { assertNoLeak, assertTargetAudit } from "../support/log_lines.ts";
import {
  assertListsOneTool,
  assertUsableOnce,
  callToolText,
  connectMcp,
  issueHandle,
  type ToolOutcome,
} from "../support/mcp_client.ts";
import { createTlsFixtures } from "../support/tls_fixtures.ts";
import { startWinrmServer } from "../support/winrm_server.ts";
import { SIGNAL_TERMINATE } from "../../executors/children/winrm/wsman.ts";

/** The script of the manual's Example 2 (section 10). */
const EXAMPLE2_SCRIPT =
  "Get-Service | Where-Object {$_.Status -eq 'Stopped'} | Select-Object Name, DisplayName";

interface Session {
  gateway: GatewayProcess;
  cyberark: Client;
  powershell: Client;
}

Deno.test({
  name: "ps_execute end to end against the wire-level WinRM server",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const password = `Pw-${crypto.randomUUID()}`;
    const wrongPassword = `Wrong-${crypto.randomUUID()}`;
    const tls = createTlsFixtures();
    const dir = await Deno.makeTempDir({ prefix: "ps-e2e-" });
    await Deno.writeTextFile(`${dir}/winrm-ca.pem`, tls.caCertPem);
    const ntlm = await startWinrmServer({
      auth: "ntlm",
      username: "alice",
      domain: "CORP",
      password,
      maxHoldMs: 500,
    });
    const https = await startWinrmServer({
      auth: "basic",
      username: "localadmin",
      password,
      tls: { certPem: tls.serverCertPem, keyPem: tls.serverKeyPem },
    });
    const account = (
      name: string,
      fields: Record<string, string>,
    ): Record<string, string> => ({
      Name: name,
      Content: password,
      Address: "127.0.0.1",
      PolicyID: "WinDomain",
      ...fields,
    });
    // Both test listeners' ports are WinDomain ports for these gateways.
    const platformPorts = {
      PLATFORM_PORTS: `WinDomain=${ntlm.port}|${https.port}`,
    };
    const ccp = await startCcpFixture("WIN-SAFE", [
      account("domain-admin", { UserName: "alice", LogonDomain: "CORP" }),
      account("upn", { UserName: "alice@CORP" }),
      account("wrong", {
        UserName: "alice",
        LogonDomain: "CORP",
        Content: wrongPassword,
      }),
      account("local", { UserName: "localadmin" }),
    ]);
    const { key } = ccp;
    const handles: string[] = [];
    const gateways: GatewayProcess[] = [];
    const sessions: Session[] = [];
    const open = async (env: Record<string, string>): Promise<Session> => {
      const gateway = await startGateway({
        ...ccp.gatewayEnv,
        ...platformPorts,
        ...env,
      });
      gateways.push(gateway);
      const session = {
        gateway,
        cyberark: await connectMcp(`${gateway.baseUrl}/mcp/cyberark`, key),
        powershell: await connectMcp(`${gateway.baseUrl}/mcp/powershell`, key),
      };
      sessions.push(session);
      return session;
    };
    const handleFor = async (
      session: Session,
      object: string,
    ): Promise<string> => {
      const handle = await issueHandle(session.cyberark, {
        safe: "WIN-SAFE",
        object_name: object,
      });
      handles.push(handle);
      return handle;
    };
    const call = (
      session: Session,
      args: Record<string, unknown>,
    ): Promise<ToolOutcome> =>
      callToolText(session.powershell, {
        name: "ps_execute",
        arguments: { host: "127.0.0.1", port: ntlm.port, ...args },
      });

    try {
      const main = await open({});

      await t.step(
        "ps_execute is listed with the manual's arguments",
        async () => {
          await assertListsOneTool(main.powershell, "ps_execute", [
            "host",
            "port",
            "script",
            "secret_handle",
            "timeout_seconds",
            "use_ssl",
          ]);
        },
      );

      await t.step(
        "the manual's Example 2 comes back in its exact format and is audited",
        async () => {
          const { text, isError } = await call(main, {
            script: EXAMPLE2_SCRIPT,
            secret_handle: await handleFor(main, "domain-admin"),
          });
          assertEquals(isError, false, text);
          assertEquals(
            text,
            "Host: 127.0.0.1\n" +
              `Script length: ${EXAMPLE2_SCRIPT.length} chars\n` +
              "Had errors: False\n" +
              "--- output ---\n" +
              "Name        DisplayName\n" +
              "----        -----------\n" +
              "wuauserv    Windows Update\n" +
              "XblGameSave Xbox Game Bar Saving Service",
          );
          assertEquals(ntlm.scripts.at(-1), EXAMPLE2_SCRIPT);
          assertEquals(ntlm.logons.at(-1)?.domain, "CORP");
          const line = await main.gateway.waitFor((e) =>
            e.event === "ps_executed"
          );
          assertTargetAudit(line, {
            host: "127.0.0.1",
            port: ntlm.port,
            username: "alice",
            withheld: ["wuauserv", "Get-Service"],
          });
          assertEquals(line.had_errors, false);
          assertEquals(line.exit_code, 0);
          assertEquals(line.script_length, EXAMPLE2_SCRIPT.length);
          assertEquals(line.shell_deleted, true);
          assertEquals(typeof line.duration_ms, "number");
        },
      );

      await t.step(
        "Write-Error gives Had errors: True with readable errors",
        async () => {
          const { text, isError } = await call(main, {
            script: 'Write-Error "Error"',
            secret_handle: await handleFor(main, "domain-admin"),
          });
          assertEquals(isError, false, text);
          assertStringIncludes(
            text,
            "Host: 127.0.0.1\nScript length: 19 chars\nHad errors: True\n--- output ---\n\n--- errors ---\n" +
              'Write-Error "Error" : Error\n' +
              "    + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorExcep",
          );
          assert(text.endsWith("Exit code: 1"), text);
          assert(!text.includes("CLIXML") && !text.includes("_x000D_"));
          const lines = main.gateway.events().filter((e) =>
            e.event === "ps_executed"
          );
          assertEquals(lines.at(-1)?.had_errors, true);
          assertEquals(lines.at(-1)?.exit_code, 1);
        },
      );

      await t.step(
        "a user@domain account logs on with the domain of its name",
        async () => {
          const { text, isError } = await call(main, {
            script: "Write-Output hi",
            secret_handle: await handleFor(main, "upn"),
          });
          assertEquals(isError, false, text);
          assertStringIncludes(text, "--- output ---\nhi");
          assertEquals(ntlm.logons.at(-1)?.user, "alice");
          assertEquals(ntlm.logons.at(-1)?.domain, "CORP");
        },
      );

      await t.step(
        "a wrong password (HTTP 401) is a clear tool error",
        async () => {
          const { text, isError } = await call(main, {
            script: "Write-Output hi",
            secret_handle: await handleFor(main, "wrong"),
          });
          assertEquals(isError, true);
          assertStringIncludes(text, `Access denied on 127.0.0.1:${ntlm.port}`);
          assertStringIncludes(text, "HTTP 401");
          assertStringIncludes(text, "Remote Management Users");
          assert(!text.includes(wrongPassword) && !text.includes(password));
          const line = main.gateway.events().filter((e) =>
            e.event === "ps_executed"
          ).at(-1)!;
          assertEquals(line.error_code, "auth_failed");
        },
      );

      await t.step("a handle cannot be used twice", async () => {
        await assertUsableOnce(
          (secret_handle) => call(main, { script: "'once'", secret_handle }),
          await handleFor(main, "domain-admin"),
        );
        const line = await main.gateway.waitFor((e) =>
          e.event === "handle_expired"
        );
        assertEquals(line.reason, "already_consumed");
      });

      await t.step(
        "a script longer than a command line travels over stdin",
        async () => {
          const script = "# long\n" + "Write-Output 'line'\n".repeat(3000);
          const { text, isError } = await call(main, {
            script,
            secret_handle: await handleFor(main, "domain-admin"),
          });
          assertEquals(isError, false, text);
          assertStringIncludes(text, `Script length: ${script.length} chars`);
          assertEquals(ntlm.scripts.at(-1), script);
        },
      );

      await t.step(
        "the timeout stops a sleeping script, terminates it and deletes its shell",
        async () => {
          const signals = ntlm.signals.length;
          const started = performance.now();
          const { text, isError } = await call(main, {
            script: "Start-Sleep -Seconds 600",
            timeout_seconds: 2,
            secret_handle: await handleFor(main, "domain-admin"),
          });
          // The script sleeps 600 s: an answer well before that means the
          // timeout stopped it, whatever the machine's load.
          assert(
            performance.now() - started < 120_000,
            "the script ran on past its timeout",
          );
          assertEquals(isError, true);
          assertStringIncludes(
            text,
            `PowerShell on 127.0.0.1:${ntlm.port} timed out after 2 s`,
          );
          assertStringIncludes(text, "shell deleted");
          assertEquals(ntlm.signals.slice(signals).map((s) => s.code), [
            SIGNAL_TERMINATE,
          ]);
          assertEquals(ntlm.shells.deleted.length, ntlm.shells.created.length);
        },
      );

      const basic = await open({
        WINRM_AUTH: "basic",
        WINRM_VERIFY_SSL: `${dir}/winrm-ca.pem`,
      });

      await t.step(
        "WINRM_AUTH=basic over HTTP is refused with the manual's explanation, before the handle is used",
        async () => {
          const handle = await handleFor(basic, "local");
          const { text, isError } = await call(basic, {
            script: "Write-Output hi",
            secret_handle: handle,
          });
          assertEquals(isError, true);
          assertStringIncludes(text, "WINRM_AUTH=basic requires HTTPS");
          assertStringIncludes(text, "rejected by WinRM by default");
          assertStringIncludes(text, "use_ssl=true");
          const requests = https.requests.length + ntlm.requests.length;
          // The same handle still works over HTTPS with the configured CA.
          const ok = await call(basic, {
            port: https.port,
            use_ssl: true,
            script: "Write-Output hi",
            secret_handle: handle,
          });
          assertEquals(ok.isError, false, ok.text);
          assertStringIncludes(ok.text, "--- output ---\nhi");
          assertEquals(
            https.requests.length + ntlm.requests.length,
            requests + 5,
          );
        },
      );

      const untrusted = await open({ WINRM_AUTH: "basic" });

      await t.step(
        "HTTPS with an untrusted certificate is refused",
        async () => {
          const { text, isError } = await call(untrusted, {
            port: https.port,
            use_ssl: true,
            script: "Write-Output hi",
            secret_handle: await handleFor(untrusted, "local"),
          });
          assertEquals(isError, true);
          assertStringIncludes(
            text,
            `The WinRM HTTPS certificate of 127.0.0.1:${https.port} is not trusted`,
          );
          assertStringIncludes(text, "UnknownIssuer");
          assertStringIncludes(text, "WINRM_VERIFY_SSL");
        },
      );

      const lax = await open({
        WINRM_AUTH: "basic",
        WINRM_VERIFY_SSL: "false",
      });

      await t.step(
        "WINRM_VERIFY_SSL=false connects and warns on every call",
        async () => {
          for (let i = 0; i < 2; i++) {
            const { text, isError } = await call(lax, {
              port: https.port,
              use_ssl: true,
              script: "Write-Output hi",
              secret_handle: await handleFor(lax, "local"),
            });
            assertEquals(isError, false, text);
          }
          const warnings = lax.gateway.events().filter((e) =>
            String(e.event).startsWith(
              "WINRM_VERIFY_SSL=false: certificate of",
            )
          );
          assertEquals(warnings.length, 2);
          assert(
            lax.gateway.events().some((e) =>
              e.level === "warning" &&
              String(e.event).startsWith(
                "WINRM_VERIFY_SSL=false: WinRM HTTPS certificates",
              )
            ),
            "a warning at start-up too",
          );
        },
      );
    } finally {
      for (const session of sessions) {
        await session.cyberark.close();
        await session.powershell.close();
      }
      for (const gateway of gateways) await gateway.stop();
      await ccp.close();
      await ntlm.close();
      await https.close();
      await Deno.remove(dir, { recursive: true });
    }

    await t.step("the WinRM servers met every expectation", () => {
      assertEquals([...ntlm.errors, ...https.errors], []);
    });

    await t.step("no log line of any gateway holds a secret", () => {
      assertNoLeak(gateways.flatMap((gateway) => gateway.lines), [
        password,
        wrongPassword,
        key,
        ...handles,
      ]);
    });
  },
});
