/**
 * Warm executors with real children (the probe executor): which call gets
 * the warm child, what its stdin held before the call, and every way it
 * dies. Bytes written to a child's stdin are counted by wrapping the real
 * spawn: the gateway process holds the only write end of that pipe.
 */
import { configure, type LogRecord, reset } from "@logtape/logtape";
import type { Operation } from "../../../executors/protocol/mod.ts";
import {
  type ExecutorCall,
  type ExecutorKind,
  type ExecutorOutcome,
  ExecutorSpawner,
  type ExecutorSpawnerOptions,
  type SpawnFunction,
} from "../../../executors/spawner/mod.ts";
import { assert, assertEquals, assertThrows } from "../../support/assert.ts";
import { eventually } from "../../support/eventually.ts";
import { isAlive } from "../../support/proc_tree.ts";

const SECRET = "warm-Pa55w0rd-never-early";
const TARGET = { host: "127.0.0.1", port: 9 };
const TTL_MS = 60_000;

/** One spawned child: its process, arguments and the stdin bytes written so far. */
interface Spawned {
  readonly child: Deno.ChildProcess;
  readonly args: readonly string[];
  stdinBytes: number;
}

/** Wraps the real spawn; counts what the spawner writes to each child's stdin. */
class StdinRecorder {
  readonly spawned: Spawned[] = [];
  readonly spawn: SpawnFunction = (command, options) => {
    const child = new Deno.Command(command, options).spawn();
    const record: Spawned = {
      child,
      args: [...(options.args ?? [])],
      stdinBytes: 0,
    };
    this.spawned.push(record);
    const counting = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller): void {
        record.stdinBytes += chunk.length;
        // A copy: the spawner zeroes its buffer once the write resolves.
        controller.enqueue(chunk.slice());
      },
    });
    counting.readable.pipeTo(child.stdin).catch(() => {});
    return {
      get pid() {
        return child.pid;
      },
      stdin: counting.writable,
      stdout: child.stdout,
      stderr: child.stderr,
      status: child.status,
      output: () => child.output(),
      kill: (signal?: Deno.Signal) => child.kill(signal),
      ref: () => child.ref(),
      unref: () => child.unref(),
      [Symbol.asyncDispose]: () => child[Symbol.asyncDispose](),
    } as Deno.ChildProcess;
  };

  byPid(pid: number): Spawned {
    const found = this.spawned.find((s) => s.child.pid === pid);
    assert(found !== undefined, `no child with pid ${pid} was spawned`);
    return found;
  }
}

function probeCall(
  extra: Partial<ExecutorCall<"probe">> = {},
): ExecutorCall<"probe"> {
  const operation: Extract<Operation, { kind: "probe" }> = {
    kind: "probe",
    action: "noop",
  };
  return {
    target: TARGET,
    credential: {
      username: "probe",
      kind: "password",
      secret: { reveal: () => SECRET },
    },
    operation,
    ...extra,
  };
}

function warmProbe(
  spawner: ExecutorSpawner,
  handleId: string,
  extra: { kind?: ExecutorKind; port?: number; ttlMs?: number } = {},
): boolean {
  return spawner.warm({
    handleId,
    kind: extra.kind ?? "probe",
    target: { host: TARGET.host, port: extra.port ?? TARGET.port },
    ttlMs: extra.ttlMs ?? TTL_MS,
  });
}

/** Reserves with a handle id and runs the call: the gateway's way. */
async function runFor(
  spawner: ExecutorSpawner,
  handleId: string,
  call: ExecutorCall<"probe"> = probeCall(),
): Promise<ExecutorOutcome> {
  const reservation = await spawner.reserve({ handleId });
  try {
    return await reservation.run(call);
  } finally {
    reservation.release();
  }
}

function assertFalse(condition: boolean, message = "expected false"): void {
  assert(!condition, message);
}

async function gone(pid: number): Promise<void> {
  await eventually(() => assertFalse(isAlive(pid), `pid ${pid} still runs`));
}

/** Process ids whose parent is this test process. */
async function childPids(): Promise<number[]> {
  const output = await new Deno.Command("ps", {
    args: ["-o", "pid=", "--ppid", String(Deno.pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(output.stdout).split("\n")
    .map((line) => line.trim()).filter((line) => line !== "").map(Number)
    .filter((pid) => isAlive(pid));
}

async function withSpawner(
  options: ExecutorSpawnerOptions,
  fn: (
    spawner: ExecutorSpawner,
    recorder: StdinRecorder,
  ) => Promise<void> | void,
): Promise<void> {
  const recorder = new StdinRecorder();
  // No pace unless a test asks: the tests warm several children at once.
  const spawner = new ExecutorSpawner({
    spawn: recorder.spawn,
    warmPaceMs: 0,
    ...options,
  });
  try {
    await fn(spawner, recorder);
  } finally {
    await spawner.close();
  }
}

function assertOk(outcome: ExecutorOutcome): void {
  assert(outcome.ok, `expected success, got ${JSON.stringify(outcome)}`);
}

Deno.test("ExecutorSpawner.warm() starts a child whose stdin stays empty until the matching call runs in it", async () => {
  await withSpawner({}, async (spawner, recorder) => {
    assert(warmProbe(spawner, "h-match"));
    const [pid] = spawner.warmPids();
    assert(pid !== undefined);
    const warm = recorder.byPid(pid);
    // Let the child load its modules and block on stdin: it must still be
    // there, with nothing written to it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert(isAlive(pid), "the warm child exited while waiting");
    assertEquals(warm.stdinBytes, 0);

    const outcome = await runFor(spawner, "h-match");
    assertOk(outcome);
    assertEquals(outcome.timing.executor, "warm");
    assertEquals(outcome.timing.pid, pid);
    assert(
      warm.stdinBytes > 0,
      "the request was not written to the warm child",
    );
    assertEquals(recorder.spawned.length, 1, "a cold child was spawned too");
    assertEquals(spawner.warming, 0);
    await gone(pid);
  });
});

Deno.test("ExecutorSpawner.warm() gives the warm child exactly the command line of a cold call", async () => {
  await withSpawner({}, async (spawner, recorder) => {
    warmProbe(spawner, "h-args");
    const cold = await spawner.run(probeCall());
    assertOk(cold);
    assertEquals(cold.timing.executor, "cold");
    const [warm, coldChild] = recorder.spawned;
    assert(warm !== undefined && coldChild !== undefined);
    assertEquals(warm.args, coldChild.args);
    assert(warm.args.includes("--allow-net=127.0.0.1:9"));
  });
});

Deno.test("ExecutorSpawner: a call on another port, of another kind or with another handle runs cold", async () => {
  await withSpawner({ warmMax: 4 }, async (spawner, recorder) => {
    warmProbe(spawner, "h-port", { port: 10 });
    warmProbe(spawner, "h-kind", { kind: "postgres" });
    warmProbe(spawner, "h-other");
    const [portPid, kindPid, otherPid] = spawner.warmPids();
    assert(
      portPid !== undefined && kindPid !== undefined && otherPid !== undefined,
    );

    // Same handle, other port: cold, and the warm child dies (its handle
    // was spent on a call it could not serve).
    const otherPort = await runFor(spawner, "h-port");
    assertOk(otherPort);
    assertEquals(otherPort.timing.executor, "cold");
    assert(otherPort.timing.pid !== portPid);
    await gone(portPid);
    assertEquals(recorder.byPid(portPid).stdinBytes, 0);

    // Same handle, other kind (a postgres child warmed, a probe call): cold.
    const otherKind = await runFor(spawner, "h-kind");
    assertEquals(otherKind.timing.executor, "cold");
    await gone(kindPid);
    assertEquals(recorder.byPid(kindPid).stdinBytes, 0);

    // Another handle: cold, and the warm child of h-other keeps waiting.
    const otherHandle = await runFor(spawner, "h-unknown");
    assertEquals(otherHandle.timing.executor, "cold");
    assert(isAlive(otherPid));
    assertEquals(spawner.warmPids(), [otherPid]);

    // A call without a handle id never takes a warm child.
    const plain = await spawner.run(probeCall());
    assertEquals(plain.timing.executor, "cold");
    assertEquals(recorder.byPid(otherPid).stdinBytes, 0);
  });
});

Deno.test("ExecutorSpawner: a warm child dies when its handle expires", async () => {
  await withSpawner({}, async (spawner) => {
    warmProbe(spawner, "h-expiring", { ttlMs: 300 });
    const [pid] = spawner.warmPids();
    assert(pid !== undefined);
    await gone(pid);
    assertEquals(spawner.warming, 0);
    const late = await runFor(spawner, "h-expiring");
    assertEquals(late.timing.executor, "cold");
  });
});

Deno.test("ExecutorSpawner: a warm child dies when its handle's call gives up its slot without running", async () => {
  await withSpawner({}, async (spawner, recorder) => {
    warmProbe(spawner, "h-released");
    const [pid] = spawner.warmPids();
    assert(pid !== undefined);
    const reservation = await spawner.reserve({ handleId: "h-released" });
    reservation.release();
    await gone(pid);
    // The pool drops it when it sees the exit, a moment after the reaping.
    await eventually(() => assertEquals(spawner.warming, 0));
    assertEquals(recorder.byPid(pid).stdinBytes, 0);
  });
});

Deno.test("ExecutorSpawner: EXECUTOR_WARM_MAX bounds the warm children and evicts the oldest first", async () => {
  await withSpawner({ warmMax: 2 }, async (spawner) => {
    warmProbe(spawner, "h-1");
    warmProbe(spawner, "h-2");
    const [first, second] = spawner.warmPids();
    assert(first !== undefined && second !== undefined);
    warmProbe(spawner, "h-3");
    assertEquals(spawner.warming, 2);
    await gone(first);
    const [, third] = spawner.warmPids();
    assert(third !== undefined);
    assertEquals(spawner.warmPids(), [second, third]);
    assert(isAlive(second) && isAlive(third));
    const evicted = await runFor(spawner, "h-1");
    assertEquals(evicted.timing.executor, "cold");
    const kept = await runFor(spawner, "h-2");
    assertEquals(kept.timing.executor, "warm");
  });
});

Deno.test("ExecutorSpawner: a warm child that died on its own is dropped and the call runs cold", async () => {
  await withSpawner({}, async (spawner) => {
    warmProbe(spawner, "h-crashed");
    const [pid] = spawner.warmPids();
    assert(pid !== undefined);
    Deno.kill(pid, "SIGKILL");
    await eventually(() => assertEquals(spawner.warming, 0));
    const outcome = await runFor(spawner, "h-crashed");
    assertOk(outcome);
    assertEquals(outcome.timing.executor, "cold");
  });
});

Deno.test("ExecutorSpawner: a warm child is under the memory watchdog while it waits", async () => {
  await withSpawner({
    modules: { probe: new URL("./_warm_hog_executor.ts", import.meta.url) },
  }, async (spawner, recorder) => {
    warmProbe(spawner, "h-hog");
    const [pid] = spawner.warmPids();
    assert(pid !== undefined);
    await gone(pid);
    // The pool drops it when it sees the exit, a moment after the reaping.
    await eventually(() => assertEquals(spawner.warming, 0));
    assertEquals(recorder.byPid(pid).stdinBytes, 0);
    // The call gets a cold child (which the watchdog stops too).
    const outcome = await runFor(
      spawner,
      "h-hog",
      probeCall({ timeoutMs: 20_000 }),
    );
    assertEquals(outcome.timing.executor, "cold");
    assert(!outcome.ok && outcome.error.code === "resource_limit");
  });
});

Deno.test("ExecutorSpawner.close() kills every warm child and leaves no process behind", async () => {
  const before = await childPids();
  const recorder = new StdinRecorder();
  const spawner = new ExecutorSpawner({ spawn: recorder.spawn, warmMax: 2 });
  warmProbe(spawner, "h-a");
  warmProbe(spawner, "h-b", { kind: "postgres", port: 5432 });
  const pids = spawner.warmPids();
  assertEquals(pids.length, 2);
  await spawner.close();
  for (const pid of pids) {
    assertFalse(isAlive(pid), `pid ${pid} survived close`);
  }
  // Nor the memory monitor: no child of this process is left.
  await eventually(async () =>
    assertEquals(
      (await childPids()).filter((pid) => !before.includes(pid)),
      [],
    )
  );
  assertFalse(warmProbe(spawner, "h-after"), "warmed after close");
  assertEquals(recorder.spawned.length, 2);
});

Deno.test("ExecutorSpawner with warmMax 0 starts nothing early", async () => {
  await withSpawner({ warmMax: 0 }, async (spawner, recorder) => {
    assertFalse(warmProbe(spawner, "h-off"));
    assertEquals(recorder.spawned.length, 0);
    assertEquals(spawner.warming, 0);
    const outcome = await runFor(spawner, "h-off");
    assertOk(outcome);
    assertEquals(outcome.timing.executor, "cold");
    assertEquals(recorder.spawned.length, 1);
  });
});

Deno.test("ExecutorSpawner.warm() refuses an invalid target without spawning, and a bound out of range", async () => {
  await withSpawner({}, (spawner, recorder) => {
    assertThrows(
      () =>
        spawner.warm({
          handleId: "h-bad",
          kind: "probe",
          target: { host: "db01,169.254.169.254", port: 5432 },
          ttlMs: TTL_MS,
        }),
      TypeError,
      "comma",
    );
    assertEquals(recorder.spawned.length, 0);
  });
  assertThrows(() => new ExecutorSpawner({ warmMax: -1 }), RangeError);
  assertThrows(() => new ExecutorSpawner({ warmMax: 1.5 }), RangeError);
});

Deno.test("ExecutorSpawner logs warm start, use and discard with the handle id, kind and target", async () => {
  const records: LogRecord[] = [];
  await configure({
    sinks: { memory: (record: LogRecord) => records.push(record) },
    loggers: [
      { category: ["executors"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
    reset: true,
  });
  try {
    await withSpawner({}, async (spawner) => {
      warmProbe(spawner, "h-log-used");
      warmProbe(spawner, "h-log-dropped", { port: 10 });
      await runFor(spawner, "h-log-used");
      await runFor(spawner, "h-log-dropped");
    });
  } finally {
    await reset();
  }
  const warmLines = records.filter((r) => r.properties.handle_id !== undefined)
    .map((r) => ({
      text: r.message.map(String).join(""),
      handle: r.properties.handle_id,
      kind: r.properties.kind,
      target: r.properties.target,
    }));
  const find = (handle: string, word: string): void => {
    assert(
      warmLines.some((l) =>
        l.handle === handle && l.kind === "probe" && l.text.includes(word) &&
        typeof l.target === "string" && l.target.startsWith("127.0.0.1:")
      ),
      `no "${word}" line for ${handle}: ${JSON.stringify(warmLines)}`,
    );
  };
  find("h-log-used", "started");
  find("h-log-used", "used");
  find("h-log-dropped", "started");
  find("h-log-dropped", "discarded");
  assert(
    !JSON.stringify(records.map((r) => r.properties)).includes(SECRET),
    "a log line holds the secret",
  );
});

Deno.test("ExecutorSpawner: warm children share EXECUTOR_MAX_CONCURRENT with running calls: a call pushes out the oldest warm child, never its own", async () => {
  await withSpawner({ maxConcurrent: 2, warmMax: 2 }, async (spawner) => {
    assert(warmProbe(spawner, "h-old"));
    assert(warmProbe(spawner, "h-new"));
    const [oldPid, newPid] = spawner.warmPids();
    assert(oldPid !== undefined && newPid !== undefined);
    // A call that needs a slot: two warm children fill both; the oldest goes.
    const reservation = await spawner.reserve({ handleId: "h-cold" });
    try {
      await gone(oldPid);
      assertEquals(spawner.warmPids(), [newPid]);
      // No slot is free for warming while a call runs and one child waits.
      assertEquals(warmProbe(spawner, "h-late"), true);
      assertEquals(spawner.warming, 1, "the newest handle replaced h-new");
      await gone(newPid);
    } finally {
      reservation.release();
    }
  });
  await withSpawner({ maxConcurrent: 2, warmMax: 2 }, async (spawner) => {
    assert(warmProbe(spawner, "h-a"));
    assert(warmProbe(spawner, "h-b"));
    // The call of h-a takes its own warm child: nothing is pushed out.
    const outcome = await runFor(spawner, "h-a");
    assertEquals(outcome.timing.executor, "warm");
    assertEquals(spawner.warming, 1);
    assertEquals((await runFor(spawner, "h-b")).timing.executor, "warm");
  });
  await withSpawner({ maxConcurrent: 1, warmMax: 2 }, async (spawner) => {
    const reservation = await spawner.reserve({});
    try {
      // Every slot runs a call: nothing warms.
      assertEquals(warmProbe(spawner, "h-busy"), false);
      assertEquals(spawner.warming, 0);
    } finally {
      reservation.release();
    }
  });
});

Deno.test("ExecutorSpawner: warm starts are paced, so a flood of handles does not spawn a child for each", async () => {
  await withSpawner(
    { warmMax: 2, warmPaceMs: 60_000 },
    (spawner, recorder) => {
      // warmMax start at once, then one per pace: here none for a minute.
      const started = ["h-1", "h-2", "h-3", "h-4", "h-5"].map((id) =>
        warmProbe(spawner, id)
      );
      assertEquals(started, [true, true, false, false, false]);
      assertEquals(spawner.warming, 2, `spawned ${recorder.spawned.length}`);
      assertEquals(recorder.spawned.length, 2);
    },
  );
  assertThrows(
    () => new ExecutorSpawner({ warmPaceMs: -1 }),
    RangeError,
    "warmPaceMs",
  );
});
