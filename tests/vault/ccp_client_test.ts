import { configureSync, type LogRecord, resetSync } from "@logtape/logtape";
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../support/assert.ts";
import { freePort } from "../support/free_port.ts";
import { createTlsFixtures } from "../support/tls_fixtures.ts";
import {
  type EmulatorData,
  startCcpEmulator,
} from "../../emulator/ccp_emulator.ts";
import {
  type CcpAccount,
  CcpClient,
  type CcpClientOptions,
  type CcpQuery,
} from "../../vault/ccp_client.ts";
import { CyberArkError } from "../../vault/cyberark_error.ts";
import { parsePfx, PfxError } from "../../vault/pfx.ts";
import { Secret } from "../../vault/secret.ts";
import { assertThrows } from "../support/assert.ts";

const APP = "MCP-Privileged-Service";
const SECRETS = [
  "Pa55-linux-root-!x9",
  "Pa55-dup-one-Q",
  "Pa55-dup-two-Z",
  "Pa55-cpm-busy-7",
];
const DATA: EmulatorData = {
  applications: [
    { appId: APP, safes: ["PROD-LINUX", "DUP"] },
    {
      appId: "Locked-App",
      safes: ["PROD-LINUX"],
      allowedMachines: ["10.9.9.9"],
    },
    { appId: "Cert-App", safes: ["PROD-LINUX"], certificateSerials: ["00"] },
  ],
  accounts: [
    {
      Content: SECRETS[0]!,
      Safe: "PROD-LINUX",
      Folder: "Root",
      Name: "linux-root",
      UserName: "root",
      Address: "server01.internal",
      PolicyID: "UnixSSH",
      PasswordChangeInProcess: "False",
    },
    {
      Content: SECRETS[1]!,
      Safe: "DUP",
      Name: "dup-1",
      UserName: "a",
      Address: "h1",
    },
    {
      Content: SECRETS[2]!,
      Safe: "DUP",
      Name: "dup-2",
      UserName: "b",
      Address: "h2",
    },
    {
      Content: SECRETS[3]!,
      Safe: "PROD-LINUX",
      Name: "busy",
      UserName: "svc",
      Address: "h3",
      PasswordChangeInProcess: "True",
    },
  ],
};

function client(url: string, extra: Partial<CcpClientOptions> = {}): CcpClient {
  return new CcpClient({
    url: new URL(url),
    appId: APP,
    verifyTls: true,
    // Generous: only the timeout test below wants a timeout, and sets its own.
    timeoutMs: 30_000,
    ...extra,
  });
}

/** The account most tests retrieve. */
const LINUX_ROOT: CcpQuery = { safe: "PROD-LINUX", object: "linux-root" };
/** A query for servers that answer every query alike. */
const ANY: CcpQuery = { safe: "S", object: "o" };

/** Retrieves `query` with a client of its own, closed afterwards. */
async function retrieveOnce(
  url: string,
  query: CcpQuery,
  extra: Partial<CcpClientOptions> = {},
): Promise<CcpAccount> {
  const ccp = client(url, extra);
  try {
    return await ccp.retrieve(query);
  } finally {
    ccp.close();
  }
}

/** The CyberArkError that retrieving `query` with a client of its own rejects with. */
function retrieveError(
  url: string,
  query: CcpQuery,
  extra: Partial<CcpClientOptions> = {},
): Promise<CyberArkError> {
  return assertRejects(() => retrieveOnce(url, query, extra), CyberArkError);
}

function captureLogs(): { records: LogRecord[]; done: () => void } {
  const records: LogRecord[] = [];
  configureSync({
    reset: true,
    sinks: { mem: (r) => records.push(r) },
    loggers: [{ category: [], lowestLevel: "debug", sinks: ["mem"] }, {
      category: ["logtape", "meta"],
      lowestLevel: "error",
      sinks: ["mem"],
    }],
  });
  return { records, done: () => resetSync() };
}

Deno.test("ccpClient.retrieve() returns the account with the secret wrapped", async () => {
  const emulator = await startCcpEmulator({ data: DATA });
  const ccp = client(emulator.url);
  try {
    const account = await ccp.retrieve({
      safe: "PROD-LINUX",
      object: "linux-root",
      reason: "ticket 42 & more",
    });
    assertEquals(account.content.reveal(), SECRETS[0]);
    assertEquals(String(account.content), "[redacted]");
    assertEquals(account.userName, "root");
    assertEquals(account.address, "server01.internal");
    assertEquals(account.folder, "Root");
    assertEquals(account.passwordChangeInProcess, false);
    assertEquals(account.properties.PolicyID, "UnixSSH");
    assertEquals("Content" in account.properties, false);
    const busy = await ccp.retrieve({ safe: "PROD-LINUX", object: "busy" });
    assertEquals(busy.passwordChangeInProcess, true);
  } finally {
    ccp.close();
    await emulator.close();
  }
});

Deno.test("ccpClient.requestUrl() encodes every parameter (no '+' for spaces)", () => {
  const ccp = client("https://ccp.example/AIMWebService/api/Accounts");
  const url = ccp.requestUrl({
    safe: "S 1",
    object: "o#1",
    folder: "Root\\x".replace("\\x", ""),
    reason: "a+b c",
  });
  assertEquals(
    url.search,
    "?AppID=MCP-Privileged-Service&Safe=S%201&Folder=Root&Object=o%231&Reason=a%2Bb%20c",
  );
  ccp.close();
});

Deno.test("ccpClient.retrieve() maps every CCP error code to a message that names the fix", async () => {
  const emulator = await startCcpEmulator({ data: DATA });
  const cases: [
    Partial<CcpClientOptions>,
    CcpQuery,
    string,
    number,
    string,
  ][] = [
    [
      {},
      { safe: "PROD-LINUX", object: "missing" },
      "APPAP004E",
      404,
      "check the spelling and case",
    ],
    [
      {},
      { safe: "OTHER", object: "linux-root" },
      "APPAP004E",
      404,
      "Retrieve permission",
    ],
    [{ appId: "Nobody" }, LINUX_ROOT, "APPAP008E", 403, "set CYBERARK_APP_ID"],
    [{ appId: "Locked-App" }, LINUX_ROOT, "APPAP306E", 403, "Allowed Machines"],
    [{ appId: "Cert-App" }, LINUX_ROOT, "APPAP306E", 403, "APPAP006E"],
  ];
  try {
    for (const [options, query, code, status, fix] of cases) {
      const error = await retrieveError(emulator.url, query, options);
      assertEquals(error.code, code, `${query.safe}/${query.object}`);
      assertEquals(error.httpStatus, status);
      assertStringIncludes(
        error.message,
        `Cannot retrieve "${query.object}" from safe "${query.safe}"`,
      );
      assertStringIncludes(error.message, fix);
      for (const secret of SECRETS) assert(!error.message.includes(secret));
    }
    emulator.vaultAvailable = false;
    const down = await retrieveError(emulator.url, LINUX_ROOT);
    assertEquals(down.code, "APPAP007E");
    assertStringIncludes(down.message, "connection to the Vault failed");
  } finally {
    await emulator.close();
  }
});

Deno.test("ccpClient.retrieve() reports the CPM changing the password (APPAP282E)", async () => {
  // The client never sends FailRequestOnPasswordChange; the CCP's 500 answer is still mapped.
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () =>
      Response.json({
        ErrorCode: "APPAP282E",
        ErrorMsg: "Password [busy] is currently being changed by the CPM.",
      }, {
        status: 500,
      }),
  );
  try {
    const error = await retrieveError(
      `http://127.0.0.1:${server.addr.port}/AIMWebService/api/Accounts`,
      { safe: "S", object: "busy" },
    );
    assertEquals(error.code, "APPAP282E");
    assertStringIncludes(error.message, "retry in a minute");
  } finally {
    await server.shutdown();
  }
});

Deno.test("ccpClient.retrieve() explains IIS pages, non-JSON bodies and the manual's alias codes", async () => {
  const answers: Record<string, () => Response> = {
    "/html403": () =>
      new Response(
        "<html><head><title>403 - Forbidden: Access is denied.</title></head></html>",
        {
          status: 403,
          headers: { "content-type": "text/html" },
        },
      ),
    "/aspnet": () =>
      Response.json({ Message: "An error has occurred." }, { status: 500 }),
    "/notjson": () => new Response("OK", { status: 200 }),
    "/nocontent": () => Response.json({ UserName: "x" }),
    "/alias006": () =>
      Response.json({ ErrorCode: "APPAP006E", ErrorMsg: "not allowed" }, {
        status: 403,
      }),
    "/unknown": () =>
      Response.json({ ErrorCode: "ZZZZ123E", ErrorMsg: "odd" }, {
        status: 400,
      }),
    // Real text from the reference; the emulator cannot produce it for Safe+Object queries.
    "/many": () =>
      Response.json({
        ErrorCode: "APPAP229E",
        ErrorMsg:
          "Too many password objects matching query [Folder=Root;Safe=S] were found: (Safe=S;Folder=Root;Object=a and Safe=S;Folder=Root;Object=b) (Diagnostic Info: 41)",
      }, { status: 400 }),
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => answers[new URL(req.url).pathname]!(),
  );
  const expect: [string, string, string][] = [
    [
      "/html403",
      "HTTP_403",
      'an HTML page titled "403 - Forbidden: Access is denied."',
    ],
    ["/aspnet", "HTTP_500", "ASP.NET said: An error has occurred."],
    ["/notjson", "INVALID_RESPONSE", "not a JSON object"],
    ["/nocontent", "NO_CONTENT", "without a Content value"],
    ["/alias006", "APPAP006E", "Allowed Machines"],
    ["/unknown", "ZZZZ123E", "look the code up"],
    ["/many", "APPAP229E", "matches more than one account"],
  ];
  try {
    for (const [path, code, text] of expect) {
      const error = await retrieveError(
        `http://127.0.0.1:${server.addr.port}${path}`,
        ANY,
      );
      assertEquals(error.code, code, path);
      assertStringIncludes(error.message, text);
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("ccpClient.retrieve() explains a wrong URL path (IIS 404 from the emulator)", async () => {
  const emulator = await startCcpEmulator({ data: DATA });
  try {
    const error = await retrieveError(
      emulator.url.replace("AIMWebService", "WrongService"),
      LINUX_ROOT,
    );
    assertEquals(error.code, "HTTP_404");
    assertStringIncludes(error.message, "check CYBERARK_CCP_URL");
  } finally {
    await emulator.close();
  }
});

Deno.test("ccpClient.retrieve() explains refused connections and timeouts", async () => {
  const error = await retrieveError(
    `https://127.0.0.1:${freePort()}/AIMWebService/api/Accounts`,
    ANY,
  );
  assertEquals(error.code, "CONNECTION_REFUSED");
  assertStringIncludes(
    error.message,
    "refused the connection; check CYBERARK_CCP_URL",
  );

  // A server that accepts and never answers.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) held.push(conn);
  })();
  for (const verifyTls of [true, false]) {
    const timeout = await retrieveError(
      `https://127.0.0.1:${silent.addr.port}/AIMWebService/api/Accounts`,
      ANY,
      { timeoutMs: 300, verifyTls },
    );
    assertEquals(timeout.code, "TIMEOUT", `verifyTls=${verifyTls}`);
    assertStringIncludes(timeout.message, "CYBERARK_TIMEOUT_SECONDS");
  }
  silent.close();
  for (const conn of held) conn.close();
  await accepting;
});

Deno.test("ccpClient over HTTPS: trusts a CA bundle, refuses an unknown CA, and warns when verification is off", async () => {
  const tls = createTlsFixtures();
  const emulator = await startCcpEmulator({
    data: DATA,
    tls: { certPem: tls.serverCertPem, keyPem: tls.serverKeyPem },
  });
  const logs = captureLogs();
  try {
    const trusted = await retrieveOnce(emulator.url, LINUX_ROOT, {
      caCertsPem: [tls.caCertPem],
    });
    assertEquals(trusted.userName, "root");

    const error = await retrieveError(emulator.url, LINUX_ROOT);
    assertEquals(error.code, "TLS_ERROR");
    assertStringIncludes(
      error.message,
      "set CYBERARK_VERIFY_SSL to the path of that CA bundle",
    );

    const insecure = client(emulator.url, { verifyTls: false });
    for (let i = 0; i < 2; i++) {
      assertEquals(
        (await insecure.retrieve(LINUX_ROOT)).userName,
        "root",
      );
    }
    insecure.close();
    const warnings = logs.records.filter((r) =>
      r.level === "warning" &&
      String(r.rawMessage).includes("CYBERARK_VERIFY_SSL=false")
    );
    assertEquals(warnings.length, 2, "one warning per call");
    const all = JSON.stringify(
      logs.records.map((r) => [r.message, r.properties]),
    );
    for (const secret of SECRETS) {
      assert(!all.includes(secret), "no secret in logs");
    }
  } finally {
    logs.done();
    await emulator.close();
  }
});

Deno.test("ccpClient authenticates with the client certificate from a PFX (mTLS)", async () => {
  const tls = createTlsFixtures();
  const emulator = await startCcpEmulator({
    data: {
      ...DATA,
      applications: [{
        appId: APP,
        safes: ["PROD-LINUX"],
        certificateSerials: [tls.clientSerialHex],
      }],
    },
    tls: {
      certPem: tls.serverCertPem,
      keyPem: tls.serverKeyPem,
      clientCaPem: tls.caCertPem,
    },
  });
  try {
    const certificate = parsePfx(
      tls.clientPfx,
      new Secret(tls.clientPfxPassword),
    );
    assertEquals(
      certificate.serialNumber,
      tls.clientSerialHex.replace(/^0+(?=.)/, ""),
    );
    assertEquals(String(certificate.keyPem), "[redacted]");
    for (const verifyTls of [true, false]) {
      const withCert = await retrieveOnce(emulator.url, LINUX_ROOT, {
        caCertsPem: [tls.caCertPem],
        clientCertificate: certificate,
        verifyTls,
      });
      assertEquals(withCert.userName, "root");
    }
    const error = await retrieveError(emulator.url, LINUX_ROOT, {
      caCertsPem: [tls.caCertPem],
    });
    assertEquals(error.code, "APPAP306E");
  } finally {
    await emulator.close();
  }
});

Deno.test("parsePfx() refuses a wrong password and a file that is not PKCS#12", () => {
  const tls = createTlsFixtures();
  assertThrows(
    () => parsePfx(tls.clientPfx, new Secret("wrong")),
    PfxError,
    "PFX password is wrong",
  );
  assertThrows(
    () => parsePfx(new TextEncoder().encode("not a pfx"), new Secret("")),
    PfxError,
    "not a PKCS#12",
  );
});

Deno.test("ccpClient.retrieve() refuses invalid names before any request", async () => {
  const ccp = client("http://127.0.0.1:9/AIMWebService/api/Accounts");
  for (
    const query of [
      { safe: "", object: "o" },
      { safe: "S", object: " o" },
      { safe: "S;x", object: "o" },
      { safe: "S", object: "a&b" },
      { safe: "S", object: "a\u0000b" },
      { safe: "x".repeat(29), object: "o" },
      { safe: "S", object: "o", reason: "line\nbreak" },
    ]
  ) {
    await assertRejects(() => ccp.retrieve(query), TypeError);
  }
  ccp.close();
});
