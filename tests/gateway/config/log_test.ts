import { assertEquals } from "../../support/assert.ts";
import { assertOneLineErrors, load } from "./_env.ts";

Deno.test("loadConfig() reads LOG_FORMAT and LOG_LEVEL, WARN meaning WARNING", () => {
  assertEquals(load({}).log, { format: "json", level: "info" });
  assertEquals(load({ LOG_FORMAT: "Console", LOG_LEVEL: "WARN" }).log, {
    format: "console",
    level: "warning",
  });
  assertEquals(load({ LOG_LEVEL: "debug" }).log.level, "debug");
});

Deno.test("loadConfig() errors are one line naming the variable and the fix: LOG_FORMAT, LOG_LEVEL", () => {
  assertOneLineErrors([
    [{ LOG_FORMAT: "xml" }, "LOG_FORMAT", "one of json, console"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL", "DEBUG, INFO, WARNING, ERROR"],
  ]);
});
