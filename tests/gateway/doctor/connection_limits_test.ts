import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";
import {
  checkConnectionLimits,
  fileLimitFacts,
} from "../../../gateway/doctor/mod.ts";
import {
  neededFileDescriptors,
  parseOpenFileLimit,
} from "../../../gateway/http/connection_guard/fd_budget.ts";
import { config } from "./_doctor.ts";

const LIMITS =
  `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

Deno.test("the descriptor budget: 3 per connection, 8 per executor, 128 more", () => {
  assertEquals(neededFileDescriptors(1024, 8), 3 * 1024 + 8 * 8 + 128);
  assertEquals(parseOpenFileLimit(LIMITS), 1024);
  assertEquals(
    parseOpenFileLimit(LIMITS.replace(/1024 +524288/, "unlimited unlimited")),
    undefined,
  );
});

Deno.test("connection-limits: PASS within the limit, WARN below it or without LimitNOFILE in the unit", () => {
  const { http, executors } = config();
  const within = checkConnectionLimits(http, executors, {
    source: "unit",
    path: "/etc/systemd/system/mcp-privileged.service",
    limit: 8192,
  });
  assertEquals(within.status, "PASS");
  // The report's format: a PASS line is one clause, no "; fix".
  assert(!within.detail.includes(";"), within.detail);
  assertStringIncludes(within.detail, "HTTP_MAX_CONNECTIONS=1024");
  assertStringIncludes(within.detail, "LimitNOFILE=8192");

  const below = checkConnectionLimits(http, executors, {
    source: "process",
    limit: 1024,
  });
  assertEquals(below.status, "WARN");
  assertStringIncludes(below.detail, "can need 3264 open files");
  assertStringIncludes(below.fix!, "lower HTTP_MAX_CONNECTIONS");

  const unset = checkConnectionLimits(http, executors, {
    source: "unit",
    path: "/etc/systemd/system/mcp-privileged.service",
  });
  assertEquals(unset.status, "WARN");
  assertStringIncludes(unset.fix!, "LimitNOFILE=3264");

  const small = config({ HTTP_MAX_CONNECTIONS: "100" });
  assertEquals(
    checkConnectionLimits(small.http, small.executors, {
      source: "process",
      limit: 1024,
    }).status,
    "PASS",
  );
  const unknown = checkConnectionLimits(http, executors, { source: "process" });
  assertEquals(unknown.status, "PASS");
  assert(!unknown.detail.includes(";"), unknown.detail);
});

Deno.test("connection-limits reads the unit's LimitNOFILE, else this process's limit", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const unit = `${dir}/mcp-privileged.service`;
    await Deno.writeTextFile(unit, "[Service]\nLimitNOFILE=8192\n");
    assertEquals(fileLimitFacts(unit), {
      source: "unit",
      path: unit,
      limit: 8192,
    });
    await Deno.writeTextFile(unit, "[Service]\nUser=mcpuser\n");
    assertEquals(fileLimitFacts(unit), { source: "unit", path: unit });
    const own = fileLimitFacts(`${dir}/none.service`);
    assertEquals(own.source, "process");
    // Deno lets a program read its own limits only with --allow-all.
    const readable = await Deno.readTextFile("/proc/self/limits").then(
      parseOpenFileLimit,
      () => undefined,
    );
    assertEquals(own.limit, readable);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
