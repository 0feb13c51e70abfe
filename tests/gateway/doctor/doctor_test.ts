/**
 * The doctor's checks, each through PASS, WARN and FAIL, with the CCP probe
 * against the emulator and the sandbox self-test through the real spawner.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../../support/assert.ts";
import { createTlsFixtures } from "../../support/tls_fixtures.ts";
import { loadConfig } from "../../../gateway/config/mod.ts";
import {
  checkAllowedHosts,
  checkApiKeys,
  checkChangeme,
  checkCyberArkTls,
  checkEnvFile,
  checkExecutorSandbox,
  checkHandles,
  checkHandleStore,
  checkKnownHosts,
  checkListener,
  checkLogging,
  checkPfxFile,
  type CheckResult,
  checkServiceUser,
  checkTargetTls,
  classifyCcpProbe,
  classifySandbox,
  doctorExitCode,
  fileFacts,
  formatCheck,
  keyStrength,
  probeCcp,
  type SandboxObservations,
} from "../../../gateway/doctor/mod.ts";
import { createCcpClient } from "../../../gateway/ccp_setup.ts";
import { ExecutorSpawner } from "../../../executors/spawner/spawner.ts";
import type { ProbeResult } from "../../../executors/protocol/mod.ts";
import { CyberArkError } from "../../../vault/cyberark_error.ts";
import { Secret } from "../../../vault/secret.ts";
import { RedisHandleStore } from "../../../vault/redis_handle_store.ts";
import {
  announceRedisSkip,
  randomKeyPrefix,
  SHARED_REDIS,
} from "../../support/redis.ts";
import {
  type EmulatorData,
  startCcpEmulator,
} from "../../../emulator/ccp_emulator.ts";

const APP = "MCP-Privileged-Service";
const STRONG =
  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const STRONG_2 = "Zq4+vN7x!rT2mW9sLp3@kB8yHc6&jF1dGe5#";
const USER = { uid: 1000, name: "mcpuser" };
const ED25519_LINE =
  "|1|gSHU5MkgbHRpdGRQeTp2u4X3WOw=|cJW0X6aY0VNrFZs4U0GRlS84IqA= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

function config(env: Record<string, string> = {}): ReturnType<
  typeof loadConfig
> {
  return loadConfig({
    env: {
      MCP_API_KEYS: STRONG,
      CYBERARK_CCP_URL:
        "https://cyberark.example.internal/AIMWebService/api/Accounts",
      CYBERARK_APP_ID: APP,
      ...env,
    },
    home: "/home/mcpuser",
  });
}

function secrets(...values: string[]): Secret[] {
  return values.map((v) => new Secret(v));
}

function statusOf(result: CheckResult): string {
  return `${result.status} ${result.check}`;
}

Deno.test("formatCheck() prints STATUS check: detail; fix, and PASS without a fix", () => {
  assertEquals(
    formatCheck({ status: "PASS", check: "a", detail: "fine" }),
    "PASS a: fine",
  );
  assertEquals(
    formatCheck({ status: "FAIL", check: "b", detail: "bad", fix: "repair" }),
    "FAIL b: bad; repair",
  );
});

Deno.test("doctorExitCode() is 1 on any FAIL and 0 with only PASS and WARN", () => {
  const ok: CheckResult = { status: "PASS", check: "a", detail: "" };
  const meh: CheckResult = { status: "WARN", check: "b", detail: "", fix: "" };
  const bad: CheckResult = { status: "FAIL", check: "c", detail: "", fix: "" };
  assertEquals(doctorExitCode([ok, meh]), 0);
  assertEquals(doctorExitCode([ok, meh, bad]), 1);
});

Deno.test("keyStrength() measures without revealing: hex, mixed, repeated", () => {
  assertEquals(keyStrength(STRONG).bits, 256);
  assertEquals(keyStrength(STRONG).repeats, false);
  assert(keyStrength(STRONG_2).bits > 200);
  assertEquals(keyStrength("0123456789abcdef".repeat(2)).repeats, true);
  assertEquals(keyStrength("a".repeat(40)).distinct, 1);
});

Deno.test("checkApiKeys() passes strong keys, warns on weak or duplicate ones, fails short ones", () => {
  const good = checkApiKeys(secrets(STRONG, STRONG_2));
  assertEquals(statusOf(good), "PASS api-keys");
  assertStringIncludes(good.detail, "2 key(s)");

  const weak = checkApiKeys(
    secrets(STRONG, "k".repeat(16) + "0123456789abcdef"),
  );
  assertEquals(statusOf(weak), "WARN api-keys");
  assertStringIncludes(weak.detail, "key 2 of 2");
  assertStringIncludes(weak.fix ?? "", "openssl rand -hex 32");

  assertStringIncludes(
    checkApiKeys(secrets("0123456789abcdef".repeat(2))).detail,
    "repeated",
  );
  assertStringIncludes(
    checkApiKeys(secrets(STRONG, STRONG)).detail,
    "keys 1 and 2 are equal",
  );

  const short = checkApiKeys(secrets("abc123"));
  assertEquals(statusOf(short), "FAIL api-keys");
  assertStringIncludes(short.detail, "6 characters");
  assertEquals(statusOf(checkApiKeys([])), "FAIL api-keys");

  for (const result of [good, weak, short]) {
    const line = formatCheck(result);
    for (const key of [STRONG, STRONG_2, "abc123"]) {
      assert(!line.includes(key), `a key leaked: ${line}`);
    }
  }
});

Deno.test("checkChangeme() fails on the placeholder in the keys or the PFX password", () => {
  assertEquals(statusOf(checkChangeme(secrets(STRONG))), "PASS changeme");
  const inKeys = checkChangeme(secrets(STRONG, "x".repeat(30) + "CHANGEME"));
  assertEquals(statusOf(inKeys), "FAIL changeme");
  assertStringIncludes(inKeys.detail, "MCP_API_KEYS");
  const inPfx = checkChangeme(secrets(STRONG), new Secret("changeme"));
  assertEquals(statusOf(inPfx), "FAIL changeme");
  assertStringIncludes(inPfx.detail, "CYBERARK_CERT_PFX_PASSWORD");
});

Deno.test("checkHandles() follows the checklist: single use, TTL <= 300, host binding", () => {
  assertEquals(checkHandles(config().handles).map(statusOf), [
    "PASS handle-single-use",
    "PASS handle-ttl",
    "PASS handle-host-binding",
  ]);
  assertEquals(
    checkHandles(
      config({
        HANDLE_SINGLE_USE: "false",
        HANDLE_TTL_SECONDS: "301",
        HANDLE_HOST_BINDING: "false",
      }).handles,
    ).map(statusOf),
    [
      "FAIL handle-single-use",
      "FAIL handle-ttl",
      "WARN handle-host-binding",
    ],
  );
});

Deno.test("checkCyberArkTls() fails CYBERARK_VERIFY_SSL=false and warns on http://", () => {
  assertEquals(
    statusOf(checkCyberArkTls(config().cyberark)),
    "PASS cyberark-tls",
  );
  const off = checkCyberArkTls(
    config({ CYBERARK_VERIFY_SSL: "false" }).cyberark,
  );
  assertEquals(statusOf(off), "FAIL cyberark-tls");
  assertStringIncludes(off.fix ?? "", "CYBERARK_VERIFY_SSL=true");
  const clear = checkCyberArkTls(
    config({
      CYBERARK_CCP_URL: "http://127.0.0.1:8080/AIMWebService/api/Accounts",
    }).cyberark,
  );
  assertEquals(statusOf(clear), "WARN cyberark-tls");
  assertStringIncludes(clear.detail, "clear text");
});

Deno.test("checkEnvFile() wants mode 600 and the running user as owner", () => {
  const path = "/opt/mcp-privileged/.env";
  assertEquals(
    statusOf(
      checkEnvFile(path, { kind: "file", mode: 0o100600, uid: 1000 }, USER),
    ),
    "PASS env-file",
  );
  assertEquals(
    statusOf(
      checkEnvFile(path, { kind: "file", mode: 0o100400, uid: 1000 }, USER),
    ),
    "PASS env-file",
  );
  const open = checkEnvFile(
    path,
    { kind: "file", mode: 0o100644, uid: 1000 },
    USER,
  );
  assertEquals(statusOf(open), "FAIL env-file");
  assertStringIncludes(open.detail, "mode 644");
  assertEquals(open.fix, `chmod 600 ${path}`);
  const foreign = checkEnvFile(
    path,
    { kind: "file", mode: 0o100600, uid: 0 },
    USER,
  );
  assertEquals(statusOf(foreign), "WARN env-file");
  assertStringIncludes(foreign.detail, "owned by uid 0, not by mcpuser");
  assertEquals(
    statusOf(checkEnvFile(path, { kind: "missing" }, USER)),
    "WARN env-file",
  );
  assertEquals(
    statusOf(
      checkEnvFile(
        path,
        { kind: "unreadable", reason: "permission denied" },
        USER,
      ),
    ),
    "FAIL env-file",
  );
  assertEquals(
    statusOf(checkEnvFile(undefined, { kind: "missing" }, USER)),
    "PASS env-file",
  );
});

Deno.test("checkPfxFile() wants mode 400 when a PFX is set", () => {
  const path = "/opt/mcp-privileged/certs/mcp.pfx";
  assertEquals(
    statusOf(checkPfxFile(undefined, { kind: "missing" }, USER)),
    "PASS cyberark-pfx",
  );
  assertEquals(
    statusOf(
      checkPfxFile(path, { kind: "file", mode: 0o100400, uid: 1000 }, USER),
    ),
    "PASS cyberark-pfx",
  );
  const writable = checkPfxFile(
    path,
    { kind: "file", mode: 0o100600, uid: 1000 },
    USER,
  );
  assertEquals(statusOf(writable), "WARN cyberark-pfx");
  assertStringIncludes(writable.fix ?? "", `chmod 400 ${path}`);
  assertEquals(
    statusOf(
      checkPfxFile(path, { kind: "file", mode: 0o100640, uid: 1000 }, USER),
    ),
    "FAIL cyberark-pfx",
  );
  assertEquals(
    statusOf(checkPfxFile(path, { kind: "missing" }, USER)),
    "FAIL cyberark-pfx",
  );
});

Deno.test("checkKnownHosts() fails disable, unreadable or world-writable files, warns when empty", () => {
  const file = { mode: "file" as const, path: "/etc/mcp/ssh_known_hosts" };
  const good = checkKnownHosts(file, {
    kind: "text",
    text: `# scanned\n${ED25519_LINE}\n`,
    mode: 0o100440,
  });
  assertEquals(statusOf(good), "PASS ssh-known-hosts");
  assertStringIncludes(good.detail, "1 host key(s)");

  assertEquals(
    statusOf(checkKnownHosts({ mode: "disable" }, { kind: "missing" })),
    "FAIL ssh-known-hosts",
  );
  assertEquals(
    statusOf(
      checkKnownHosts(file, {
        kind: "unreadable",
        reason: "permission denied",
      }),
    ),
    "FAIL ssh-known-hosts",
  );
  assertEquals(
    statusOf(
      checkKnownHosts(file, {
        kind: "text",
        text: ED25519_LINE,
        mode: 0o100666,
      }),
    ),
    "FAIL ssh-known-hosts",
  );
  const missing = checkKnownHosts(file, { kind: "missing" });
  assertEquals(statusOf(missing), "WARN ssh-known-hosts");
  assertStringIncludes(missing.fix ?? "", "ssh-keyscan -H HOST >> /etc/mcp/");
  assertEquals(
    statusOf(
      checkKnownHosts(file, { kind: "text", text: "# none\n", mode: 0o100644 }),
    ),
    "WARN ssh-known-hosts",
  );
  const garbled = checkKnownHosts(file, {
    kind: "text",
    text: `${ED25519_LINE}\nnot a key line\n`,
    mode: 0o100644,
  });
  assertEquals(statusOf(garbled), "WARN ssh-known-hosts");
  assertStringIncludes(garbled.detail, "line 2");
});

Deno.test("checkLogging() warns on console format and DEBUG level", () => {
  assertEquals(statusOf(checkLogging(config().log)), "PASS log-format");
  assertEquals(
    statusOf(checkLogging(config({ LOG_FORMAT: "console" }).log)),
    "WARN log-format",
  );
  assertEquals(
    statusOf(checkLogging(config({ LOG_LEVEL: "DEBUG" }).log)),
    "WARN log-format",
  );
});

Deno.test("checkAllowedHosts() warns on *", () => {
  assertEquals(
    statusOf(checkAllowedHosts(config().http)),
    "PASS allowed-hosts",
  );
  assertEquals(
    statusOf(checkAllowedHosts(config({ ALLOWED_HOSTS: "*" }).http)),
    "WARN allowed-hosts",
  );
});

Deno.test("checkListener() fails a proxy trusted for everyone and warns when nginx can be bypassed", () => {
  assertEquals(
    statusOf(
      checkListener(
        config({ HOST: "127.0.0.1", TRUSTED_PROXIES: "127.0.0.1" }).http,
      ),
    ),
    "PASS listener",
  );
  assertEquals(statusOf(checkListener(config().http)), "PASS listener");
  const bypass = checkListener(config({ TRUSTED_PROXIES: "127.0.0.1" }).http);
  assertEquals(statusOf(bypass), "WARN listener");
  assertEquals(bypass.fix, "set HOST=127.0.0.1 when nginx runs on this host");
  assertEquals(
    statusOf(checkListener(config({ TRUSTED_PROXIES: "0.0.0.0/0" }).http)),
    "FAIL listener",
  );
});

Deno.test("checkServiceUser() warns when run as root", () => {
  assertEquals(statusOf(checkServiceUser(USER)), "PASS service-user");
  assertEquals(statusOf(checkServiceUser({ uid: 0 })), "WARN service-user");
});

Deno.test("fileFacts() reports mode and owner, missing files and directories", async () => {
  const dir = await Deno.makeTempDir({ prefix: "doctor-" });
  try {
    const path = `${dir}/.env`;
    await Deno.writeTextFile(path, "X=1\n", { mode: 0o600 });
    await Deno.chmod(path, 0o640);
    const facts = fileFacts(path);
    assert(facts.kind === "file");
    assertEquals(facts.mode & 0o777, 0o640);
    assertEquals(facts.uid, Deno.uid());
    assertEquals(fileFacts(`${dir}/nothing`), { kind: "missing" });
    assertEquals(fileFacts(dir).kind, "unreadable");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const CONTEXT = {
  appId: APP,
  endpoint: "ccp.example.internal",
  safe: "TEST",
  object: "TEST-obj",
};

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

function probeWith(
  env: Record<string, string>,
  object = "TEST-obj",
): Promise<CheckResult> {
  const c = config(env);
  const client = createCcpClient(c.cyberark);
  return probeCcp(client, {
    appId: APP,
    endpoint: c.cyberark.ccpUrl.host,
    safe: "TEST",
    object,
  }).finally(() => client.close());
}

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
  const unused = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = unused.addr.port;
  unused.close();
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

function probeResult(
  action: ProbeResult["action"],
  outcome: ProbeResult["outcome"],
): ProbeResult {
  return {
    kind: "probe",
    action,
    outcome,
    errorName: outcome === "denied" ? "NotCapable" : null,
    detail: outcome,
  };
}

Deno.test("classifySandbox() fails when the probe cannot run or gets out", () => {
  const closed: SandboxObservations = {
    target: "127.0.0.1:1",
    connectTarget: probeResult("connect_target", "allowed"),
    other: "127.0.0.1:2",
    connectOther: probeResult("connect_other", "denied"),
    file: "/etc/passwd",
    readFile: probeResult("read_file", "denied"),
    readEnv: probeResult("read_env", "denied"),
  };
  assertEquals(statusOf(classifySandbox(closed)), "PASS executor-sandbox");
  const leaky = classifySandbox({
    ...closed,
    readEnv: probeResult("read_env", "allowed"),
  });
  assertEquals(statusOf(leaky), "FAIL executor-sandbox");
  assertStringIncludes(leaky.detail, "reading the environment was allowed");
  const noSpawn = classifySandbox({
    ...closed,
    connectTarget: "NotCapable: Requires run access",
  });
  assertEquals(statusOf(noSpawn), "FAIL executor-sandbox");
  assertStringIncludes(noSpawn.fix ?? "", "--allow-run");
  assertEquals(
    classifySandbox({
      ...closed,
      connectTarget: probeResult("connect_target", "failed"),
    }).status,
    "FAIL",
  );
});

Deno.test("checkExecutorSandbox() runs the real probe executor: reaches its target, denied the rest", async () => {
  const result = await checkExecutorSandbox(new ExecutorSpawner());
  assertEquals(statusOf(result), "PASS executor-sandbox", result.detail);
  assertMatch(
    result.detail,
    /reached its target 127\.0\.0\.1:\d+ and was denied 127\.0\.0\.1:\d+, reading \/etc\/passwd and the environment/,
  );
});

Deno.test("checkExecutorSandbox() fails when executors cannot be spawned", async () => {
  const result = await checkExecutorSandbox(
    new ExecutorSpawner({
      spawn: () => {
        throw new Deno.errors.NotCapable(
          "Requires run access to deno, run again with the --allow-run flag",
        );
      },
    }),
  );
  assertEquals(statusOf(result), "FAIL executor-sandbox");
  assertStringIncludes(result.detail, "cannot run the probe executor");
});

Deno.test("checkTargetTls() warns about every weakened target TLS setting", () => {
  const base = config();
  assertEquals(statusOf(checkTargetTls(base)), "PASS target-tls");
  const weak = checkTargetTls({
    winrmTls: { verifyTls: false },
    databases: {
      ...base.databases,
      postgres: { sslmode: "require" },
      mysql: { mode: "disabled" },
      mssql: { encrypt: true, trustServerCertificate: true },
    },
  });
  assertEquals(statusOf(weak), "WARN target-tls");
  for (
    const text of [
      "WINRM_VERIFY_SSL=false",
      "PG_SSLMODE=require",
      "MYSQL_SSL=disabled",
      "MSSQL_TRUST_SERVER_CERTIFICATE=true",
    ]
  ) {
    assert(weak.detail.includes(text), text);
  }
});

const redisSkip = await announceRedisSkip();

Deno.test("checkHandleStore() passes for the memory store", async () => {
  assertEquals(
    statusOf(await checkHandleStore({ kind: "memory" }, undefined)),
    "PASS handle-store",
  );
});

Deno.test({
  name:
    "checkHandleStore() passes when Redis answers and fails when it does not",
  ignore: redisSkip !== null,
  fn: async () => {
    const connection = {
      host: SHARED_REDIS.host,
      port: SHARED_REDIS.port,
      db: 0,
      tls: false,
    };
    const setting = {
      kind: "redis" as const,
      keyPrefix: randomKeyPrefix(),
      connection,
    };
    const store = new RedisHandleStore({
      ...connection,
      keyPrefix: setting.keyPrefix,
    });
    try {
      assertEquals(
        statusOf(await checkHandleStore(setting, store)),
        "PASS handle-store",
      );
    } finally {
      await store.close();
    }
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closedPort = listener.addr.port;
    listener.close();
    const down = new RedisHandleStore({
      ...connection,
      port: closedPort,
      keyPrefix: setting.keyPrefix,
      connectTimeoutMs: 1000,
      commandTimeoutMs: 1000,
    });
    try {
      const result = await checkHandleStore(setting, down);
      assertEquals(statusOf(result), "FAIL handle-store");
      assertStringIncludes(result.fix ?? "", "REDIS_URL");
    } finally {
      await down.close();
    }
  },
});
