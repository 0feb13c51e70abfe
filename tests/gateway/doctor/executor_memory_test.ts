import {
  checkExecutorMemory,
  GATEWAY_MEMORY_BUDGET_MB,
  hostMemoryMb,
} from "../../../gateway/doctor/mod.ts";
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";

import { config } from "./_doctor.ts";

/** The service's defaults: 8 executors of 112 MiB, 2 of which may be warm. */
const limits = config().executors;

Deno.test("checkExecutorMemory() passes 8 executors without warming on the recommended 1 GB host", () => {
  const result = checkExecutorMemory({ ...limits, warmMax: 0 }, 1024);
  assertEquals(result.status, "PASS");
  assertStringIncludes(
    result.detail,
    `8 executors x 112 MiB + ${GATEWAY_MEMORY_BUDGET_MB} MiB for the gateway = 1024 MiB`,
  );
});

Deno.test("checkExecutorMemory() counts warm executors within the running slots: defaults pass on the recommended 1 GB host", () => {
  assertEquals(limits.warmMax, 2);
  const result = checkExecutorMemory(limits, 1024);
  assertEquals(result.status, "PASS");
  assertStringIncludes(
    result.detail,
    `8 executors (running or warm) x 112 MiB + ${GATEWAY_MEMORY_BUDGET_MB} MiB for the gateway = 1024 MiB`,
  );
});

Deno.test("checkExecutorMemory() warns when the executors together can outgrow the host", () => {
  const result = checkExecutorMemory({ ...limits, maxConcurrent: 32 }, 1024);
  assertEquals(result.status, "WARN");
  assertStringIncludes(result.detail, "more than this host's 1024 MiB");
  assertStringIncludes(result.fix ?? "", "EXECUTOR_MAX_CONCURRENT");
});

Deno.test("checkExecutorMemory() warns below what the SQL Server executor needs", () => {
  const result = checkExecutorMemory({ ...limits, maxMemoryMb: 96 }, 8192);
  assertEquals(result.status, "WARN");
  assertStringIncludes(result.detail, "SQL Server");
  assertStringIncludes(result.fix ?? "", "EXECUTOR_MAX_MEMORY_MB=112");
});

Deno.test("checkExecutorMemory() passes with the host's memory unknown, and hostMemoryMb() reads it when allowed", () => {
  assertEquals(checkExecutorMemory(limits, undefined).status, "PASS");
  const total = hostMemoryMb();
  assert(total === undefined || total > 0);
});
