/**
 * NTLM-sealed and Basic-over-HTTPS exchanges against the wire-level WinRM
 * test server, in process.
 */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../../support/assert.ts";
import { createTlsFixtures } from "../../../support/tls_fixtures.ts";
import type { WinrmServerOptions } from "../../../support/winrm_server.ts";
import {
  WinrmTransport,
  WinrmTransportError,
  type WinrmTransportOptions,
} from "../../../../executors/children/winrm/winrm_transport.ts";
import {
  buildCreateShell,
  buildDeleteShell,
  newMessageId,
  parseEnvelope,
  parseShellId,
} from "../../../../executors/children/winrm/wsman.ts";
import {
  basicServer,
  NTLM_SERVER,
  ntlmOptions,
  PASSWORD,
  withWinrmServer,
} from "../_winrm.ts";

const tls = createTlsFixtures();
const BASIC_SERVER = basicServer(tls);

async function createAndDelete(transport: WinrmTransport): Promise<string> {
  const created = await transport.send(buildCreateShell({
    to: transport.endpoint,
    messageId: newMessageId(),
    operationTimeoutSeconds: 20,
  }));
  assertEquals(created.status, 200);
  const shellId = parseShellId(parseEnvelope(created.xml));
  const deleted = await transport.send(buildDeleteShell({
    to: transport.endpoint,
    messageId: newMessageId(),
    operationTimeoutSeconds: 20,
    shellId,
  }));
  assertEquals(deleted.status, 200);
  return shellId;
}

Deno.test("WinrmTransport authenticates with NTLMv2 (MIC verified) and seals every message on one connection", async () => {
  await withWinrmServer(NTLM_SERVER, async (server) => {
    const transport = await WinrmTransport.connect(ntlmOptions(server));
    assert(transport.sealed);
    assertEquals(transport.endpoint, `http://127.0.0.1:${server.port}/wsman`);
    const shellId = await createAndDelete(transport);
    transport.close();
    assertEquals(server.logons.length, 1);
    const logon = server.logons[0]!;
    assertEquals(
      { user: logon.user, domain: logon.domain, mic: logon.micVerified },
      { user: "alice", domain: "CORP", mic: true },
    );
    assertEquals(server.requests.map((r) => r.action), ["Create", "Delete"]);
    assert(server.requests.every((r) => r.sealed));
    assert(
      server.requests.every((r) => r.connection === logon.connection),
      "the handshake and every message used one TCP connection",
    );
    assertEquals(server.shells, { created: [shellId], deleted: [shellId] });
  });
});

Deno.test("WinrmTransport reports a wrong password or domain as auth_failed without echoing the password", async () => {
  await withWinrmServer(NTLM_SERVER, async (server) => {
    for (
      const extra of [
        { password: "Wrong-password-123" },
        { domain: "OTHER" },
        { username: "mallory" },
      ]
    ) {
      const error = await assertRejects(
        () => WinrmTransport.connect(ntlmOptions(server, extra)),
        WinrmTransportError,
      );
      assertEquals(error.kind, "auth_failed");
      assertStringIncludes(
        error.message,
        "rejected the NTLM credentials (HTTP 401)",
      );
      assert(
        !error.message.includes(PASSWORD) &&
          !error.message.includes("Wrong-password"),
      );
    }
    assertEquals(server.failedLogons, 3);
    assertEquals(server.requests, []);
  });
});

Deno.test("WinrmTransport refuses an unsealed reply after NTLM authentication", async () => {
  const anyDomain: WinrmServerOptions = {
    auth: "ntlm",
    username: "alice",
    password: PASSWORD,
  };
  await withWinrmServer(anyDomain, async (server) => {
    const transport = await WinrmTransport.connect(
      ntlmOptions(server, { domain: "" }),
    );
    server.tamper = "unsealed_reply";
    const error = await assertRejects(
      () =>
        transport.send(buildCreateShell({
          to: transport.endpoint,
          messageId: newMessageId(),
          operationTimeoutSeconds: 20,
        })),
      WinrmTransportError,
    );
    assertEquals(error.kind, "protocol");
    assertStringIncludes(error.message, "refusing the unsealed reply");
    assertEquals(transport.isOpen, false);
  });
});

Deno.test("WinrmTransport never sends Basic credentials over HTTP", async () => {
  let opened = false;
  await assertRejects(
    () =>
      WinrmTransport.connect({
        host: "127.0.0.1",
        port: 5985,
        useSsl: false,
        auth: "basic",
        tls: { verify: true },
        username: "alice",
        domain: "",
        password: PASSWORD,
        openStream: () => {
          opened = true;
          throw new Error("must not connect");
        },
      }),
    TypeError,
    "Refusing Basic authentication over HTTP",
  );
  assertEquals(opened, false);
});

Deno.test("WinrmTransport speaks Basic over HTTPS, verifying the certificate against the CA bundle", async () => {
  await withWinrmServer(BASIC_SERVER, async (server) => {
    const basic = (
      extra: Partial<WinrmTransportOptions>,
    ): WinrmTransportOptions => ({
      ...ntlmOptions(server, { useSsl: true, auth: "basic", domain: "" }),
      ...extra,
    });
    const trusted = await WinrmTransport.connect(
      basic({ tls: { verify: true, caPem: tls.caCertPem } }),
    );
    assertEquals(trusted.sealed, false);
    assertEquals(trusted.endpoint, `https://127.0.0.1:${server.port}/wsman`);
    await createAndDelete(trusted);
    trusted.close();

    const untrusted = await assertRejects(
      () => WinrmTransport.connect(basic({ tls: { verify: true } })),
      WinrmTransportError,
    );
    assertEquals(untrusted.kind, "tls_failed");
    assertStringIncludes(untrusted.message, "UnknownIssuer");

    const other = createTlsFixtures();
    const wrongCa = await assertRejects(
      () =>
        WinrmTransport.connect(
          basic({ tls: { verify: true, caPem: other.caCertPem } }),
        ),
      WinrmTransportError,
    );
    assertEquals(wrongCa.kind, "tls_failed");

    const unverified = await WinrmTransport.connect(
      basic({ tls: { verify: false } }),
    );
    await createAndDelete(unverified);
    unverified.close();

    const wrong = await WinrmTransport.connect(
      basic({ tls: { verify: false }, password: "Wrong-password-123" }),
    );
    const denied = await assertRejects(
      () => createAndDelete(wrong),
      WinrmTransportError,
    );
    assertEquals(denied.kind, "auth_failed");
    assertStringIncludes(denied.message, "HTTP 401");
  });
});

Deno.test("WinrmTransport names the offered schemes when NTLM is not offered", async () => {
  await withWinrmServer(BASIC_SERVER, async (server) => {
    const error = await assertRejects(
      () =>
        WinrmTransport.connect(
          ntlmOptions(server, {
            useSsl: true,
            tls: { verify: true, caPem: tls.caCertPem },
          }),
        ),
      WinrmTransportError,
    );
    assertEquals(error.kind, "auth_failed");
    assertStringIncludes(
      error.message,
      "does not offer NTLM (it offers: Basic)",
    );
  });
});
