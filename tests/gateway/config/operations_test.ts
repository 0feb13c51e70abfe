/** The operations sections: METRICS_*, AUDIT_* and SHUTDOWN_GRACE_SECONDS. */
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";
import { assertOneLineErrors, failure, load, withTempDir } from "./_env.ts";

const CHAIN_KEY = "3f1c0a9be2d84f7a61c5e09b7d2a4f8ce1b6d0a39f7e2c5b";

Deno.test("loadConfig() serves no metrics unless METRICS_PORT is set, on loopback by default", () => {
  assertEquals(load({}).metrics, { enabled: false });
  assertEquals(load({ METRICS_PORT: "9464" }).metrics, {
    enabled: true,
    hostname: "127.0.0.1",
    port: 9464,
  });
  const open = load({ METRICS_PORT: "9464", METRICS_HOST: "0.0.0.0" });
  assertEquals(open.metrics, {
    enabled: true,
    hostname: "0.0.0.0",
    port: 9464,
  });
  assert(open.warnings.some((w) => w.startsWith("METRICS_HOST=0.0.0.0")));
  assertEquals(
    load({ METRICS_PORT: "9464", METRICS_HOST: "::1" }).warnings,
    [],
  );
  assert(
    load({ METRICS_HOST: "127.0.0.1" }).warnings.some((w) =>
      w.includes("METRICS_PORT is not")
    ),
  );
});

Deno.test("loadConfig() reads the audit chain key, replica and checkpoint interval", () => {
  const off = load({ AUDIT_REPLICA: "gw-1" }).auditChain;
  assertEquals(off, { replica: "gw-1", checkpointSeconds: 300 });
  const on = load({
    AUDIT_CHAIN_KEY: CHAIN_KEY,
    AUDIT_REPLICA: "gw-2",
    AUDIT_CHECKPOINT_SECONDS: "60",
  }).auditChain;
  assertEquals(on.key?.reveal(), CHAIN_KEY);
  assertEquals(on.replica, "gw-2");
  assertEquals(on.checkpointSeconds, 60);
  assert(/^[A-Za-z0-9]/.test(load({}).auditChain.replica));
  withTempDir((dir) => {
    Deno.writeTextFileSync(`${dir}/key`, `${CHAIN_KEY}\n`);
    const fromFile = load({ AUDIT_CHAIN_KEY_FILE: `${dir}/key` }).auditChain;
    assertEquals(fromFile.key?.reveal(), CHAIN_KEY);
  });
});

Deno.test("loadConfig() never echoes a refused audit chain key", () => {
  const weak = "a".repeat(40);
  const error = failure({ AUDIT_CHAIN_KEY: weak });
  assertStringIncludes(error.message, "guessable");
  assert(!error.message.includes(weak));
});

Deno.test("loadConfig() errors are one line naming the variable and the fix: METRICS_*, AUDIT_*, SHUTDOWN_GRACE_SECONDS", () => {
  assertOneLineErrors([
    [{ METRICS_PORT: "http" }, "METRICS_PORT", "e.g. 9464"],
    [{ METRICS_PORT: "70000" }, "METRICS_PORT", "e.g. 9464"],
    [{ METRICS_PORT: "9464", METRICS_HOST: "a b" }, "METRICS_HOST", "e.g."],
    [{ AUDIT_CHAIN_KEY: "short" }, "AUDIT_CHAIN_KEY", "openssl rand -hex 32"],
    [
      { AUDIT_CHAIN_KEY: CHAIN_KEY, AUDIT_CHAIN_KEY_FILE: "/x" },
      "AUDIT_CHAIN_KEY",
      "only one",
    ],
    [
      { AUDIT_CHAIN_KEY_FILE: "/nonexistent/key" },
      "AUDIT_CHAIN_KEY_FILE",
      "not found",
    ],
    [{ AUDIT_REPLICA: "gw 1" }, "AUDIT_REPLICA", "pod name"],
    [{ AUDIT_CHECKPOINT_SECONDS: "-1" }, "AUDIT_CHECKPOINT_SECONDS", "0 to"],
    [{ SHUTDOWN_GRACE_SECONDS: "forever" }, "SHUTDOWN_GRACE_SECONDS", "0 to"],
  ]);
  assertEquals(load({ SHUTDOWN_GRACE_SECONDS: "5" }).shutdown, {
    graceSeconds: 5,
  });
  assertEquals(load({}).shutdown, { graceSeconds: 25 });
});
