/**
 * ssh_execute end to end: the real gateway (`deno task start`), the CCP
 * emulator, a real OpenSSH server on loopback, and the MCP SDK client.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../support/assert.ts";
import { startGateway } from "../support/gateway_process.ts";
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
import {
  announceSshdSkip,
  generateOtherHostKeys,
  knownHostsLine,
  sshdAccount,
  startSshd,
} from "../support/sshd.ts";

const skip = await announceSshdSkip();

Deno.test({
  name: "ssh_execute end to end against a real OpenSSH server",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const sshd = await startSshd();
    const wrongPassword = `Wrong-${crypto.randomUUID()}`;
    const ccp = await startCcpFixture("LINUX", [
      sshdAccount(sshd, "pw"),
      sshdAccount(sshd, "key", { Content: sshd.privateKeyPem }),
      sshdAccount(sshd, "key-enc", {
        Content: sshd.encryptedPrivateKeyPem,
        Passphrase: sshd.keyPassphrase,
      }),
      sshdAccount(sshd, "wrong", { Content: wrongPassword }),
      sshdAccount(sshd, "elsewhere", { Address: "10.1.2.3" }),
    ]);
    const { key } = ccp;
    const gateway = await startGateway({
      ...ccp.gatewayEnv,
      SSH_KNOWN_HOSTS: sshd.knownHostsPath,
      EXECUTOR_MAX_OUTPUT_BYTES: "1048576",
    });
    const originalKnownHosts = await Deno.readTextFile(sshd.knownHostsPath);
    const handles: string[] = [];
    let cyberark: Client | undefined;
    let ssh: Client | undefined;
    const handleFor = async (object: string): Promise<string> => {
      const handle = await issueHandle(cyberark!, {
        safe: "LINUX",
        object_name: object,
      });
      handles.push(handle);
      return handle;
    };
    const run = (args: Record<string, unknown>): Promise<ToolOutcome> =>
      callToolText(ssh!, {
        name: "ssh_execute",
        arguments: { host: "127.0.0.1", port: sshd.port, ...args },
      });
    try {
      cyberark = await connectMcp(`${gateway.baseUrl}/mcp/cyberark`, key);
      ssh = await connectMcp(`${gateway.baseUrl}/mcp/ssh`, key);

      await t.step(
        "ssh_execute is listed with the manual's arguments",
        async () => {
          await assertListsOneTool(ssh!, "ssh_execute", [
            "command",
            "host",
            "port",
            "secret_handle",
            "timeout_seconds",
          ]);
        },
      );

      await t.step(
        "a command's stdout and stderr come back in the manual's format and are audited",
        async () => {
          const command = "echo hello-$((40+2)); echo oops-$((1+1)) >&2";
          const { text, isError } = await run({
            command,
            secret_handle: await handleFor("pw"),
          });
          assertEquals(isError, false);
          assertEquals(
            text,
            `Host: 127.0.0.1\nCommand: ${command}\nExit code: 0\n--- stdout ---\nhello-42\n--- stderr ---\noops-2`,
          );
          const line = await gateway.waitFor((e) => e.event === "ssh_executed");
          assertTargetAudit(line, {
            ...sshd,
            withheld: ["hello-42", "oops-2"],
          });
          assertEquals(line.exit_code, 0);
          assertEquals(line.stdout_bytes, 9);
          assertEquals(line.stderr_bytes, 7);
          assertEquals(line.command, command);
          assertEquals(typeof line.duration_ms, "number");
        },
      );

      await t.step(
        "a non-zero exit is a normal result without stderr section",
        async () => {
          const { text, isError } = await run({
            command: "exit 3",
            secret_handle: await handleFor("pw"),
          });
          assertEquals(isError, false);
          assertEquals(
            text,
            "Host: 127.0.0.1\nCommand: exit 3\nExit code: 3\n--- stdout ---\n",
          );
        },
      );

      await t.step(
        "key-based auth works, with and without a passphrase",
        async () => {
          for (const object of ["key", "key-enc"]) {
            const { text, isError } = await run({
              command: "whoami",
              secret_handle: await handleFor(object),
            });
            assertEquals(isError, false, text);
            assertStringIncludes(text, `--- stdout ---\n${sshd.username}`);
          }
        },
      );

      await t.step(
        "a wrong password is a tool error naming the manual's checks",
        async () => {
          const { text, isError } = await run({
            command: "true",
            secret_handle: await handleFor("wrong"),
          });
          assertEquals(isError, true);
          assertStringIncludes(text, "Permission denied");
          assertStringIncludes(text, "PasswordAuthentication yes");
          assert(!text.includes(wrongPassword));
        },
      );

      await t.step("a handle cannot be used twice", async () => {
        await assertUsableOnce(
          (secret_handle) => run({ command: "true", secret_handle }),
          await handleFor("pw"),
        );
        const line = await gateway.waitFor((e) => e.event === "handle_expired");
        assertEquals(line.reason, "already_consumed");
      });

      await t.step("a handle bound to another host is refused", async () => {
        const { text, isError } = await run({
          command: "true",
          secret_handle: await handleFor("elsewhere"),
        });
        assertEquals(isError, true);
        assertStringIncludes(text, 'the credential belongs to "10.1.2.3"');
        const line = await gateway.waitFor((e) => e.event === "handle_refused");
        assertEquals(line.reason, "host_mismatch");
      });

      await t.step(
        "a malformed host is refused before anything runs, and the handle survives",
        async () => {
          const handle = await handleFor("pw");
          for (
            const host of [
              "127.0.0.1,10.0.0.1",
              "127.0.0.1:22",
              "*",
              "host name",
              "-oProxyCommand=x",
            ]
          ) {
            const { text, isError } = await run({
              host,
              command: "true",
              secret_handle: handle,
            });
            assertEquals(isError, true, host);
            assert(!text.includes("Handle"), text);
          }
          assertEquals(
            (await run({ command: "true", secret_handle: handle })).isError,
            false,
          );
        },
      );

      await t.step(
        "an unknown host key is refused with the ssh-keyscan fix",
        async () => {
          await Deno.writeTextFile(sshd.knownHostsPath, "# empty\n");
          const handle = await handleFor("pw");
          const { text, isError } = await run({
            command: "true",
            secret_handle: handle,
          });
          await Deno.writeTextFile(sshd.knownHostsPath, originalKnownHosts);
          assertEquals(isError, true);
          assertStringIncludes(text, "Host key verification failed");
          assertStringIncludes(
            text,
            `ssh-keyscan -H -p ${sshd.port} 127.0.0.1 >> ${sshd.knownHostsPath}`,
          );
          assertMatch(text, /SHA256:[A-Za-z0-9+/]{43}/);
          assertStringIncludes(text, "the handle was not used");
          // Refused before the handle was taken: once the key is known, the
          // same single-use handle runs the command.
          const again = await run({
            command: "echo reused",
            secret_handle: handle,
          });
          assertEquals(again.isError, false, again.text);
          assertStringIncludes(again.text, "reused");
        },
      );

      await t.step("a changed host key is refused", async () => {
        const others = await generateOtherHostKeys();
        await Deno.writeTextFile(
          sshd.knownHostsPath,
          others.map((k) => knownHostsLine("127.0.0.1", sshd.port, k)).join(
            "\n",
          ) + "\n",
        );
        const { text, isError } = await run({
          command: "true",
          secret_handle: await handleFor("pw"),
        });
        await Deno.writeTextFile(sshd.knownHostsPath, originalKnownHosts);
        assertEquals(isError, true);
        assertStringIncludes(text, "does not match");
        assertStringIncludes(text, "ssh-keygen -R");
      });

      await t.step("the timeout kills a sleeping command", async () => {
        const { text, isError } = await run({
          command: "sleep 30",
          timeout_seconds: 2,
          secret_handle: await handleFor("pw"),
        });
        assertEquals(isError, true);
        assertStringIncludes(text, "timed out after 2 s");
      });

      await t.step(
        "output is capped at 1 MiB with a visible notice",
        async () => {
          const { text, isError } = await run({
            command: "yes | head -c 5M",
            secret_handle: await handleFor("pw"),
          });
          assertEquals(isError, false);
          assertStringIncludes(text, "[output truncated at 1048576 bytes]");
          assert(
            text.length < 1_100_000 && text.length > 1_000_000,
            `length ${text.length}`,
          );
        },
      );

      await t.step(
        "a file on the target that holds the password is printed as [REDACTED]",
        async () => {
          const home = `/home/${sshd.username}`;
          await Deno.writeTextFile(
            `${home}/notes.txt`,
            `db password is ${sshd.password}\n`,
          );
          const { text } = await run({
            command: "cat ~/notes.txt; cat ~/notes.txt >&2",
            secret_handle: await handleFor("pw"),
          });
          assertStringIncludes(
            text,
            "--- stdout ---\ndb password is [REDACTED]",
          );
          assertStringIncludes(
            text,
            "--- stderr ---\ndb password is [REDACTED]",
          );
          assert(!text.includes(sshd.password));
        },
      );
    } finally {
      await cyberark?.close();
      await ssh?.close();
      await gateway.stop();
    }

    await t.step(
      "SSH_KNOWN_HOSTS=disable connects to an unknown host and warns on every connection",
      async () => {
        const lax = await startGateway({
          ...ccp.gatewayEnv,
          SSH_KNOWN_HOSTS: "disable",
        });
        try {
          cyberark = await connectMcp(`${lax.baseUrl}/mcp/cyberark`, key);
          ssh = await connectMcp(`${lax.baseUrl}/mcp/ssh`, key);
          for (let i = 0; i < 2; i++) {
            const { text, isError } = await run({
              command: "echo ok",
              secret_handle: await handleFor("pw"),
            });
            assertEquals(isError, false, text);
          }
          const warnings = lax.events().filter((e) =>
            String(e.event).includes("SSH_KNOWN_HOSTS=disable: host key")
          );
          assertEquals(warnings.length, 2);
          assertEquals(
            lax.events().some((e) =>
              e.level === "warning" &&
              String(e.event).startsWith("SSH_KNOWN_HOSTS=disable")
            ),
            true,
          );
        } finally {
          await cyberark?.close();
          await ssh?.close();
          await lax.stop();
        }
        assertNoLeak([...gateway.lines, ...lax.lines], [
          sshd.password,
          wrongPassword,
          sshd.keyPassphrase,
          key,
          ...handles,
          "PRIVATE KEY",
        ]);
      },
    );

    await ccp.close();
    await sshd.stop();
  },
});
