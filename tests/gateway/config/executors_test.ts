import { assertEquals } from "../../support/assert.ts";
import { assertOneLineErrors, load } from "./_env.ts";

Deno.test("loadConfig() reads the executor limits with the service's defaults", () => {
  assertEquals(load({}).executors, {
    maxConcurrent: 8,
    maxQueued: 64,
    defaultTimeoutSeconds: 60,
    maxTimeoutSeconds: 600,
    maxOutputBytes: 1024 * 1024,
    maxMemoryMb: 112,
    warmMax: 2,
  });
  assertEquals(
    load({ EXECUTOR_MAX_MEMORY_MB: "256" }).executors.maxMemoryMb,
    256,
  );
});

Deno.test("loadConfig() reads EXECUTOR_WARM_MAX, where 0 turns warming off", () => {
  assertEquals(load({ EXECUTOR_WARM_MAX: "0" }).executors.warmMax, 0);
  assertEquals(load({ EXECUTOR_WARM_MAX: "5" }).executors.warmMax, 5);
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
    [
      { EXECUTOR_MAX_MEMORY_MB: "32" },
      "EXECUTOR_MAX_MEMORY_MB",
      "from 64 to 16384",
    ],
    [
      { EXECUTOR_WARM_MAX: "-1" },
      "EXECUTOR_WARM_MAX",
      "from 0 to 64",
    ],
  ]);
});
