import {
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../../support/assert.ts";
import {
  checkExecutorSandbox,
  classifySandbox,
  type SandboxObservations,
} from "../../../gateway/doctor/mod.ts";
import { ExecutorSpawner } from "../../../executors/spawner/mod.ts";
import type { ProbeResult } from "../../../executors/protocol/mod.ts";
import { statusOf } from "./_doctor.ts";

function probeResult(
  action: ProbeResult["action"],
  outcome: ProbeResult["outcome"],
): ProbeResult {
  return {
    kind: "probe",
    action,
    outcome,
    errorName: outcome === "denied" ? "NotCapable" : null,
    detail: outcome,
  };
}

Deno.test("classifySandbox() fails when the probe cannot run or gets out", () => {
  const closed: SandboxObservations = {
    target: "127.0.0.1:1",
    connectTarget: probeResult("connect_target", "allowed"),
    other: "127.0.0.1:2",
    connectOther: probeResult("connect_other", "denied"),
    file: "/etc/passwd",
    readFile: probeResult("read_file", "denied"),
    readEnv: probeResult("read_env", "denied"),
  };
  assertEquals(statusOf(classifySandbox(closed)), "PASS executor-sandbox");
  const leaky = classifySandbox({
    ...closed,
    readEnv: probeResult("read_env", "allowed"),
  });
  assertEquals(statusOf(leaky), "FAIL executor-sandbox");
  assertStringIncludes(leaky.detail, "reading the environment was allowed");
  const noSpawn = classifySandbox({
    ...closed,
    connectTarget: "NotCapable: Requires run access",
  });
  assertEquals(statusOf(noSpawn), "FAIL executor-sandbox");
  assertStringIncludes(noSpawn.fix ?? "", "--allow-run");
  assertEquals(
    classifySandbox({
      ...closed,
      connectTarget: probeResult("connect_target", "failed"),
    }).status,
    "FAIL",
  );
});

Deno.test("checkExecutorSandbox() runs the real probe executor: reaches its target, denied the rest", async () => {
  const result = await checkExecutorSandbox(new ExecutorSpawner());
  assertEquals(statusOf(result), "PASS executor-sandbox", result.detail);
  assertMatch(
    result.detail,
    /reached its target 127\.0\.0\.1:\d+ and was denied 127\.0\.0\.1:\d+, reading \/etc\/passwd and the environment/,
  );
});

Deno.test("checkExecutorSandbox() fails when executors cannot be spawned", async () => {
  const result = await checkExecutorSandbox(
    new ExecutorSpawner({
      spawn: () => {
        throw new Deno.errors.NotCapable(
          "Requires run access to deno, run again with the --allow-run flag",
        );
      },
    }),
  );
  assertEquals(statusOf(result), "FAIL executor-sandbox");
  assertStringIncludes(result.detail, "cannot run the probe executor");
});
