import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";
import {
  checkAllowedHosts,
  checkCyberArkTls,
  checkHandles,
  checkHandleScope,
  checkListener,
  checkLogging,
  checkRateLimits,
  checkTargetTls,
} from "../../../gateway/doctor/mod.ts";
import { config, statusOf } from "./_doctor.ts";

Deno.test("checkHandles() follows the checklist: single use, TTL <= 300, host and scope binding", () => {
  assertEquals(checkHandles(config().handles).map(statusOf), [
    "PASS handle-single-use",
    "PASS handle-ttl",
    "PASS handle-host-binding",
    "PASS handle-scope-binding",
    "PASS unmapped-platform",
  ]);
  assertEquals(
    checkHandles(
      config({
        HANDLE_SINGLE_USE: "false",
        HANDLE_TTL_SECONDS: "301",
        HANDLE_HOST_BINDING: "false",
        HANDLE_SCOPE_BINDING: "false",
        UNMAPPED_PLATFORM: "standard-ports",
      }).handles,
    ).map(statusOf),
    [
      "FAIL handle-single-use",
      "FAIL handle-ttl",
      "WARN handle-host-binding",
      "FAIL handle-scope-binding",
      "WARN unmapped-platform",
    ],
  );
});

Deno.test("checkHandleScope() fails HANDLE_SCOPE_BINDING=false and warns on UNMAPPED_PLATFORM=standard-ports, naming the fix", () => {
  const [binding, unmapped] = checkHandleScope(
    config({
      HANDLE_SCOPE_BINDING: "false",
      UNMAPPED_PLATFORM: "standard-ports",
    }).handles,
  );
  assertEquals(statusOf(binding!), "FAIL handle-scope-binding");
  assertStringIncludes(binding!.detail, "HANDLE_SCOPE_BINDING=false");
  assertStringIncludes(binding!.fix ?? "", "set HANDLE_SCOPE_BINDING=true");
  assertEquals(statusOf(unmapped!), "WARN unmapped-platform");
  assertStringIncludes(unmapped!.fix ?? "", "UNMAPPED_PLATFORM=refuse");
  const [mapped] = checkHandleScope(
    config({
      PLATFORM_PROTOCOLS: "MyLinux=ssh,MyPg=postgres",
      PLATFORM_PORTS: "MyPg=5432|6432",
    }).handles,
  );
  assertEquals(
    mapped!.detail,
    "HANDLE_SCOPE_BINDING=true (built-in platform table, 2 platform(s) in PLATFORM_PROTOCOLS, 1 in PLATFORM_PORTS)",
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

/** The status of checkLogging() for a configuration with `env`. */
function loggingStatus(env: Record<string, string> = {}): string {
  return statusOf(checkLogging(config(env).log));
}

/** The status of checkAllowedHosts() for a configuration with `env`. */
function allowedHostsStatus(env: Record<string, string> = {}): string {
  return statusOf(checkAllowedHosts(config(env).http));
}

/** The status of checkListener() for a configuration with `env`. */
function listenerStatus(env: Record<string, string> = {}): string {
  return statusOf(checkListener(config(env).http));
}

Deno.test("checkLogging() warns on console format and DEBUG level", () => {
  assertEquals(loggingStatus(), "PASS log-format");
  assertEquals(loggingStatus({ LOG_FORMAT: "console" }), "WARN log-format");
  assertEquals(loggingStatus({ LOG_LEVEL: "DEBUG" }), "WARN log-format");
});

Deno.test("checkAllowedHosts() warns on *", () => {
  assertEquals(allowedHostsStatus(), "PASS allowed-hosts");
  assertEquals(
    allowedHostsStatus({ ALLOWED_HOSTS: "*" }),
    "WARN allowed-hosts",
  );
});

Deno.test("checkListener() fails a proxy trusted for everyone and warns when nginx can be bypassed", () => {
  assertEquals(
    listenerStatus({ HOST: "127.0.0.1", TRUSTED_PROXIES: "127.0.0.1" }),
    "PASS listener",
  );
  assertEquals(listenerStatus(), "PASS listener");
  const bypass = checkListener(config({ TRUSTED_PROXIES: "127.0.0.1" }).http);
  assertEquals(statusOf(bypass), "WARN listener");
  assertEquals(bypass.fix, "set HOST=127.0.0.1 when nginx runs on this host");
  assertEquals(
    listenerStatus({ TRUSTED_PROXIES: "0.0.0.0/0" }),
    "FAIL listener",
  );
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

Deno.test("checkListener() reads TRUSTED_PROXIES with the IP parser: any loopback is local, any /0 is everyone", () => {
  for (const proxy of ["127.0.0.0/8", "::1/128", "::ffff:127.0.0.1"]) {
    assertEquals(
      listenerStatus({ TRUSTED_PROXIES: proxy }),
      "WARN listener",
      proxy,
    );
  }
  for (const proxy of ["::/0", "10.0.0.0/8,0.0.0.0/00"]) {
    assertEquals(
      listenerStatus({ TRUSTED_PROXIES: proxy }),
      "FAIL listener",
      proxy,
    );
  }
  assertEquals(
    listenerStatus({ TRUSTED_PROXIES: "10.0.0.1" }),
    "PASS listener",
  );
});

Deno.test("checkRateLimits() passes with the values and warns when AUTH_FAILURE_LIMIT=0", () => {
  const standard = checkRateLimits(config());
  assertEquals(statusOf(standard), "PASS rate-limits");
  assertStringIncludes(
    standard.detail,
    "AUTH_FAILURE_LIMIT=10 per 60 s per client IP, TOOL_CALL_LIMIT=0 (tool calls not limited), counted in this process",
  );
  const tools = checkRateLimits(
    config({ TOOL_CALL_LIMIT: "100", TOOL_CALL_WINDOW_SECONDS: "3600" }),
  );
  assertStringIncludes(
    tools.detail,
    "TOOL_CALL_LIMIT=100 per 3600 s per principal",
  );
  const off = checkRateLimits(config({ AUTH_FAILURE_LIMIT: "0" }));
  assertEquals(statusOf(off), "WARN rate-limits");
  assertStringIncludes(off.detail, "AUTH_FAILURE_LIMIT=0");
});
