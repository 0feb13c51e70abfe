import { configure, type LogRecord, reset } from "@logtape/logtape";
import {
  type Operation,
  type ProbeAction,
  PROTOCOL_VERSION,
  responseLimitBytes,
} from "../../../executors/protocol/mod.ts";
import {
  DEFAULT_EXECUTOR_MEMORY_MB,
  executorArgs,
  ExecutorBusyError,
  type ExecutorCall,
  executorHeapCapMb,
  type ExecutorKind,
  type ExecutorOutcome,
  EXECUTORS,
  ExecutorSpawner,
  type ExecutorSpawnerOptions,
  ExecutorWaitTimeoutError,
  MAX_EXECUTOR_MEMORY_MB,
  MIN_EXECUTOR_MEMORY_MB,
  PERMITTED_HEAP_FLAG,
  type SpawnFunction,
} from "../../../executors/spawner/mod.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../../support/assert.ts";
import { readResponse } from "../../../executors/spawner/executor_process.ts";
import { denoInfo } from "./_deno_info.ts";

const SECRET = 's3cr"et-Pa55w0rd';

function testdata(name: string): URL {
  return new URL(`../../testdata/executors/${name}`, import.meta.url);
}

function call(
  operation: Operation,
  extra: Partial<ExecutorCall> = {},
): ExecutorCall {
  return {
    target: { host: "127.0.0.1", port: 9 },
    credential: {
      username: "probe",
      kind: "password",
      secret: { reveal: () => SECRET },
    },
    operation,
    ...extra,
  };
}

function probe(action: ProbeAction, ms?: number): Operation {
  return ms === undefined
    ? { kind: "probe", action }
    : { kind: "probe", action, ms };
}

/** Wraps the real spawn to record each child, its arguments and how many run at once. */
class SpawnRecorder {
  readonly children: Deno.ChildProcess[] = [];
  readonly calls: { command: string; options: Deno.CommandOptions }[] = [];
  live = 0;
  maxLive = 0;
  readonly spawn: SpawnFunction = (command, options) => {
    this.calls.push({ command, options });
    const child = new Deno.Command(command, options).spawn();
    this.children.push(child);
    this.live++;
    this.maxLive = Math.max(this.maxLive, this.live);
    child.status.then(() => this.live--);
    return child;
  };
}

function spawnerWith(
  recorder: SpawnRecorder,
  options: ExecutorSpawnerOptions = {},
): ExecutorSpawner {
  return new ExecutorSpawner({ spawn: recorder.spawn, ...options });
}

/** A call that run() must refuse, the error class and what its message says. */
type Refusal = [ExecutorCall, new (...args: never[]) => Error, string];

/** Runs each refusal's call on one spawner and checks that none spawned a child. */
async function assertRefusedUnspawned(refusals: Refusal[]): Promise<void> {
  const recorder = new SpawnRecorder();
  const spawner = spawnerWith(recorder);
  for (const [refused, errorClass, says] of refusals) {
    await assertRejects(() => spawner.run(refused), errorClass, says);
  }
  assertEquals(recorder.calls.length, 0);
}

async function assertProcessGone(pid: number): Promise<void> {
  try {
    await Deno.stat(`/proc/${pid}`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  throw new Error(`Process ${pid} is still there`);
}

function failureOf(
  outcome: ExecutorOutcome,
): { code: string; message: string } {
  assert(!outcome.ok, `expected a failure, got ${JSON.stringify(outcome)}`);
  return outcome.error;
}

async function captureLogs<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; records: LogRecord[] }> {
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
    return { value: await fn(), records };
  } finally {
    await reset();
  }
}

function recordText(record: LogRecord): string {
  return `${record.message.map(String).join("")} ${
    JSON.stringify(record.properties)
  }`;
}

Deno.test("executorArgs() builds the exact sandboxed command line", () => {
  assertEquals(
    executorArgs("probe", { host: "127.0.0.1", port: 22 }, {
      configPath: "/p/deno.json",
      modulePath: "/p/executors/probe_executor.ts",
      maxHeapMb: 48,
    }),
    [
      "run",
      "--no-prompt",
      "--cached-only",
      "--frozen-lockfile",
      "--config",
      "/p/deno.json",
      "--allow-net=127.0.0.1:22",
      "--v8-flags=--max-old-space-size=48",
      "/p/executors/probe_executor.ts",
    ],
  );
  assertEquals(
    executorArgs("postgres", { host: "::1", port: 5432 }, {
      configPath: "/p/deno.json",
      modulePath: "/p/m.ts",
      maxHeapMb: 1024,
    }).slice(6),
    [
      "--allow-net=[::1]:5432",
      "--allow-env=PG*",
      "--v8-flags=--max-old-space-size=1024",
      "/p/m.ts",
    ],
  );
});

Deno.test("executorArgs() grants no executor kind read, write, run, ffi, sys or all", () => {
  const forbidden =
    /^(-A|--allow-all|--allow-read|--allow-write|--allow-run|--allow-ffi|--allow-sys|--allow-import|--unstable)/;
  for (const kind of Object.keys(EXECUTORS) as ExecutorKind[]) {
    const args = executorArgs(kind, { host: "db01", port: 1 }, {
      configPath: "/p/deno.json",
      modulePath: "/p/m.ts",
      maxHeapMb: 48,
    });
    assertEquals(args.filter((arg) => forbidden.test(arg)), [], kind);
    assertEquals(args.filter((arg) => arg.startsWith("--allow-net")), [
      "--allow-net=db01:1",
    ], kind);
    assertEquals(
      args.filter((arg) => arg.startsWith("--allow-env")),
      {
        postgres: ["--allow-env=PG*"],
        mssql: ["--allow-env"],
      }[kind as string] ?? [],
      kind,
    );
  }
});

Deno.test("executorArgs() refuses relative paths and unknown kinds", () => {
  const target = { host: "db01", port: 22 };
  assertThrows(
    () =>
      executorArgs("ssh", target, {
        configPath: "deno.json",
        modulePath: "/m.ts",
        maxHeapMb: 48,
      }),
    TypeError,
    "not absolute",
  );
  assertThrows(
    () =>
      executorArgs("ftp" as ExecutorKind, target, {
        configPath: "/d",
        modulePath: "/m",
        maxHeapMb: 48,
      }),
    TypeError,
    "Unknown executor kind",
  );
});

Deno.test("executorArgs() gives every executor exactly one heap cap, of the one permitted form", () => {
  for (const kind of Object.keys(EXECUTORS) as ExecutorKind[]) {
    const args = executorArgs(kind, { host: "db01", port: 1 }, {
      configPath: "/p/deno.json",
      modulePath: "/p/m.ts",
      maxHeapMb: 48,
    });
    assertEquals(args.filter((arg) => arg.startsWith("--v8-flags")), [
      "--v8-flags=--max-old-space-size=48",
    ], kind);
  }
  for (const maxHeapMb of [0, -1, 1.5, 1_000_000, Number.NaN]) {
    assertThrows(
      () =>
        executorArgs("probe", { host: "db01", port: 1 }, {
          configPath: "/p/deno.json",
          modulePath: "/p/m.ts",
          maxHeapMb,
        }),
      RangeError,
      "heap cap",
    );
  }
  assert(PERMITTED_HEAP_FLAG.test("--v8-flags=--max-old-space-size=48"));
  for (
    const flag of [
      "--v8-flags=--max-old-space-size=48,--allow-natives-syntax",
      "--v8-flags=--allow-natives-syntax",
      "--v8-flags=--max-old-space-size=",
      "--v8-flags=--max-old-space-size=0",
      "--v8-flags=--max-old-space-size=48 ",
      "--v8-flags=--max-semi-space-size=48",
    ]
  ) {
    assert(!PERMITTED_HEAP_FLAG.test(flag), flag);
  }
});

Deno.test("ExecutorSpawner caps each child's heap below its memory limit and refuses a limit out of range", () => {
  assertEquals(
    new ExecutorSpawner().maxMemoryMb,
    DEFAULT_EXECUTOR_MEMORY_MB,
  );
  const heap = executorHeapCapMb(DEFAULT_EXECUTOR_MEMORY_MB);
  assert(heap > 16 && heap < DEFAULT_EXECUTOR_MEMORY_MB, `heap ${heap} MiB`);
  for (
    const maxMemoryMb of [
      MIN_EXECUTOR_MEMORY_MB - 1,
      MAX_EXECUTOR_MEMORY_MB + 1,
      150.5,
    ]
  ) {
    assertThrows(
      () => new ExecutorSpawner({ maxMemoryMb }),
      RangeError,
      "memory limit",
    );
  }
});

Deno.test("ExecutorSpawner.run() never spawns for a malformed host", async () => {
  const hosts = [
    "db01,169.254.169.254:80",
    "db01 --allow-all",
    "127.0.0.1:22",
    "*",
    "",
    "db01\n",
    "user@db01",
    "fe80::1%eth0",
    "0x7f.1",
  ];
  await assertRefusedUnspawned([
    ...hosts.map((host): Refusal => [
      call(probe("noop"), { target: { host, port: 22 } }),
      TypeError,
      "Invalid executor host",
    ]),
    [
      call(probe("noop"), { target: { host: "db01", port: 0 } }),
      TypeError,
      "Invalid executor port",
    ],
  ]);
});

Deno.test("ExecutorSpawner.run() refuses an operation outside the protocol without spawning", async () => {
  const operations = [
    { kind: "ftp", path: "/" },
    { kind: "probe", action: "format_disk" },
    { kind: "ssh", command: "" },
  ];
  await assertRefusedUnspawned(
    operations.map((operation): Refusal => [
      call(operation as unknown as Operation),
      TypeError,
      "Invalid executor operation",
    ]),
  );
});

Deno.test("ExecutorSpawner.run() refuses out-of-range limits without spawning", async () => {
  await assertRefusedUnspawned([
    [call(probe("noop"), { timeoutMs: 0 }), RangeError, "timeout"],
    [call(probe("noop"), { maxOutputBytes: 0.5 }), RangeError, "output cap"],
  ]);
  assertThrows(
    () => new ExecutorSpawner({ maxConcurrent: 0 }),
    RangeError,
    "maxConcurrent",
  );
  assertThrows(
    () =>
      new ExecutorSpawner({
        modules: { probe: new URL("https://example.com/x.ts") },
      }),
    TypeError,
    "not a local file",
  );
});

Deno.test("ExecutorSpawner.run() spawns deno with a cleared environment and returns the probe result", async () => {
  const recorder = new SpawnRecorder();
  const outcome = await spawnerWith(recorder).run(call(probe("noop")));
  assert(outcome.ok, JSON.stringify(outcome));
  assertEquals(outcome.result, {
    kind: "probe",
    action: "noop",
    outcome: "allowed",
    errorName: null,
    detail: "nothing tried",
  });
  const { command, options } = recorder.calls[0]!;
  assertEquals(command, Deno.execPath());
  assertEquals(options.clearEnv, true);
  const inherited = Deno.env.get("DENO_DIR") === undefined ? [] : ["DENO_DIR"];
  assertEquals(Object.keys(options.env ?? {}).sort(), [
    ...inherited,
    "DENO_NO_UPDATE_CHECK",
    "NO_COLOR",
  ]);
  const args = options.args as string[];
  assertEquals(args, [
    "run",
    "--no-prompt",
    "--cached-only",
    "--frozen-lockfile",
    "--config",
    new URL("../../../deno.json", import.meta.url).pathname,
    "--allow-net=127.0.0.1:9",
    "--v8-flags=--max-old-space-size=48",
    new URL("../../../executors/children/probe_executor.ts", import.meta.url)
      .pathname,
  ]);
});

Deno.test("ExecutorSpawner.run() passes a configured DENO_DIR and nothing else", async () => {
  const { denoDir } = await denoInfo();
  const recorder = new SpawnRecorder();
  const outcome = await spawnerWith(recorder, { denoDir }).run(
    call(probe("noop")),
  );
  assert(outcome.ok, JSON.stringify(outcome));
  assertEquals(recorder.calls[0]!.options.env, {
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
    DENO_DIR: denoDir,
  });
});

Deno.test("ExecutorSpawner.run() kills a child that outlives its timeout", async () => {
  const recorder = new SpawnRecorder();
  const spawner = spawnerWith(recorder, {
    modules: { probe: testdata("hang_executor.ts") },
    killGraceMs: 0,
  });
  const outcome = await spawner.run(call(probe("noop"), { timeoutMs: 500 }));
  const error = failureOf(outcome);
  assertEquals(error.code, "timeout");
  assertStringIncludes(error.message, "timed out after 0.5 s");
  assertEquals((await recorder.children[0]!.status).signal, "SIGKILL");
  await assertProcessGone(recorder.children[0]!.pid);
});

Deno.test("ExecutorSpawner.run() kills a child that floods stdout", async () => {
  const recorder = new SpawnRecorder();
  const spawner = spawnerWith(recorder, {
    modules: { probe: testdata("flood_executor.ts") },
  });
  const outcome = await spawner.run(
    call(probe("noop"), { maxOutputBytes: 1024, timeoutMs: 60_000 }),
  );
  const error = failureOf(outcome);
  assertEquals(error.code, "internal");
  assertStringIncludes(
    error.message,
    `wrote more than ${responseLimitBytes(1024)} bytes`,
  );
  await assertProcessGone(recorder.children[0]!.pid);
});

Deno.test("ExecutorSpawner.run() reports a response that is not JSON", async () => {
  const spawner = new ExecutorSpawner({
    modules: { probe: testdata("garbage_executor.ts") },
  });
  const error = failureOf(await spawner.run(call(probe("noop"))));
  assertEquals(error.code, "internal");
  assertStringIncludes(error.message, "wrote a response that is not JSON");
});

Deno.test("ExecutorSpawner.run() reports a response of another protocol", async () => {
  const spawner = new ExecutorSpawner({
    modules: { probe: testdata("wrong_shape_executor.ts") },
  });
  const error = failureOf(await spawner.run(call(probe("noop"))));
  assertEquals(error.code, "internal");
  assertStringIncludes(
    error.message,
    `does not match ${PROTOCOL_VERSION}`,
  );
});

Deno.test("ExecutorSpawner.run() reports a child that exits without a response and logs its stderr", async () => {
  const spawner = new ExecutorSpawner({
    modules: { probe: testdata("silent_exit_executor.ts") },
  });
  const { value: outcome, records } = await captureLogs(() =>
    spawner.run(call(probe("noop")))
  );
  const error = failureOf(outcome);
  assertEquals(error.code, "internal");
  assertStringIncludes(
    error.message,
    "exited with exit code 3 without a response",
  );
  assert(
    records.some((r) =>
      r.level === "debug" && recordText(r).includes("something broke")
    ),
  );
});

Deno.test("ExecutorSpawner.run() scrubs an echoed secret from the result and the stderr log", async () => {
  const spawner = new ExecutorSpawner({
    modules: { probe: testdata("echo_secret_executor.ts") },
  });
  const { value: outcome, records } = await captureLogs(async () => {
    const outcome = await spawner.run(call(probe("noop")));
    await spawner.settled(); // stderr is logged once the child has exited
    return outcome;
  });
  assert(outcome.ok, JSON.stringify(outcome));
  assert(outcome.result.kind === "probe");
  const base64 = btoa(SECRET).replace(/=+$/, "");
  const forms = [SECRET, JSON.stringify(SECRET).slice(1, -1), base64];
  const resultText = JSON.stringify(outcome);
  assertStringIncludes(outcome.result.detail, "the password is [REDACTED]");
  const stderrRecords = records.filter((r) => recordText(r).includes("stderr"));
  assertEquals(stderrRecords.length, 1);
  const logText = records.map(recordText).join("\n");
  assertStringIncludes(logText, "raw=[REDACTED]");
  assertStringIncludes(logText, "base64=[REDACTED]");
  for (const form of forms) {
    assert(!resultText.includes(form), `result contains ${form}`);
    assert(!logText.includes(form), `log contains ${form}`);
  }
});

Deno.test("ExecutorSpawner.run() redacts a secret cut off at the end of truncated output", async () => {
  const spawner = new ExecutorSpawner({
    modules: { ssh: testdata("cut_secret_executor.ts") },
  });
  const outcome = await spawner.run(
    call({
      kind: "ssh",
      command: "cat /etc/app.conf",
      hostKeys: { mode: "disabled" },
    }),
  );
  assert(outcome.ok && outcome.result.kind === "ssh", JSON.stringify(outcome));
  assertEquals(outcome.result.stdout, "config dump ... password=[REDACTED]");
});

Deno.test("ExecutorSpawner.run() drains a stderr flood and keeps only its cap for the log", async () => {
  const spawner = new ExecutorSpawner({
    modules: { probe: testdata("stderr_flood_executor.ts") },
    maxStderrBytes: 4096,
  });
  const { value: outcome, records } = await captureLogs(async () => {
    const outcome = await spawner.run(call(probe("noop")));
    await spawner.settled();
    return outcome;
  });
  assert(outcome.ok, JSON.stringify(outcome));
  const stderr = String(records[0]?.properties["stderr"]);
  assertStringIncludes(stderr, "[stderr truncated at 4096 bytes]");
  assert(stderr.length < 4200, `logged ${stderr.length} characters`);
});

Deno.test("ExecutorSpawner.run() runs at most maxConcurrent children at once", async () => {
  const recorder = new SpawnRecorder();
  const spawner = spawnerWith(recorder, { maxConcurrent: 2 });
  let maxRunning = 0;
  const outcomes = await Promise.all(
    Array.from({ length: 5 }, async () => {
      const pending = spawner.run(call(probe("sleep", 300)));
      maxRunning = Math.max(maxRunning, spawner.running);
      return await pending;
    }),
  );
  assert(outcomes.every((o) => o.ok), JSON.stringify(outcomes));
  assertEquals(recorder.calls.length, 5);
  assertEquals(recorder.maxLive, 2);
  assertEquals(maxRunning, 2);
  assert(outcomes.some((o) => o.timing.queuedMs > 0), "no call waited");
  await spawner.settled();
  assertEquals([spawner.running, spawner.queued], [0, 0]);
});

Deno.test("ExecutorSpawner.run() starts queued calls in FIFO order", async () => {
  const recorder = new SpawnRecorder();
  const spawner = spawnerWith(recorder, { maxConcurrent: 1 });
  const ports = [1001, 1002, 1003, 1004];
  await Promise.all(
    ports.map((port) =>
      spawner.run(
        call(probe("sleep", 20), { target: { host: "127.0.0.1", port } }),
      )
    ),
  );
  const granted = recorder.calls.map(({ options }) =>
    (options.args as string[]).find((arg) => arg.startsWith("--allow-net="))
  );
  assertEquals(granted, ports.map((port) => `--allow-net=127.0.0.1:${port}`));
});

Deno.test("ExecutorSpawner.run() times out a queued call without spawning it", async () => {
  const recorder = new SpawnRecorder();
  const spawner = spawnerWith(recorder, { maxConcurrent: 1 });
  const controller = new AbortController();
  const first = spawner.run(
    call(probe("sleep", 60_000), { signal: controller.signal }),
  );
  const outcome = await spawner.run(call(probe("noop"), { timeoutMs: 300 }));
  const error = failureOf(outcome);
  assertEquals(error.code, "timeout");
  assertStringIncludes(error.message, "waiting for a free executor");
  assertEquals(outcome.timing.runMs, 0);
  assertEquals(recorder.calls.length, 1);
  const rejected = assertRejects(() => first, Error, "client went away");
  controller.abort(new Error("client went away"));
  await rejected;
  await assertProcessGone(recorder.children[0]!.pid);
  assertEquals([spawner.running, spawner.queued], [0, 0]);
});

Deno.test("ExecutorSpawner.run() refuses calls beyond the queue with ExecutorBusyError", async () => {
  const recorder = new SpawnRecorder();
  const spawner = spawnerWith(recorder, { maxConcurrent: 1, maxQueued: 1 });
  const controller = new AbortController();
  const running = spawner.run(
    call(probe("sleep", 60_000), { signal: controller.signal }),
  );
  const waiting = spawner.run(
    call(probe("noop"), { signal: controller.signal }),
  );
  assertEquals([spawner.running, spawner.queued], [1, 1]);
  const error = await assertRejects(
    () => spawner.run(call(probe("noop"))),
    ExecutorBusyError,
    "retry",
  );
  assertEquals(error.name, "ExecutorBusyError");
  const settled = Promise.all([
    assertRejects(() => running, Error, "shutting down"),
    assertRejects(() => waiting, Error, "shutting down"),
  ]);
  controller.abort(new Error("shutting down"));
  await settled;
  assertEquals(recorder.calls.length, 1);
  assertEquals([spawner.running, spawner.queued], [0, 0]);
});

Deno.test("ExecutorSpawner.run() tells the child its kill grace, so cleanup past the deadline fits before SIGKILL", async () => {
  const spawner = new ExecutorSpawner({
    killGraceMs: 1234,
    modules: { probe: testdata("limits_executor.ts") },
  });
  const outcome = await spawner.run({
    ...call(probe("noop")),
    operation: { kind: "probe", action: "noop" },
    timeoutMs: 20_000,
    maxOutputBytes: 4096,
  });
  assert(outcome.ok, JSON.stringify(outcome));
  // The result is typed by the operation's kind: no cast needed for `detail`.
  const limits = JSON.parse(outcome.result.detail);
  assertEquals(limits.killGraceMs, 1234);
  assertEquals(limits.maxOutputBytes, 4096);
  assert(limits.timeoutMs > 0 && limits.timeoutMs <= 20_000);
});

Deno.test("ExecutorSpawner.reserve() holds a slot until run or release, and later calls wait for it", async () => {
  const spawner = new ExecutorSpawner({ maxConcurrent: 1, maxQueued: 1 });
  const first = await spawner.reserve({ timeoutMs: 60_000 });
  assertEquals(spawner.running, 1);
  let secondGranted = false;
  const second = spawner.reserve({ timeoutMs: 60_000 }).then((r) => {
    secondGranted = true;
    return r;
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assertEquals(secondGranted, false);
  assertEquals(spawner.queued, 1);
  first.release();
  first.release(); // harmless twice
  const held = await second;
  assertEquals(spawner.running, 1);
  const outcome = await held.run(call(probe("noop")));
  assert(outcome.ok, JSON.stringify(outcome));
  // The slot stays taken until the child that answered has exited.
  await spawner.settled();
  assertEquals(spawner.running, 0);
  await assertRejects(
    () => held.run(call(probe("noop"))),
    TypeError,
    "reserve a slot for every call",
  );
});

Deno.test("ExecutorSpawner.reserve() refuses when the queue is full and times out while no slot frees up", async () => {
  const spawner = new ExecutorSpawner({ maxConcurrent: 1, maxQueued: 0 });
  const held = await spawner.reserve({ timeoutMs: 60_000 });
  try {
    await assertRejects(
      () => spawner.reserve({ timeoutMs: 60_000 }),
      ExecutorBusyError,
    );
    const waiting = new ExecutorSpawner({ maxConcurrent: 1, maxQueued: 1 });
    const blocker = await waiting.reserve({ timeoutMs: 60_000 });
    await assertRejects(
      () => waiting.reserve({ timeoutMs: 50 }),
      ExecutorWaitTimeoutError,
      "stayed busy",
    );
    assertEquals(waiting.queued, 0);
    blocker.release();
    assertEquals(waiting.running, 0);
  } finally {
    held.release();
  }
  assertEquals(spawner.running, 0);
});

/**
 * Runs a hostile executor to its memory death, then a probe on the same
 * spawner; returns the failure, the hostile child's status and the log.
 */
async function memoryDeath(
  module: string,
  maxMemoryMb: number,
): Promise<{
  error: { code: string; message: string };
  status: Deno.CommandStatus;
  records: LogRecord[];
}> {
  const recorder = new SpawnRecorder();
  const spawner = spawnerWith(recorder, {
    modules: { probe: testdata(module) },
    maxMemoryMb,
  });
  const { value: outcome, records } = await captureLogs(() =>
    spawner.run(call(probe("noop"), { timeoutMs: 20_000 }))
  );
  const status = await recorder.children[0]!.status;
  await assertProcessGone(recorder.children[0]!.pid);
  // The spawner keeps working: the next call gets a fresh, healthy child.
  const after = await new ExecutorSpawner().run(call(probe("noop")));
  assert(after.ok, JSON.stringify(after));
  assertEquals([spawner.running, spawner.queued], [0, 0]);
  const logText = records.map(recordText).join("\n");
  assert(!logText.includes(SECRET), "the log holds the secret");
  return { error: failureOf(outcome), status, records };
}

function memoryWarning(records: LogRecord[], limitMb: number): LogRecord {
  const warning = records.find((r) =>
    r.level === "warning" && recordText(r).includes("memory limit")
  );
  assert(warning !== undefined, records.map(recordText).join("\n"));
  assertEquals(warning.properties["kind"], "probe");
  assertEquals(warning.properties["limitMb"], limitMb);
  assert(typeof warning.properties["pid"] === "number");
  assert(typeof warning.properties["peakRssMb"] === "number");
  return warning;
}

Deno.test("ExecutorSpawner.run() stops a child whose JavaScript heap outgrows the heap cap with resource_limit", async () => {
  // At 256 MiB the heap cap (128 MiB) leaves room for the young generation
  // and the runtime, so V8's abort comes before the watchdog's kill.
  const limitMb = 256;
  const { error, status, records } = await memoryDeath(
    "memory_hog_executor.ts",
    limitMb,
  );
  assertEquals(error.code, "resource_limit");
  assertEquals(
    error.message,
    `The probe executor passed its memory limit of ${limitMb} MiB (its JavaScript heap, capped at ${
      executorHeapCapMb(limitMb)
    } MiB, ran out) and was stopped; raise EXECUTOR_MAX_MEMORY_MB or make the operation return less output`,
  );
  // V8 aborted it (SIGTRAP), not the watchdog (SIGKILL).
  assert(status.signal !== "SIGKILL", `signal ${status.signal}`);
  const warning = memoryWarning(records, limitMb);
  assert((warning.properties["peakRssMb"] as number) <= limitMb);
});

Deno.test("ExecutorSpawner.run() kills a child whose memory outside the heap passes the limit with resource_limit", async () => {
  const { error, status, records } = await memoryDeath(
    "native_hog_executor.ts",
    DEFAULT_EXECUTOR_MEMORY_MB,
  );
  assertEquals(error.code, "resource_limit");
  assertStringIncludes(
    error.message,
    `The probe executor passed its memory limit of ${DEFAULT_EXECUTOR_MEMORY_MB} MiB (resident `,
  );
  assertStringIncludes(error.message, "raise EXECUTOR_MAX_MEMORY_MB");
  assertEquals(status.signal, "SIGKILL");
  const warning = memoryWarning(records, DEFAULT_EXECUTOR_MEMORY_MB);
  assert(
    (warning.properties["peakRssMb"] as number) > DEFAULT_EXECUTOR_MEMORY_MB,
  );
});

Deno.test("ExecutorSpawner.run() reports a child killed by a signal it did not send, naming the memory limit", async () => {
  const recorder = new SpawnRecorder();
  const spawner = spawnerWith(recorder, {
    modules: { probe: testdata("hang_executor.ts") },
  });
  const pending = spawner.run(call(probe("noop"), { timeoutMs: 20_000 }));
  while (recorder.children.length === 0) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  recorder.children[0]!.kill("SIGTERM");
  const error = failureOf(await pending);
  assertEquals(error.code, "internal");
  assertEquals(
    error.message,
    `The probe executor was killed by signal SIGTERM without a response (a crash, or the system's out-of-memory killer; its own memory limit is ${DEFAULT_EXECUTOR_MEMORY_MB} MiB, EXECUTOR_MAX_MEMORY_MB); see the debug log for its stderr`,
  );
});

Deno.test("ExecutorSpawner.run() returns at a complete response, holds the slot until the child exits, and kills a child that lingers after answering", async () => {
  const recorder = new SpawnRecorder();
  const spawner = new ExecutorSpawner({
    modules: { probe: testdata("linger_executor.ts") },
    maxConcurrent: 1,
    killGraceMs: 300,
    spawn: recorder.spawn,
  });
  const outcome = await spawner.run(call(probe("noop")));
  assert(
    outcome.ok && outcome.result.kind === "probe",
    JSON.stringify(outcome),
  );
  assertEquals(outcome.result.detail, "answered");
  const pid = recorder.children[0]!.pid;
  // Answered, not exited: the process is still there and keeps its slot.
  await Deno.stat(`/proc/${pid}`);
  assertEquals(spawner.running, 1);
  // It holds the secret it was given, so it is killed after the kill grace.
  await spawner.settled();
  await assertProcessGone(pid);
  assertEquals(spawner.running, 0);
});

Deno.test("readResponse() stops at the first newline, drains the rest, and reports a response without one as incomplete", async () => {
  const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
  const streamOf = (...parts: string[]): ReadableStream<Uint8Array> =>
    ReadableStream.from(parts.map((p) => new TextEncoder().encode(p)));
  const whole = await readResponse(
    streamOf('{"a":', '1}\n{"after":', "true}"),
    1024,
    () => {
      throw new Error("no overflow");
    },
  );
  assertEquals([text(whole.bytes), whole.complete], ['{"a":1}', true]);
  await whole.drained;
  const cut = await readResponse(streamOf('{"a":1}'), 1024, () => {});
  assertEquals([text(cut.bytes), cut.complete], ['{"a":1}', false]);
  let overflowed = false;
  const big = await readResponse(streamOf("x".repeat(100)), 10, () => {
    overflowed = true;
  });
  assertEquals([big.bytes.length, big.overflowed, overflowed], [
    10,
    true,
    true,
  ]);
});
