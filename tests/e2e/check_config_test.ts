/**
 * `deno task check-config` and start-up refusals, as an operator sees them.
 */
import { assertEquals, assertMatch } from "../support/assert.ts";
import { runDenoTask } from "../support/deno_task.ts";

const GOOD = {
  MCP_API_KEYS: "0123456789abcdef0123456789abcdef",
  CYBERARK_CCP_URL:
    "https://cyberark.example.internal/AIMWebService/api/Accounts",
  CYBERARK_APP_ID: "MCP-Privileged-Service",
};

Deno.test("deno task check-config prints Config OK for a valid .env", async () => {
  const result = await runDenoTask("check-config", GOOD);
  assertEquals(result.stdout.trim(), "Config OK");
  assertEquals(result.code, 0);
});

Deno.test("deno task check-config prints one line and exits 2 for an invalid value", async () => {
  const result = await runDenoTask("check-config", {
    ...GOOD,
    HANDLE_TTL_SECONDS: "soon",
  });
  assertEquals(result.code, 2);
  const lines = result.stderr.trim().split("\n");
  assertEquals(lines.length, 1);
  assertMatch(
    lines[0]!,
    /^Invalid configuration: HANDLE_TTL_SECONDS is "soon", not a whole number/,
  );
});

Deno.test("deno task check-config refuses a rate limit that is no whole number, exit code 2", async () => {
  const result = await runDenoTask("check-config", {
    ...GOOD,
    AUTH_FAILURE_LIMIT: "ten",
  });
  assertEquals(result.code, 2);
  assertEquals(
    result.stderr.trim(),
    'Invalid configuration: AUTH_FAILURE_LIMIT is "ten", not a whole number of failures (0 turns the limit off) from 0 to 1000000; set it in that range (default 10)',
  );
});

Deno.test("deno task start refuses the changeme key and short keys, exit code 2", async () => {
  for (const keys of ["changeme", `${GOOD.MCP_API_KEYS},tooshort`, ""]) {
    const result = await runDenoTask("start", {
      ...GOOD,
      MCP_API_KEYS: keys,
      PORT: "0",
    });
    assertEquals(result.code, 2, keys);
    assertMatch(result.stderr.trim(), /^Invalid configuration: MCP_API_KEYS /);
    assertEquals(result.stdout, "");
  }
});
