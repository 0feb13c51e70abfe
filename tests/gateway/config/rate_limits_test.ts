import { assert, assertEquals } from "../../support/assert.ts";
import { assertOneLineErrors, load } from "./_env.ts";

Deno.test("loadConfig() limits 10 failed authentications per minute and no tool calls by default", () => {
  const config = load({});
  assertEquals(config.rateLimits, {
    authFailures: { limit: 10, windowSeconds: 60 },
    toolCalls: { limit: 0, windowSeconds: 60 },
  });
  assert(!config.warnings.some((w) => w.includes("AUTH_FAILURE_LIMIT")));
});

Deno.test("loadConfig() reads AUTH_FAILURE_* and TOOL_CALL_*", () => {
  assertEquals(
    load({
      AUTH_FAILURE_LIMIT: "5",
      AUTH_FAILURE_WINDOW_SECONDS: "300",
      TOOL_CALL_LIMIT: "120",
      TOOL_CALL_WINDOW_SECONDS: "3600",
    }).rateLimits,
    {
      authFailures: { limit: 5, windowSeconds: 300 },
      toolCalls: { limit: 120, windowSeconds: 3600 },
    },
  );
});

Deno.test("loadConfig() warns when AUTH_FAILURE_LIMIT=0 turns the limit off", () => {
  const config = load({ AUTH_FAILURE_LIMIT: "0" });
  assertEquals(config.rateLimits.authFailures.limit, 0);
  assert(
    config.warnings.some((w) =>
      w.startsWith(
        "AUTH_FAILURE_LIMIT=0: failed authentications are not limited",
      )
    ),
    config.warnings.join("\n"),
  );
});

Deno.test("loadConfig() errors are one line naming the variable and the fix: AUTH_FAILURE_*, TOOL_CALL_*", () => {
  assertOneLineErrors([
    [{ AUTH_FAILURE_LIMIT: "-1" }, "AUTH_FAILURE_LIMIT", "from 0 to"],
    [{ AUTH_FAILURE_LIMIT: "ten" }, "AUTH_FAILURE_LIMIT", "(default 10)"],
    [
      { AUTH_FAILURE_WINDOW_SECONDS: "0" },
      "AUTH_FAILURE_WINDOW_SECONDS",
      "from 1 to 86400",
    ],
    [{ TOOL_CALL_LIMIT: "1.5" }, "TOOL_CALL_LIMIT", "(default 0)"],
    [
      { TOOL_CALL_WINDOW_SECONDS: "86401" },
      "TOOL_CALL_WINDOW_SECONDS",
      "from 1 to 86400",
    ],
  ]);
});
