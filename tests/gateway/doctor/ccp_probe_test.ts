import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../../support/assert.ts";
import { createTlsFixtures } from "../../support/tls_fixtures.ts";
import {
  type CheckResult,
  classifyCcpProbe,
  formatCheck,
  probeCcp,
} from "../../../gateway/doctor/mod.ts";
import { createCcpClient } from "../../../gateway/ccp_setup.ts";
import { CyberArkError } from "../../../vault/cyberark_error.ts";
import {
  type EmulatorData,
  startCcpEmulator,
} from "../../../emulator/ccp_emulator.ts";
import { APP, config, statusOf } from "./_doctor.ts";
import { freePort } from "../../support/free_port.ts";

const CONTEXT = {
  appId: APP,
  endpoint: "ccp.example.internal",
  safe: "TEST",
  object: "TEST-obj",
};

function emulatorData(allowedMachines?: string[]): EmulatorData {
  return {
    applications: [{
      appId: APP,
      safes: ["TEST"],
      ...(allowedMachines === undefined ? {} : { allowedMachines }),
    }],
    accounts: [{
      Safe: "TEST",
      Name: "present",
      Content: "Probe-Password-Never-Printed-123",
      UserName: "probe",
      Address: "127.0.0.1",
    }],
  };
}

async function probeWith(
  env: Record<string, string>,
  object = "TEST-obj",
): Promise<CheckResult> {
  const c = config(env);
  const client = await createCcpClient(c.cyberark);
  try {
    return await probeCcp(client, {
      appId: APP,
      endpoint: c.cyberark.ccpUrl.host,
      safe: "TEST",
      object,
    });
  } finally {
    client.close();
  }
}

Deno.test("classifyCcpProbe() reads the CCP's answers as manual section 2.3 does", () => {
  const cases: [string, number | undefined, string][] = [
    ["APPAP004E", 404, "PASS"],
    ["APPAP306E", 403, "FAIL"],
    ["APPAP006E", 403, "FAIL"],
    ["APPAP008E", 403, "FAIL"],
    ["CONNECTION_REFUSED", undefined, "FAIL"],
    ["TLS_ERROR", undefined, "FAIL"],
    ["TIMEOUT", undefined, "FAIL"],
    ["DNS_ERROR", undefined, "FAIL"],
    ["APPAP282E", 500, "FAIL"],
  ];
  for (const [code, httpStatus, expected] of cases) {
    const error = new CyberArkError(
      code,
      "Cannot retrieve: cause; fix",
      httpStatus === undefined ? {} : { httpStatus },
    );
    const result = classifyCcpProbe({ ok: false, error }, CONTEXT);
    assertEquals(result.status, expected, code);
  }
  assertEquals(classifyCcpProbe({ ok: true }, CONTEXT).status, "PASS");
  const aliased = classifyCcpProbe({
    ok: false,
    error: new CyberArkError("APPAP306E", "x", { httpStatus: 403 }),
  }, CONTEXT);
  assertStringIncludes(aliased.detail, "the manual's APPAP006E");
  assertStringIncludes(aliased.fix ?? "", "Allowed Machines");
  const notFound = classifyCcpProbe({
    ok: false,
    error: new CyberArkError("APPAP004E", "x", { httpStatus: 404 }),
  }, CONTEXT);
  assertStringIncludes(notFound.detail, "the manual's APPAP007E");
  assertEquals(
    classifyCcpProbe(
      { ok: false, error: new TypeError("Invalid safe") },
      CONTEXT,
    )
      .status,
    "FAIL",
  );
});

Deno.test("probeCcp() against the emulator: 200 and 404 pass, 403 APPAP306E fails", async () => {
  const open = await startCcpEmulator({ data: emulatorData() });
  const closed = await startCcpEmulator({ data: emulatorData(["10.9.9.9"]) });
  try {
    const found = await probeWith({ CYBERARK_CCP_URL: open.url }, "present");
    assertEquals(statusOf(found), "PASS ccp");
    assertStringIncludes(found.detail, "answered 200");
    assert(!formatCheck(found).includes("Probe-Password"));

    const missing = await probeWith({ CYBERARK_CCP_URL: open.url });
    assertEquals(statusOf(missing), "PASS ccp");
    assertStringIncludes(missing.detail, "APPAP004E (HTTP 404)");

    const refused = await probeWith({ CYBERARK_CCP_URL: closed.url });
    assertEquals(statusOf(refused), "FAIL ccp");
    assertStringIncludes(refused.detail, "APPAP306E (HTTP 403)");
  } finally {
    await open.close();
    await closed.close();
  }
});

Deno.test("probeCcp() fails a refused connection, a TLS error and a timeout", async () => {
  const closedPort = freePort();
  const refused = await probeWith({
    CYBERARK_CCP_URL:
      `http://127.0.0.1:${closedPort}/AIMWebService/api/Accounts`,
  });
  assertEquals(statusOf(refused), "FAIL ccp");
  assertStringIncludes(refused.detail, "refused the connection");

  const tls = createTlsFixtures();
  const https = await startCcpEmulator({
    data: emulatorData(),
    tls: { certPem: tls.serverCertPem, keyPem: tls.serverKeyPem },
  });
  try {
    const untrusted = await probeWith({ CYBERARK_CCP_URL: https.url });
    assertEquals(statusOf(untrusted), "FAIL ccp");
    assertMatch(untrusted.detail, /^TLS with CCP 127\.0\.0\.1:\d+ failed$/);
  } finally {
    await https.close();
  }

  // Accepts connections and never answers, like a firewall that drops replies.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const connection of silent) held.push(connection);
    } catch {
      // Closed below.
    }
  })();
  try {
    const slow = await probeWith({
      CYBERARK_CCP_URL:
        `http://127.0.0.1:${silent.addr.port}/AIMWebService/api/Accounts`,
      CYBERARK_TIMEOUT_SECONDS: "1",
    });
    assertEquals(statusOf(slow), "FAIL ccp");
    assertStringIncludes(slow.detail, "did not answer in time");
  } finally {
    silent.close();
    for (const connection of held) connection.close();
    await accepting;
  }
});
