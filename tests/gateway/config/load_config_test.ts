import { assertEquals } from "../../support/assert.ts";
import { failure, load } from "./_env.ts";

Deno.test("loadConfig() applies the manual's defaults", () => {
  const config = load({});
  assertEquals(config.handles, {
    ttlSeconds: 300,
    singleUse: true,
    hostBinding: true,
    scopeBinding: true,
    scopeRules: {
      platformProtocols: new Map(),
      platformPorts: new Map(),
      unmappedPlatform: "refuse",
    },
  });
  assertEquals(config.cyberark.verifyTls, true);
  assertEquals(config.cyberark.timeoutMs, 30_000);
  assertEquals(config.winrmAuth, "ntlm");
  assertEquals(config.sshKnownHosts, {
    mode: "file",
    path: "/home/mcpuser/.ssh/known_hosts",
  });
  assertEquals(config.log, { format: "json", level: "info" });
  assertEquals(config.http.hostname, "0.0.0.0");
  assertEquals(config.http.port, 8443);
  assertEquals(config.apiKeys.principals.length, 1);
  assertEquals(config.oauth, {
    mode: "api_key",
    requiredScopes: [],
    principalClaim: "sub",
    tokenMode: "jwt",
    clockSkewSeconds: 60,
  });
  assertEquals(config.warnings, []);
});

Deno.test("loadConfig() warns about insecure choices", () => {
  const config = load({
    CYBERARK_VERIFY_SSL: "false",
    SSH_KNOWN_HOSTS: "disable",
    HANDLE_HOST_BINDING: "false",
    HANDLE_SINGLE_USE: "false",
    ALLOWED_HOSTS: "*",
  });
  assertEquals(config.cyberark.verifyTls, false);
  assertEquals(config.sshKnownHosts, { mode: "disable" });
  assertEquals(config.warnings.length, 5);
});

Deno.test("loadConfig() lists warnings in the order of the sections", () => {
  const config = load({
    CYBERARK_VERIFY_SSL: "false",
    HANDLE_SINGLE_USE: "false",
    WINRM_VERIFY_SSL: "false",
    SSH_KNOWN_HOSTS: "disable",
    ALLOWED_HOSTS: "*",
    PG_SSLMODE: "require",
  });
  assertEquals(
    config.warnings.map((w) => w.split(/[=: ]/)[0]),
    [
      "CYBERARK_VERIFY_SSL",
      "HANDLE_SINGLE_USE",
      "WINRM_VERIFY_SSL",
      "SSH_KNOWN_HOSTS",
      "ALLOWED_HOSTS",
      "PG_SSLMODE",
    ],
  );
});

Deno.test("loadConfig() reports the first invalid section: one-variable checks, then CyberArk, ... executors", () => {
  assertEquals(
    failure({ PORT: "x", CYBERARK_VERIFY_SSL: "/nonexistent/ca.pem" })
      .variable,
    "PORT",
  );
  assertEquals(
    failure({ HOST: "bad host", CYBERARK_VERIFY_SSL: "/nonexistent/ca.pem" })
      .variable,
    "CYBERARK_VERIFY_SSL",
  );
  assertEquals(
    failure({
      EXECUTOR_TIMEOUT_SECONDS: "700",
      DB_DEFAULT_MAX_ROWS: "20000",
    }).variable,
    "DB_DEFAULT_MAX_ROWS",
  );
});
