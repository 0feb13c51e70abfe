import { assertEquals } from "../../support/assert.ts";
import { doctorExitCode, runDoctor } from "../../../gateway/doctor/mod.ts";
import { config, USER } from "./_doctor.ts";

Deno.test("runDoctor() runs the checks in the order of the manual's checklist, probes only when given", async () => {
  const results = await runDoctor(config(), {
    envFile: undefined,
    user: USER,
    probeSafe: "TEST",
    probeObject: "TEST-obj",
    hostMemoryMb: 4096,
  });
  assertEquals(results.map((r) => r.check), [
    "api-keys",
    "oauth",
    "policy",
    "approvals",
    "changeme",
    "handle-single-use",
    "handle-ttl",
    "handle-host-binding",
    "handle-scope-binding",
    "unmapped-platform",
    "cyberark-tls",
    "cyberark-pfx",
    "ssh-known-hosts",
    "log-format",
    "audit-chain",
    "target-tls",
    "env-file",
    "allowed-hosts",
    "listener",
    "connection-limits",
    "metrics",
    "rate-limits",
    "service-user",
    "executor-memory",
    "handle-store",
  ]);
  assertEquals(doctorExitCode(results), 0);
});
