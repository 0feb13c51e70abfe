import { fileURLToPath } from "node:url";
import {
  type CcpEmulatorOptions,
  type EmulatorData,
  loadEmulatorData,
  matchesAllowedMachines,
  type RunningCcpEmulator,
  startCcpEmulator,
} from "../../emulator/ccp_emulator.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "../support/assert.ts";
import {
  createTlsFixtures,
  type TlsFixtures,
} from "../support/tls_fixtures.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DEMO_DATA_PATH = fileURLToPath(
  new URL("../../emulator/demo_accounts.json", import.meta.url),
);

let tlsCache: TlsFixtures | undefined;
function tls(): TlsFixtures {
  tlsCache ??= createTlsFixtures({ pfxPassword: "emulator-test" });
  return tlsCache;
}

function testData(certificateSerial = "00"): EmulatorData {
  return {
    applications: [
      { appId: "TestApp", safes: ["SAFE-A", "SAFE-B"] },
      {
        appId: "LockedApp",
        allowedMachines: ["10.0.0.0/8", "192.168.1.10"],
        safes: ["SAFE-A"],
      },
      {
        appId: "LoopbackApp",
        allowedMachines: ["127.0.0.0/8", "::1"],
        safes: ["SAFE-A"],
      },
      {
        appId: "CertApp",
        certificateSerials: [certificateSerial],
        safes: ["SAFE-A"],
      },
      {
        appId: "OtherCertApp",
        certificateSerials: ["1234ABCD"],
        safes: ["SAFE-A"],
      },
    ],
    accounts: [
      {
        Safe: "SAFE-A",
        Folder: "Root",
        Name: "linux-root",
        Content: "Test-Secret-linux-root",
        UserName: "root",
        Address: "server01.internal",
        PolicyID: "UnixSSH",
        PasswordChangeInProcess: "False",
      },
      {
        Safe: "SAFE-A",
        Name: "changing",
        Content: "Test-Secret-changing",
        UserName: "deploy",
        Address: "server02.internal",
        PasswordChangeInProcess: "True",
      },
      {
        Safe: "SAFE-A",
        Name: "web01-admin",
        Content: "Test-1",
        UserName: "svc_admin",
        Address: "web01.internal",
      },
      {
        Safe: "SAFE-A",
        Name: "web02-admin",
        Content: "Test-2",
        UserName: "svc_admin",
        Address: "web02.internal",
      },
      {
        Safe: "SAFE-A",
        Folder: "Root\\Linux",
        Name: "nested",
        Content: "Test-nested",
        UserName: "nested",
      },
      {
        Safe: "SAFE-B",
        Name: "pg-reader",
        Content: "Test-pg",
        UserName: "db_reader",
        Address: "pg.internal",
        Database: "orders",
        PolicyID: "PostgreSQL",
      },
      {
        Safe: "SAFE-C",
        Name: "hidden",
        Content: "Test-hidden",
        UserName: "hidden",
      },
    ],
  };
}

interface Reply {
  status: number;
  contentType: string;
  text: string;
  json: Record<string, string> | undefined;
}

/** GET the emulator with a raw query string (kept raw so tests control name case). */
async function get(
  emulator: RunningCcpEmulator,
  query: string,
  init: { client?: Deno.HttpClient; method?: string; url?: string } = {},
): Promise<Reply> {
  const requestInit: RequestInit & { client?: Deno.HttpClient } = {
    method: init.method ?? "GET",
  };
  if (init.client !== undefined) requestInit.client = init.client;
  const response = await fetch(
    `${init.url ?? emulator.url}${query === "" ? "" : "?"}${query}`,
    requestInit,
  );
  const text = await response.text();
  const contentType = response.headers.get("content-type") ?? "";
  return {
    status: response.status,
    contentType,
    text,
    json: contentType.startsWith("application/json")
      ? JSON.parse(text)
      : undefined,
  };
}

async function withEmulator(
  options: Partial<CcpEmulatorOptions>,
  body: (emulator: RunningCcpEmulator) => Promise<void>,
): Promise<void> {
  const emulator = await startCcpEmulator({ data: testData(), ...options });
  try {
    await body(emulator);
  } finally {
    await emulator.close();
  }
}

function assertCcpError(reply: Reply, status: number, code: string): string {
  assertEquals(reply.status, status, reply.text);
  assertEquals(reply.contentType, "application/json; charset=utf-8");
  assertEquals(Object.keys(reply.json ?? {}), ["ErrorCode", "ErrorMsg"]);
  assertEquals(reply.json?.["ErrorCode"], code);
  return reply.json?.["ErrorMsg"] ?? "";
}

/**
 * Asks a fresh default emulator for `query`, checks that it answers the CCP
 * error `code` with `status`, and returns the ErrorMsg.
 */
async function errorAnswer(
  query: string,
  status: number,
  code: string,
): Promise<string> {
  let message = "";
  await withEmulator({}, async (emulator) => {
    message = assertCcpError(await get(emulator, query), status, code);
  });
  return message;
}

const NOT_FOUND_TAIL =
  "Please check that there is a password object that answers your query in the Vault " +
  "and that both the Provider and the application user have the appropriate permissions needed in order to use the password.";

// ---------------------------------------------------------------------------

Deno.test("startCcpEmulator() returns an account over HTTP with Content first and string values", async () => {
  await withEmulator({}, async (emulator) => {
    assertMatch(
      emulator.url,
      /^http:\/\/127\.0\.0\.1:\d+\/AIMWebService\/api\/Accounts$/,
    );
    const reply = await get(
      emulator,
      "AppID=TestApp&Safe=SAFE-A&Object=linux-root&Reason=ticket-42",
    );
    assertEquals(reply.status, 200);
    assertEquals(reply.contentType, "application/json; charset=utf-8");
    assertEquals(reply.json, {
      Content: "Test-Secret-linux-root",
      Safe: "SAFE-A",
      Folder: "Root",
      Name: "linux-root",
      UserName: "root",
      Address: "server01.internal",
      PolicyID: "UnixSSH",
      PasswordChangeInProcess: "False",
    });
    assertEquals(Object.keys(reply.json ?? {})[0], "Content");
    assertEquals(emulator.requests, 1);
  });
});

Deno.test("startCcpEmulator() serves HTTPS with a certificate from the test CA", async () => {
  const { caCertPem, serverCertPem, serverKeyPem } = tls();
  const client = Deno.createHttpClient({ caCerts: [caCertPem] });
  try {
    await withEmulator({
      tls: { certPem: serverCertPem, keyPem: serverKeyPem },
    }, async (emulator) => {
      assertMatch(emulator.url, /^https:\/\/127\.0\.0\.1:\d+\//);
      const reply = await get(
        emulator,
        "AppID=TestApp&Safe=SAFE-B&Object=pg-reader",
        { client },
      );
      assertEquals(reply.status, 200);
      assertEquals(reply.json?.["Content"], "Test-pg");
      assertEquals(reply.json?.["Database"], "orders");
    });
  } finally {
    client.close();
  }
});

Deno.test("startCcpEmulator() treats parameter names case-insensitively", async () => {
  await withEmulator({}, async (emulator) => {
    for (
      const query of [
        "appid=TestApp&safe=SAFE-A&object=linux-root",
        "AppId=TestApp&SAFE=SAFE-A&OBJECT=linux-root",
      ]
    ) {
      const reply = await get(emulator, query);
      assertEquals(reply.status, 200, query);
      assertEquals(reply.json?.["Name"], "linux-root");
    }
  });
});

Deno.test("startCcpEmulator() matches values case-sensitively", async () => {
  const message = await errorAnswer(
    "AppID=TestApp&Safe=safe-a&Object=linux-root",
    404,
    "APPAP004E",
  );
  assertStringIncludes(message, "[Safe=safe-a;Folder=Root;Object=linux-root]");
});

Deno.test("startCcpEmulator() answers 400 AIMWS031E when AppID is missing", async () => {
  const message = await errorAnswer(
    "Safe=SAFE-A&Object=linux-root",
    400,
    "AIMWS031E",
  );
  assertEquals(message, "Invalid request. The AppID parameter is required");
});

Deno.test("startCcpEmulator() answers 400 APPAP081E when AppID comes without any criterion", async () => {
  await withEmulator({}, async (emulator) => {
    for (const query of ["AppID=TestApp", "AppID=TestApp&Reason=why"]) {
      const message = assertCcpError(
        await get(emulator, query),
        400,
        "APPAP081E",
      );
      assertEquals(message, "Request message content is invalid");
    }
  });
});

Deno.test("startCcpEmulator() answers 403 APPAP008E for an unknown AppID", async () => {
  const message = await errorAnswer(
    "AppID=NoSuchApp&Safe=SAFE-A&Object=linux-root",
    403,
    "APPAP008E",
  );
  assertEquals(
    message,
    "Problem occurred while trying to use user in the Vault (Error: ITATS982E User NoSuchApp is not defined.  Diagnostic Info: 6)",
  );
});

Deno.test("startCcpEmulator() answers 404 APPAP004E for a missing object", async () => {
  const message = await errorAnswer(
    "AppID=TestApp&Safe=SAFE-A&Object=nope",
    404,
    "APPAP004E",
  );
  assertEquals(
    message,
    `Password object matching query [Safe=SAFE-A;Folder=Root;Object=nope] was not found (Diagnostic Info: 9). ${NOT_FOUND_TAIL}`,
  );
});

Deno.test("startCcpEmulator() answers 404 APPAP004E when the AppID lacks the safe", async () => {
  const message = await errorAnswer(
    "AppID=TestApp&Safe=SAFE-C&Object=hidden",
    404,
    "APPAP004E",
  );
  assertStringIncludes(message, "[Safe=SAFE-C;Folder=Root;Object=hidden]");
});

Deno.test("startCcpEmulator() defaults Folder to Root and honours an explicit Folder", async () => {
  await withEmulator({}, async (emulator) => {
    assertCcpError(
      await get(emulator, "AppID=TestApp&Safe=SAFE-A&Object=nested"),
      404,
      "APPAP004E",
    );
    const reply = await get(
      emulator,
      `AppID=TestApp&Safe=SAFE-A&Folder=${
        encodeURIComponent("Root\\Linux")
      }&Object=nested`,
    );
    assertEquals(reply.status, 200);
    assertEquals(reply.json?.["Folder"], "Root\\Linux");
  });
});

Deno.test("startCcpEmulator() filters on UserName, Address, Database and PolicyID", async () => {
  await withEmulator({}, async (emulator) => {
    const byUser = await get(
      emulator,
      "AppID=TestApp&UserName=svc_admin&Address=web02.internal",
    );
    assertEquals(byUser.json?.["Name"], "web02-admin");
    const byDatabase = await get(
      emulator,
      "AppID=TestApp&Database=orders&PolicyID=PostgreSQL",
    );
    assertEquals(byDatabase.json?.["Name"], "pg-reader");
    const message = assertCcpError(
      await get(emulator, "AppID=TestApp&Database=orders&PolicyID=MySQL"),
      404,
      "APPAP004E",
    );
    assertStringIncludes(
      message,
      "[Folder=Root;Database=orders;PolicyID=MySQL]",
    );
  });
});

Deno.test("startCcpEmulator() answers 400 APPAP229E when several objects match", async () => {
  const message = await errorAnswer(
    "AppID=TestApp&Safe=SAFE-A&UserName=svc_admin",
    400,
    "APPAP229E",
  );
  assertEquals(
    message,
    "Too many password objects matching query [Safe=SAFE-A;Folder=Root;UserName=svc_admin] were found: " +
      "(Safe=SAFE-A;Folder=Root;Object=web01-admin and Safe=SAFE-A;Folder=Root;Object=web02-admin) (Diagnostic Info: 41)",
  );
});

Deno.test("startCcpEmulator() lets Query override the separate criteria", async () => {
  await withEmulator({}, async (emulator) => {
    const query = encodeURIComponent(
      "Safe=SAFE-A;Folder=Root;Object=linux-root",
    );
    const reply = await get(
      emulator,
      `AppID=TestApp&Safe=SAFE-B&Object=pg-reader&Query=${query}`,
    );
    assertEquals(reply.status, 200);
    assertEquals(reply.json?.["Name"], "linux-root");

    const missing = encodeURIComponent("Safe=SAFE-A;Object=nope");
    const message = assertCcpError(
      await get(emulator, `AppID=TestApp&query=${missing}`),
      404,
      "APPAP004E",
    );
    assertStringIncludes(message, "[Safe=SAFE-A;Object=nope] was not found");
  });
});

Deno.test("startCcpEmulator() treats Query values as anchored regexes with QueryFormat=Regexp", async () => {
  await withEmulator({}, async (emulator) => {
    const one = await get(
      emulator,
      `AppID=TestApp&Query=${
        encodeURIComponent("Safe=SAFE-A;Object=web0[1]-.*")
      }&QueryFormat=Regexp`,
    );
    assertEquals(one.json?.["Name"], "web01-admin");

    const anchored = encodeURIComponent("Safe=SAFE-A;Object=inux-root");
    assertCcpError(
      await get(emulator, `AppID=TestApp&Query=${anchored}&QueryFormat=Regexp`),
      404,
      "APPAP004E",
    );

    const several = encodeURIComponent("Safe=SAFE-A;Object=web.*");
    assertCcpError(
      await get(emulator, `AppID=TestApp&Query=${several}&queryformat=regexp`),
      400,
      "APPAP229E",
    );

    // Exact is the default: regex syntax is then literal text.
    assertCcpError(
      await get(emulator, `AppID=TestApp&Query=${several}`),
      404,
      "APPAP004E",
    );
  });
});

Deno.test("startCcpEmulator() answers 400 AIMWS030E for a malformed Query or QueryFormat", async () => {
  await withEmulator({}, async (emulator) => {
    for (
      const query of [
        `Query=${encodeURIComponent("Safe")}`,
        `Query=${
          encodeURIComponent("Safe=SAFE-A;Object=(")
        }&QueryFormat=Regexp`,
        "Safe=SAFE-A&QueryFormat=Fuzzy",
      ]
    ) {
      const message = assertCcpError(
        await get(emulator, `AppID=TestApp&${query}`),
        400,
        "AIMWS030E",
      );
      assertEquals(message, "Invalid query format");
    }
  });
});

Deno.test("startCcpEmulator() returns PasswordChangeInProcess True unless FailRequestOnPasswordChange is set", async () => {
  await withEmulator({}, async (emulator) => {
    const reply = await get(
      emulator,
      "AppID=TestApp&Safe=SAFE-A&Object=changing",
    );
    assertEquals(reply.status, 200);
    assertEquals(reply.json?.["PasswordChangeInProcess"], "True");
    assertEquals(reply.json?.["Content"], "Test-Secret-changing");

    const refused = await get(
      emulator,
      "AppID=TestApp&Safe=SAFE-A&Object=changing&FailRequestOnPasswordChange=true",
    );
    assertEquals(
      assertCcpError(refused, 500, "APPAP282E"),
      "Password [changing] is currently being changed by the CPM.",
    );

    const stable = await get(
      emulator,
      "AppID=TestApp&Safe=SAFE-A&Object=linux-root&failrequestonpasswordchange=True",
    );
    assertEquals(stable.status, 200);
  });
});

Deno.test("startCcpEmulator() answers 400 APPAP007E while the Vault is unavailable", async () => {
  await withEmulator({ vaultAvailable: false }, async (emulator) => {
    const message = assertCcpError(
      await get(emulator, "AppID=TestApp&Safe=SAFE-A&Object=linux-root"),
      400,
      "APPAP007E",
    );
    assertEquals(message, "Connection to the Vault failed");
    emulator.vaultAvailable = true;
    assertEquals(
      (await get(emulator, "AppID=TestApp&Safe=SAFE-A&Object=linux-root"))
        .status,
      200,
    );
  });
});

Deno.test("startCcpEmulator() answers 403 APPAP306E to a machine outside allowedMachines", async () => {
  await withEmulator({}, async (emulator) => {
    const message = assertCcpError(
      await get(emulator, "AppID=LockedApp&Safe=SAFE-A&Object=linux-root"),
      403,
      "APPAP306E",
    );
    assertEquals(
      message,
      "Authentication error for App ID [LockedApp]. Reason: APPAP133E Failed to verify application authentication data: " +
        'MachineAddress "127.0.0.1" is unauthorized',
    );
    assertEquals(
      (await get(emulator, "AppID=LoopbackApp&Safe=SAFE-A&Object=linux-root"))
        .status,
      200,
    );
  });
});

Deno.test("startCcpEmulator() checks allowedMachines against an IPv6 source address", async () => {
  await withEmulator({ hostname: "::1" }, async (emulator) => {
    assertMatch(emulator.url, /^http:\/\/\[::1\]:\d+\//);
    assertEquals(
      (await get(emulator, "AppID=LoopbackApp&Safe=SAFE-A&Object=linux-root"))
        .status,
      200,
    );
    const message = assertCcpError(
      await get(emulator, "AppID=LockedApp&Safe=SAFE-A&Object=linux-root"),
      403,
      "APPAP306E",
    );
    assertStringIncludes(message, 'MachineAddress "::1" is unauthorized');
  });
});

Deno.test("matchesAllowedMachines() handles IPv4, IPv6, CIDRs and IPv4-mapped addresses", () => {
  assert(matchesAllowedMachines("10.1.2.3", ["10.0.0.0/8"]));
  assert(!matchesAllowedMachines("11.1.2.3", ["10.0.0.0/8"]));
  assert(matchesAllowedMachines("192.168.1.10", ["192.168.1.10"]));
  assert(!matchesAllowedMachines("192.168.1.11", ["192.168.1.10"]));
  assert(matchesAllowedMachines("172.31.255.1", ["172.16.0.0/12"]));
  assert(!matchesAllowedMachines("172.32.0.1", ["172.16.0.0/12"]));
  assert(matchesAllowedMachines("::ffff:127.0.0.1", ["127.0.0.0/8"]));
  assert(matchesAllowedMachines("127.0.0.1", ["::ffff:127.0.0.0/104"]));
  assert(matchesAllowedMachines("2001:db8::1", ["2001:db8::/32"]));
  assert(!matchesAllowedMachines("2001:db9::1", ["2001:db8::/32"]));
  assert(matchesAllowedMachines("fe80::1%eth0", ["fe80::/10"]));
  assert(matchesAllowedMachines("1.2.3.4", ["0.0.0.0/0"]));
  assert(!matchesAllowedMachines("::1", ["0.0.0.0/0"]));
  assert(!matchesAllowedMachines("not-an-ip", ["0.0.0.0/0"]));
});

Deno.test("startCcpEmulator() enforces certificateSerials over mutual TLS", async () => {
  const fixtures = tls();
  const otherCa = createTlsFixtures();
  const noCert = Deno.createHttpClient({ caCerts: [fixtures.caCertPem] });
  const rightCert = Deno.createHttpClient({
    caCerts: [fixtures.caCertPem],
    cert: fixtures.clientCertPem,
    key: fixtures.clientKeyPem,
  });
  const foreignCert = Deno.createHttpClient({
    caCerts: [fixtures.caCertPem],
    cert: otherCa.clientCertPem,
    key: otherCa.clientKeyPem,
  });
  const data = testData(fixtures.clientSerialHex);
  // An attacker's certificate with a listed serial, issued by another CA.
  data.applications.push({
    appId: "ForeignApp",
    certificateSerials: [otherCa.clientSerialHex],
    safes: ["SAFE-A"],
  });
  const options: Partial<CcpEmulatorOptions> = {
    data,
    tls: {
      certPem: fixtures.serverCertPem,
      keyPem: fixtures.serverKeyPem,
      clientCaPem: fixtures.caCertPem,
    },
  };
  const prefix =
    "Authentication error for App ID [CertApp]. Reason: APPAP133E Failed to verify application authentication data: ";
  try {
    await withEmulator(options, async (emulator) => {
      const query = "AppID=CertApp&Safe=SAFE-A&Object=linux-root";
      const missing = assertCcpError(
        await get(emulator, query, { client: noCert }),
        403,
        "APPAP306E",
      );
      assertEquals(missing, `${prefix}CertificateSN "" is unauthorized`);

      const wrong = await get(
        emulator,
        "AppID=OtherCertApp&Safe=SAFE-A&Object=linux-root",
        { client: rightCert },
      );
      assertStringIncludes(
        assertCcpError(wrong, 403, "APPAP306E"),
        `CertificateSN "${fixtures.clientSerialHex.toLowerCase()}" is unauthorized`,
      );

      const foreign = await get(
        emulator,
        "AppID=ForeignApp&Safe=SAFE-A&Object=linux-root",
        { client: foreignCert },
      );
      assertCcpError(foreign, 403, "APPAP306E");

      const ok = await get(emulator, query, { client: rightCert });
      assertEquals(ok.status, 200);
      assertEquals(ok.json?.["Content"], "Test-Secret-linux-root");

      // An AppID without certificateSerials ignores the certificate.
      assertEquals(
        (await get(emulator, "AppID=TestApp&Safe=SAFE-A&Object=linux-root", {
          client: noCert,
        })).status,
        200,
      );
    });
  } finally {
    noCert.close();
    rightCert.close();
    foreignCert.close();
  }
});

Deno.test("startCcpEmulator() refuses a certificate-bound AppID over plain HTTP", async () => {
  await withEmulator({}, async (emulator) => {
    assertCcpError(
      await get(emulator, "AppID=CertApp&Safe=SAFE-A&Object=linux-root"),
      403,
      "APPAP306E",
    );
  });
});

Deno.test("startCcpEmulator() answers an IIS HTML 404 on a wrong path and 405 on a wrong method", async () => {
  await withEmulator({}, async (emulator) => {
    const base = emulator.url.replace(/\/AIMWebService\/api\/Accounts$/, "");
    for (
      const path of [
        "/",
        "/AIMWebService/api/Account",
        "/PasswordVault/api/Accounts",
      ]
    ) {
      const reply = await get(
        emulator,
        "AppID=TestApp&Safe=SAFE-A&Object=linux-root",
        { url: `${base}${path}` },
      );
      assertEquals(reply.status, 404, path);
      assertEquals(reply.contentType, "text/html");
      assertStringIncludes(reply.text, "404 - File or directory not found.");
      assert(!reply.text.includes("Test-Secret"));
    }
    const post = await get(
      emulator,
      "AppID=TestApp&Safe=SAFE-A&Object=linux-root",
      { method: "POST" },
    );
    assertEquals(post.status, 405);
    assertEquals(post.contentType, "text/html");
    assertStringIncludes(
      post.text,
      "405 - HTTP verb used to access this page is not allowed.",
    );

    // IIS paths are case-insensitive.
    const lower = await get(
      emulator,
      "AppID=TestApp&Safe=SAFE-A&Object=linux-root",
      {
        url: `${base}/aimwebservice/api/accounts`,
      },
    );
    assertEquals(lower.status, 200);
  });
});

Deno.test("startCcpEmulator() serves under a custom webServiceName", async () => {
  await withEmulator(
    { webServiceName: "AIMWebServiceProd" },
    async (emulator) => {
      assertMatch(emulator.url, /\/AIMWebServiceProd\/api\/Accounts$/);
      assertEquals(
        (await get(emulator, "AppID=TestApp&Safe=SAFE-A&Object=linux-root"))
          .status,
        200,
      );
      const defaultPath = emulator.url.replace(
        "AIMWebServiceProd",
        "AIMWebService",
      );
      const reply = await get(
        emulator,
        "AppID=TestApp&Safe=SAFE-A&Object=linux-root",
        { url: defaultPath },
      );
      assertEquals(reply.status, 404);
    },
  );
});

Deno.test("startCcpEmulator() rejects invalid data and options with errors that name the fix", async () => {
  const bad = {
    applications: [{
      appId: "A",
      safes: ["S"],
      allowedMachines: ["10.0.0.0/33"],
    }],
    accounts: [{ Safe: "S" }],
  };
  const error = await assertRejects(
    () => startCcpEmulator({ data: bad as unknown as EmulatorData }),
    TypeError,
  );
  assertStringIncludes(
    error.message,
    "applications[0].allowedMachines[0] must be an IPv4 or IPv6 address or CIDR",
  );
  assertStringIncludes(error.message, "accounts[0].Name is required");
  assertStringIncludes(error.message, "accounts[0].Content is required");
  await assertRejects(
    () => startCcpEmulator({ data: testData(), port: 70000 }),
    RangeError,
    "0 to 65535",
  );
  await assertRejects(
    () => startCcpEmulator({ data: testData(), webServiceName: "a/b" }),
    RangeError,
    "AIMWebService",
  );
  const duplicate = testData();
  duplicate.accounts.push({ Safe: "SAFE-A", Name: "linux-root", Content: "x" });
  await assertRejects(
    () => startCcpEmulator({ data: duplicate }),
    TypeError,
    "account Safe=SAFE-A;Folder=Root;Object=linux-root is defined twice",
  );
});

Deno.test("loadEmulatorData() loads the demo accounts of the operations manual", async () => {
  const data = await loadEmulatorData(DEMO_DATA_PATH);
  assertEquals(data.applications.map((app) => app.appId), [
    "MCP-Privileged-Service",
  ]);
  const find = (
    safe: string,
    name: string,
  ): Record<string, string> | undefined =>
    data.accounts.find((account) =>
      account["Safe"] === safe && account["Name"] === name
    );
  assertEquals(
    find("PROD-LINUX", "linux-root")?.["Address"],
    "server01.internal",
  );
  assertEquals(find("PROD-LINUX", "svc_root")?.["Address"], "linux01.internal");
  assertEquals(find("WIN-SAFE", "domain-admin")?.["LogonDomain"], "CORP");
  assertEquals(find("DB-SAFE", "pg-reader")?.["Database"], "orders");
  for (const account of data.accounts) {
    assertMatch(account["Content"] ?? "", /^Demo-/);
  }
});

Deno.test("loadEmulatorData() names the file and the fix for unreadable, non-JSON or invalid data", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assertRejects(
      () => loadEmulatorData(`${dir}/missing.json`),
      Error,
      "check the path",
    );
    await Deno.writeTextFile(`${dir}/broken.json`, "{ not json");
    await assertRejects(
      () => loadEmulatorData(`${dir}/broken.json`),
      Error,
      "fix the JSON syntax",
    );
    await Deno.writeTextFile(
      `${dir}/invalid.json`,
      JSON.stringify({
        applications: [{ appid: "x", safes: [] }],
        accounts: [],
      }),
    );
    const error = await assertRejects(
      () => loadEmulatorData(`${dir}/invalid.json`),
      TypeError,
    );
    assertStringIncludes(error.message, `${dir}/invalid.json`);
    assertStringIncludes(error.message, "applications[0].appId");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("emulator/main.ts prints its URL as one JSON line, serves the demo data and stops on SIGTERM", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "emulator/main.ts",
      "--port",
      "0",
    ],
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  try {
    while (!output.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      output += value;
    }
    const line = output.slice(0, output.indexOf("\n"));
    const announced = JSON.parse(line) as { url: string; port: number };
    assertEquals(Object.keys(announced), ["url", "port"]);
    assertEquals(
      announced.url,
      `http://127.0.0.1:${announced.port}/AIMWebService/api/Accounts`,
    );

    const response = await fetch(
      `${announced.url}?AppID=MCP-Privileged-Service&Safe=PROD-LINUX&Object=linux-root`,
    );
    const account = await response.json();
    assertEquals(response.status, 200);
    assertEquals(account.UserName, "root");
    assertEquals(account.Address, "server01.internal");
  } finally {
    child.kill("SIGTERM");
  }
  for (
    let chunk = await reader.read();
    !chunk.done;
    chunk = await reader.read()
  ) output += chunk.value;
  const status = await child.status;
  assertEquals(status.code, 0);
  assertEquals(output.trim().split("\n").length, 1, "exactly one stdout line");
  assert(
    !output.includes("Demo-") && !(await stderr).includes("Demo-"),
    "the CLI never prints a secret",
  );
});

Deno.test("emulator/main.ts exits 2 with one line naming a bad flag", async () => {
  for (
    const [args, flag] of [
      [["--prot", "1"], "--prot"],
      [["--port", "http"], "--port"],
      [["--tls-cert", "cert.pem"], "--tls-key"],
    ] as const
  ) {
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "--allow-read", "emulator/main.ts", ...args],
      cwd: REPO_ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(result.stderr);
    assertEquals(result.code, 2, stderr);
    assertEquals(result.stdout.length, 0);
    assertEquals(stderr.trim().split("\n").length, 1, stderr);
    assertStringIncludes(stderr, flag);
  }
});
