/**
 * What the CCP client tells its observer (the gateway's metrics) about each
 * request, against the CCP emulator: its duration, and the failure class
 * (the CyberArk code, `http` without one, `network` without an answer).
 */
import { startCcpEmulator } from "../../emulator/ccp_emulator.ts";
import {
  CcpClient,
  ccpFailureClass,
  type CcpRequestReport,
} from "../../vault/ccp_client.ts";
import { CyberArkError } from "../../vault/cyberark_error.ts";
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { freePort } from "../support/free_port.ts";

const APP = "MCP-Privileged-Service";

function client(url: string): CcpClient {
  return new CcpClient({
    url: new URL(url),
    appId: APP,
    verifyTls: true,
    timeoutMs: 30_000,
  });
}

Deno.test("ccpFailureClass() keeps CyberArk codes and classes the rest as network or http", () => {
  assertEquals(ccpFailureClass("APPAP004E"), "APPAP004E");
  assertEquals(ccpFailureClass("AIMWS030E"), "AIMWS030E");
  for (
    const code of [
      "CONNECTION_REFUSED",
      "DNS_ERROR",
      "TLS_ERROR",
      "TIMEOUT",
      "NETWORK_ERROR",
    ]
  ) {
    assertEquals(ccpFailureClass(code), "network", code);
  }
  for (
    const code of ["HTTP_404", "HTTP_500", "INVALID_RESPONSE", "NO_CONTENT"]
  ) {
    assertEquals(ccpFailureClass(code), "http", code);
  }
});

Deno.test("CcpClient.observe() reports every request: an account, a CyberArk code, an HTTP error and no answer", async () => {
  const emulator = await startCcpEmulator({
    data: {
      applications: [{ appId: APP, safes: ["LINUX"] }],
      accounts: [{
        Content: "observer-Pa55-word",
        Safe: "LINUX",
        Name: "linux-root",
        UserName: "root",
        Address: "127.0.0.1",
      }],
    },
  });
  const reports: CcpRequestReport[] = [];
  const ccp = client(emulator.url);
  const wrongPath = client(emulator.url.replace("AIMWebService", "Nowhere"));
  const refused = client(
    `http://127.0.0.1:${freePort()}/AIMWebService/api/Accounts`,
  );
  const stops = [ccp, wrongPath, refused].map((c) =>
    c.observe((report) => reports.push(report))
  );
  try {
    const account = await ccp.retrieve({ safe: "LINUX", object: "linux-root" });
    assertEquals(account.userName, "root");
    const notFound = await assertRejects(
      () => ccp.retrieve({ safe: "LINUX", object: "no-such-object" }),
      CyberArkError,
    );
    await assertRejects(
      () => wrongPath.retrieve({ safe: "LINUX", object: "linux-root" }),
      CyberArkError,
    );
    await assertRejects(
      () => refused.retrieve({ safe: "LINUX", object: "linux-root" }),
      CyberArkError,
    );
    assertEquals(reports.map((report) => report.errorCode), [
      undefined,
      notFound.code,
      "http",
      "network",
    ]);
    assertEquals(notFound.code, "APPAP004E");
    assert(
      reports.every((report) => report.durationMs >= 0),
      JSON.stringify(reports),
    );
    // Nothing of the query, the AppID or the secret is in a report.
    const text = JSON.stringify(reports);
    for (const word of ["LINUX", "linux-root", APP, "observer-Pa55-word"]) {
      assert(!text.includes(word), `a report holds ${word}`);
    }
    // An invalid name is refused before any request: nothing to report.
    await assertRejects(
      () => ccp.retrieve({ safe: "bad/safe", object: "o" }),
      TypeError,
    );
    assertEquals(reports.length, 4);
    for (const stop of stops) stop();
    await ccp.retrieve({ safe: "LINUX", object: "linux-root" });
    assertEquals(reports.length, 4);
  } finally {
    for (const c of [ccp, wrongPath, refused]) c.close();
    await emulator.close();
  }
});

Deno.test("CcpClient: an observer that throws fails no retrieval", async () => {
  const emulator = await startCcpEmulator({
    data: {
      applications: [{ appId: APP, safes: ["LINUX"] }],
      accounts: [{ Content: "x-Pa55-word", Safe: "LINUX", Name: "a" }],
    },
  });
  const ccp = client(emulator.url);
  try {
    ccp.observe(() => {
      throw new Error("observer broke");
    });
    const account = await ccp.retrieve({ safe: "LINUX", object: "a" });
    assertEquals(account.name, "a");
  } finally {
    ccp.close();
    await emulator.close();
  }
});
