import { assertEquals } from "../../support/assert.ts";
import { assertOneLineErrors, load } from "./_env.ts";

Deno.test("loadConfig() reads the executor limits with the service's defaults", () => {
  assertEquals(load({}).executors, {
    maxConcurrent: 8,
    maxQueued: 64,
    defaultTimeoutSeconds: 60,
    maxTimeoutSeconds: 600,
    maxOutputBytes: 1024 * 1024,
  });
});

Deno.test("loadConfig() refuses a default executor timeout above the maximum", () => {
  assertOneLineErrors([
    [
      { EXECUTOR_TIMEOUT_SECONDS: "700" },
      "EXECUTOR_TIMEOUT_SECONDS",
      "above EXECUTOR_MAX_TIMEOUT_SECONDS (600); lower it or raise the maximum",
    ],
    [
      { EXECUTOR_MAX_CONCURRENT: "0" },
      "EXECUTOR_MAX_CONCURRENT",
      "from 1 to 256",
    ],
  ]);
});
