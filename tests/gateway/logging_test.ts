import { getLogger } from "@logtape/logtape";
import { resetSync } from "@logtape/logtape";
import { assertEquals, assertMatch } from "../support/assert.ts";
import { assertAuditLine } from "../support/log_lines.ts";
import { audit } from "../../gateway/audit.ts";
import { setupLogging } from "../../gateway/logging.ts";
import { Secret } from "../../vault/secret.ts";

Deno.test("setupLogging(json) writes flat audit lines as the manual's section 11 shows", () => {
  const lines: string[] = [];
  setupLogging({ format: "json", level: "info", write: (l) => lines.push(l) });
  try {
    audit("credential_fetched", {
      app_id: "A",
      safe: "S",
      handle_id: "0123456789abcdef",
      ttl_seconds: 300,
    });
    getLogger(["vault", "ccp"]).warn("Careful with {value}", {
      value: new Secret("hunter2"),
      event: "spoof",
    });
    getLogger(["vault"]).debug("not shown at info");
  } finally {
    resetSync();
  }
  assertEquals(lines.length, 2);
  assertAuditLine(JSON.parse(lines[0]!), "credential_fetched", {
    level: "info",
    fields: ["app_id", "safe", "handle_id", "ttl_seconds"],
  });
  const second = JSON.parse(lines[1]!);
  assertEquals(second.event, 'Careful with "[redacted]"');
  assertEquals(second.level, "warning");
  assertEquals(second.value, "[redacted]");
  assertEquals(lines.join("").includes("hunter2"), false);
});

Deno.test("setupLogging(console) writes one readable line per record", () => {
  const lines: string[] = [];
  setupLogging({
    format: "console",
    level: "debug",
    write: (l) => lines.push(l),
  });
  try {
    audit("auth_failure", {
      reason: "invalid_or_missing_api_key",
      client_ip: "10.0.0.5",
    }, "warning");
  } finally {
    resetSync();
  }
  assertMatch(
    lines[0]!,
    /^\S+Z WARNING audit auth_failure reason=invalid_or_missing_api_key client_ip=10\.0\.0\.5\n$/,
  );
});
