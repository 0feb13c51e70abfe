/**
 * `ExecutorSpawner.stopRunning()`, what the service's shutdown does once
 * its grace period has passed: running children are killed, their calls
 * and every later one end with a failure that says the service is
 * shutting down. Real probe executors, no stand-ins.
 */
import type { Operation } from "../../../executors/protocol/mod.ts";
import {
  type ExecutorCall,
  type ExecutorOutcome,
  ExecutorSpawner,
} from "../../../executors/spawner/mod.ts";
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";
import { eventually } from "../../support/eventually.ts";

function sleepCall(ms: number): ExecutorCall {
  const operation: Operation = { kind: "probe", action: "sleep", ms };
  return {
    target: { host: "127.0.0.1", port: 9 },
    credential: {
      username: "probe",
      kind: "password",
      secret: { reveal: () => "stop-running-probe-not-a-secret" },
    },
    operation,
    timeoutMs: 60_000,
  };
}

function shutdownFailure(outcome: ExecutorOutcome): string {
  assert(!outcome.ok, `expected a failure, got ${JSON.stringify(outcome)}`);
  assertEquals(outcome.error.code, "internal");
  assertStringIncludes(outcome.error.message, "service is shutting down");
  assertStringIncludes(outcome.error.message, "SHUTDOWN_GRACE_SECONDS");
  return outcome.error.message;
}

function processExists(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("ExecutorSpawner.stopRunning() kills running children and refuses later calls", async () => {
  const pids: number[] = [];
  const spawner = new ExecutorSpawner({
    maxConcurrent: 2,
    warmMax: 0,
    spawn: (command, options) => {
      const child = new Deno.Command(command, options).spawn();
      pids.push(child.pid);
      return child;
    },
  });
  try {
    const running = [
      spawner.run(sleepCall(60_000)),
      spawner.run(sleepCall(60_000)),
    ];
    // Queued behind the two running ones: it gets a slot only once they
    // are stopped, and must not start a child then.
    const queued = spawner.run(sleepCall(60_000));
    await eventually(() => assertEquals(pids.length, 2));
    assertEquals(spawner.stopRunning(), 2);

    for (const outcome of await Promise.all(running)) {
      shutdownFailure(outcome);
      assert(outcome.timing.pid !== null);
    }
    const refused = await queued;
    shutdownFailure(refused);
    assertEquals(refused.timing.pid, null);
    shutdownFailure(await spawner.run(sleepCall(10)));

    assertEquals(pids.length, 2, "no child started after stopRunning()");
    for (const pid of pids) {
      assert(!processExists(pid), `executor ${pid} is still running`);
    }
    assertEquals([spawner.running, spawner.queued], [0, 0]);
  } finally {
    await spawner.close();
  }
});

Deno.test("ExecutorSpawner.stopRunning() with nothing running stops nothing and refuses later calls", async () => {
  const spawner = new ExecutorSpawner({ warmMax: 0 });
  try {
    assertEquals(spawner.stopRunning(), 0);
    const outcome = await spawner.run(sleepCall(10));
    shutdownFailure(outcome);
    assertEquals(outcome.timing.pid, null);
  } finally {
    await spawner.close();
  }
});
