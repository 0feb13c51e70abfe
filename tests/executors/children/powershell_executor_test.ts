/**
 * The PowerShell executor child through the real spawner (sandbox flags:
 * `--allow-net=127.0.0.1:PORT` only) against the wire-level WinRM test server.
 */
import {
  type ExecutorCredential,
  type ExecutorOutcome,
  ExecutorSpawner,
} from "../../../executors/spawner/mod.ts";
import type { PowershellOperation } from "../../../executors/protocol/mod.ts";
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";
import { createTlsFixtures } from "../../support/tls_fixtures.ts";
import { startWinrmServer } from "../../support/winrm_server.ts";
import { basicServer, HI_RUN, NTLM_SERVER, PASSWORD } from "./_winrm.ts";

const tls = createTlsFixtures();
const spawner = new ExecutorSpawner();

function credential(
  username: string,
  secret = PASSWORD,
  extra: Partial<ExecutorCredential> = {},
): ExecutorCredential {
  return {
    username,
    kind: "password",
    secret: { reveal: () => secret },
    ...extra,
  };
}

function operation(
  script: string,
  extra: Partial<PowershellOperation> = {},
): PowershellOperation {
  return {
    kind: "powershell",
    script,
    useSsl: false,
    auth: "ntlm",
    tls: { verify: true },
    ...extra,
  };
}

function assertNoSecret(outcome: ExecutorOutcome): void {
  const json = JSON.stringify(outcome);
  assert(!json.includes(PASSWORD), "the password never comes back");
}

Deno.test({
  name:
    "the PowerShell executor runs scripts over NTLM-sealed HTTP inside the sandbox",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const server = await startWinrmServer({ ...NTLM_SERVER, maxHoldMs: 500 });
    const target = { host: "127.0.0.1", port: server.port };
    try {
      await t.step(
        "DOMAIN\\user, user@domain and a separate domain all log on",
        async () => {
          for (
            const cred of [
              credential("CORP\\alice"),
              credential("alice@CORP"),
              credential("alice", PASSWORD, { domain: "CORP" }),
            ]
          ) {
            const outcome = await spawner.run({
              target,
              credential: cred,
              operation: operation("Write-Output hi"),
            });
            assertNoSecret(outcome);
            assert(outcome.ok, JSON.stringify(outcome));
            assertEquals(outcome.result, { kind: "powershell", ...HI_RUN });
          }
          assertEquals(server.logons.map((l) => l.domain), [
            "CORP",
            "CORP",
            "CORP",
          ]);
        },
      );

      await t.step(
        "a wrong password is auth_failed and never echoed",
        async () => {
          const wrong = `Wrong-${crypto.randomUUID()}`;
          const outcome = await spawner.run({
            target,
            credential: credential("CORP\\alice", wrong),
            operation: operation("Write-Output hi"),
          });
          assert(!outcome.ok);
          assertEquals(outcome.error.code, "auth_failed");
          assert(!JSON.stringify(outcome).includes(wrong));
        },
      );

      await t.step("Write-Error comes back as had errors", async () => {
        const outcome = await spawner.run({
          target,
          credential: credential("CORP\\alice"),
          operation: operation('Write-Error "Error"'),
        });
        assert(outcome.ok && outcome.result.kind === "powershell");
        assertEquals(outcome.result.hadErrors, true);
        assertStringIncludes(
          outcome.result.stderr,
          'Write-Error "Error" : Error',
        );
      });

      await t.step(
        "the child stops at its own deadline and cleans up",
        async () => {
          const before = server.shells.deleted.length;
          const outcome = await spawner.run({
            target,
            credential: credential("CORP\\alice"),
            operation: operation("Start-Sleep -Seconds 600"),
            timeoutMs: 2500,
          });
          assert(!outcome.ok);
          assertEquals(outcome.error.code, "timeout");
          assertStringIncludes(
            outcome.error.message,
            "the command was terminated and its shell deleted",
          );
          assertEquals(server.shells.deleted.length, before + 1);
        },
      );

      await t.step(
        "a private key or Basic over HTTP is refused without connecting",
        async () => {
          const before = server.requests.length + server.failedLogons;
          const key = await spawner.run({
            target,
            credential: credential(
              "alice",
              `-----BEGIN OPENSSH ${"PRIVATE"} KEY-----\nx`, // not a real key
              {
                kind: "private_key",
              },
            ),
            operation: operation("Write-Output hi"),
          });
          assert(!key.ok);
          assertEquals(key.error.code, "auth_failed");
          const basic = await spawner.run({
            target,
            credential: credential("alice"),
            operation: operation("Write-Output hi", { auth: "basic" }),
          });
          assert(!basic.ok);
          assertEquals(basic.error.code, "bad_request");
          assertStringIncludes(basic.error.message, "clear text");
          assertEquals(server.requests.length + server.failedLogons, before);
        },
      );
    } finally {
      await server.close();
    }
  },
});

Deno.test({
  name:
    "the PowerShell executor speaks Basic over HTTPS and checks the certificate inside the sandbox",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = await startWinrmServer(basicServer(tls));
    const run = (
      tlsSettings: PowershellOperation["tls"],
    ): Promise<ExecutorOutcome> =>
      spawner.run({
        target: { host: "127.0.0.1", port: server.port },
        credential: credential("alice"),
        operation: operation("Write-Output hi", {
          useSsl: true,
          auth: "basic",
          tls: tlsSettings,
        }),
      });
    try {
      const trusted = await run({ verify: true, caPem: tls.caCertPem });
      assert(trusted.ok, JSON.stringify(trusted));
      const untrusted = await run({ verify: true });
      assert(!untrusted.ok);
      assertEquals(untrusted.error.code, "tls_failed");
      assertStringIncludes(untrusted.error.message, "UnknownIssuer");
      // node:tls without verification also works under --allow-net=HOST:PORT.
      const unverified = await run({ verify: false });
      assert(unverified.ok, JSON.stringify(unverified));
      for (const outcome of [trusted, untrusted, unverified]) {
        assertNoSecret(outcome);
      }
      assert(server.requests.every((r) => !r.sealed));
    } finally {
      await server.close();
    }
  },
});
