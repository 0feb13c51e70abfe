/**
 * What a spawner tells its observers (the gateway's metrics) with real
 * probe children: each child that ran, warm or cold, and each call refused
 * for want of a slot; and `stats()`, the slots in use at a given moment.
 */
import type { Operation } from "../../../executors/protocol/mod.ts";
import {
  ExecutorBusyError,
  type ExecutorCall,
  type ExecutorRefusal,
  type ExecutorRun,
  ExecutorSpawner,
  ExecutorWaitTimeoutError,
} from "../../../executors/spawner/mod.ts";
import { assert, assertEquals, assertRejects } from "../../support/assert.ts";

const TARGET = { host: "127.0.0.1", port: 9 };

function probeCall(
  operation: Extract<Operation, { kind: "probe" }>,
  extra: Partial<ExecutorCall<"probe">> = {},
): ExecutorCall<"probe"> {
  return {
    target: TARGET,
    credential: {
      username: "probe",
      kind: "password",
      secret: { reveal: () => "observer-Pa55w0rd" },
    },
    operation,
    ...extra,
  };
}

/** An observer that records what it is told. */
function recorder(): {
  runs: ExecutorRun[];
  refusals: ExecutorRefusal[];
  observer: {
    ran(run: ExecutorRun): void;
    refused(reason: ExecutorRefusal): void;
  };
} {
  const runs: ExecutorRun[] = [];
  const refusals: ExecutorRefusal[] = [];
  return {
    runs,
    refusals,
    observer: {
      ran: (run) => runs.push(run),
      refused: (reason) => refusals.push(reason),
    },
  };
}

Deno.test("ExecutorSpawner.stats() counts held slots, waiting calls and the slots in all", async () => {
  const spawner = new ExecutorSpawner({ maxConcurrent: 1, maxQueued: 2 });
  assertEquals(spawner.stats(), { running: 0, queued: 0, warm: 0, slots: 1 });
  const controller = new AbortController();
  const running = spawner.run(
    probeCall({ kind: "probe", action: "sleep", ms: 60_000 }, {
      signal: controller.signal,
    }),
  );
  const waiting = spawner.run(
    probeCall({ kind: "probe", action: "noop" }, { signal: controller.signal }),
  );
  assertEquals(spawner.stats(), { running: 1, queued: 1, warm: 0, slots: 1 });
  const settled = Promise.all([
    assertRejects(() => running, Error, "test over"),
    assertRejects(() => waiting, Error, "test over"),
  ]);
  controller.abort(new Error("test over"));
  await settled;
  assertEquals(spawner.stats(), { running: 0, queued: 0, warm: 0, slots: 1 });
});

Deno.test("ExecutorSpawner.observe() is told of every child that ran, cold or warm, and by kind", async () => {
  const spawner = new ExecutorSpawner({ warmPaceMs: 0 });
  const { runs, refusals, observer } = recorder();
  const stop = spawner.observe(observer);
  try {
    const cold = await spawner.run(
      probeCall({ kind: "probe", action: "noop" }),
    );
    assert(cold.ok, JSON.stringify(cold));
    assert(spawner.warm({
      handleId: "h-observer",
      kind: "probe",
      target: TARGET,
      ttlMs: 60_000,
    }));
    assertEquals(spawner.stats().warm, 1);
    const reservation = await spawner.reserve({ handleId: "h-observer" });
    const warm = await reservation.run(
      probeCall({ kind: "probe", action: "noop" }),
    );
    assert(warm.ok, JSON.stringify(warm));
    assertEquals(warm.timing.executor, "warm");
    assertEquals(spawner.stats().warm, 0);
    assertEquals(
      runs.map(({ kind, executor }) => ({ kind, executor })),
      [
        { kind: "probe", executor: "cold" },
        { kind: "probe", executor: "warm" },
      ],
    );
    assertEquals(runs.map((run) => run.runMs), [
      cold.timing.runMs,
      warm.timing.runMs,
    ]);
    assertEquals(refusals, []);
  } finally {
    stop();
    await spawner.close();
  }
  // Stopped: later runs are not reported.
  await spawner.run(probeCall({ kind: "probe", action: "noop" }));
  assertEquals(runs.length, 2);
});

Deno.test("ExecutorSpawner.observe() is told of a call refused with a full queue and one that waited in vain", async () => {
  const spawner = new ExecutorSpawner({ maxConcurrent: 1, maxQueued: 0 });
  const { runs, refusals, observer } = recorder();
  spawner.observe(observer);
  const held = await spawner.reserve({ timeoutMs: 60_000 });
  try {
    await assertRejects(
      () => spawner.reserve({ timeoutMs: 60_000 }),
      ExecutorBusyError,
    );
    await assertRejects(
      () => spawner.run(probeCall({ kind: "probe", action: "noop" })),
      ExecutorBusyError,
    );
    assertEquals(refusals, ["queue_full", "queue_full"]);

    const waiting = new ExecutorSpawner({ maxConcurrent: 1, maxQueued: 1 });
    const watched = recorder();
    waiting.observe(watched.observer);
    const blocker = await waiting.reserve({ timeoutMs: 60_000 });
    await assertRejects(
      () => waiting.reserve({ timeoutMs: 50 }),
      ExecutorWaitTimeoutError,
    );
    // run() turns the wait's timeout into a `timeout` outcome: still a refusal.
    const outcome = await waiting.run(
      probeCall({ kind: "probe", action: "noop" }, { timeoutMs: 50 }),
    );
    assert(!outcome.ok && outcome.error.code === "timeout");
    blocker.release();
    assertEquals(watched.refusals, ["queue_timeout", "queue_timeout"]);
    assertEquals(watched.runs, []);
  } finally {
    held.release();
  }
  assertEquals(runs, []);
});

Deno.test("ExecutorSpawner: an observer that throws fails no call", async () => {
  const spawner = new ExecutorSpawner();
  spawner.observe({
    ran: () => {
      throw new Error("observer broke");
    },
  });
  const outcome = await spawner.run(
    probeCall({ kind: "probe", action: "noop" }),
  );
  assert(outcome.ok, JSON.stringify(outcome));
});
