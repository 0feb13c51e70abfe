/**
 * The readiness checks with real components: the in-memory and Redis
 * handle stores (the shared Redis at 127.0.0.1:6379 under a key prefix of
 * the test's own, and a closed port), and probe executors started by real
 * spawners (a working one, one whose deno cannot start, one whose executor
 * never answers); and how their verdicts are cached.
 */
import { ExecutorSpawner } from "../../../executors/spawner/mod.ts";
import {
  CachedCheck,
  createLifecycle,
  EXECUTOR_TIMING,
  executorProbe,
  HANDLE_STORE_TIMING,
  handleStoreProbe,
} from "../../../gateway/readiness/mod.ts";
import { MemoryHandleStore } from "../../../vault/memory_handle_store.ts";
import { RedisHandleStore } from "../../../vault/redis_handle_store.ts";
import { Secret } from "../../../vault/secret.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../../support/assert.ts";
import { freePort } from "../../support/free_port.ts";
import {
  announceRedisSkip,
  randomKeyPrefix,
  SHARED_REDIS,
} from "../../support/redis.ts";

const redisSkip = await announceRedisSkip();

/** A clock the test moves forward by hand. */
class Clock {
  ms = 1_000_000;
  readonly now = (): number => this.ms;
}

/** A real spawner whose children are counted. */
function countingSpawner(
  options: { command?: string; module?: URL } = {},
): { spawner: ExecutorSpawner; spawned: () => number } {
  let spawned = 0;
  const spawner = new ExecutorSpawner({
    maxConcurrent: 1,
    maxQueued: 1,
    warmMax: 0,
    ...(options.module === undefined
      ? {}
      : { modules: { probe: options.module } }),
    spawn: (command, spawnOptions) => {
      spawned++;
      return new Deno.Command(options.command ?? command, spawnOptions)
        .spawn();
    },
  });
  return { spawner, spawned: () => spawned };
}

Deno.test("handle_store: the in-memory store is ok", async () => {
  const store = new MemoryHandleStore();
  const check = new CachedCheck(
    handleStoreProbe({ store, name: "memory" }),
    HANDLE_STORE_TIMING,
  );
  try {
    assertEquals(check.verdict, undefined);
    assertEquals(await check.refresh(), "ok");
    assertEquals(check.verdict, "ok");
  } finally {
    await check.close();
    await store.close();
  }
});

Deno.test({
  name: "handle_store: Redis that answers is ok; nothing is written",
  ignore: redisSkip !== null,
  fn: async () => {
    const keyPrefix = randomKeyPrefix();
    const store = new RedisHandleStore({
      host: SHARED_REDIS.host,
      port: SHARED_REDIS.port,
      db: 0,
      tls: false,
      keyPrefix,
    });
    const check = new CachedCheck(
      handleStoreProbe({ store, name: store.endpoint }),
      HANDLE_STORE_TIMING,
    );
    try {
      assertEquals(await check.refresh(), "ok");
      assertEquals(await store.size(), 0);
    } finally {
      await check.close();
      await store.close();
    }
  },
});

Deno.test("handle_store: Redis at a closed port is not ready, naming the endpoint and never the password", async () => {
  const port = freePort();
  const password = `pw-${crypto.randomUUID()}`;
  const store = new RedisHandleStore({
    host: "127.0.0.1",
    port,
    db: 0,
    tls: false,
    password: new Secret(password),
    keyPrefix: randomKeyPrefix(),
  });
  const check = new CachedCheck(
    handleStoreProbe({ store, name: store.endpoint }),
    HANDLE_STORE_TIMING,
  );
  try {
    const verdict = await check.refresh();
    assert(verdict !== "ok");
    assertStringIncludes(verdict, `redis://127.0.0.1:${port}/0`);
    assertStringIncludes(verdict, "REDIS_URL");
    assert(!verdict.includes(password), verdict);
  } finally {
    await check.close();
    await store.close();
  }
});

Deno.test("executor: a probe executor started like every operation's is ok", async () => {
  const { spawner, spawned } = countingSpawner();
  const check = new CachedCheck(executorProbe(spawner), EXECUTOR_TIMING);
  try {
    assertEquals(await check.refresh(), "ok");
    assertEquals(spawned(), 1);
  } finally {
    await check.close();
    await spawner.close();
  }
});

Deno.test("executor: a runtime whose deno cannot start is not ready, and says what to do", async () => {
  const { spawner } = countingSpawner({
    command: `/nonexistent-${crypto.randomUUID()}/deno`,
  });
  const check = new CachedCheck(executorProbe(spawner), EXECUTOR_TIMING);
  try {
    const verdict = await check.refresh();
    assertMatch(verdict, /^Cannot start an executor: /);
    assertStringIncludes(verdict, "deno task cache");
  } finally {
    await check.close();
    await spawner.close();
  }
});

Deno.test("executor: an executor module that is missing is not ready", async () => {
  const { spawner, spawned } = countingSpawner({
    module: new URL(
      `../../testdata/executors/missing-${crypto.randomUUID()}.ts`,
      import.meta.url,
    ),
  });
  const check = new CachedCheck(executorProbe(spawner), EXECUTOR_TIMING);
  try {
    const verdict = await check.refresh();
    assertMatch(verdict, /^Cannot start an executor: /);
    assertStringIncludes(verdict, "without a response");
    assertEquals(spawned(), 1);
  } finally {
    await check.close();
    await spawner.close();
  }
});

Deno.test("executor: a probe that does not answer in time is not ready, and its child is killed", async () => {
  const pids: number[] = [];
  const spawner = new ExecutorSpawner({
    maxConcurrent: 1,
    warmMax: 0,
    modules: {
      probe: new URL(
        "../../testdata/executors/hang_executor.ts",
        import.meta.url,
      ),
    },
    spawn: (command, options) => {
      const child = new Deno.Command(command, options).spawn();
      pids.push(child.pid);
      return child;
    },
  });
  const check = new CachedCheck(executorProbe(spawner), {
    ...EXECUTOR_TIMING,
    timeoutMs: 1500,
  });
  try {
    const verdict = await check.refresh();
    assertStringIncludes(verdict, "did not answer within 1.5 s");
  } finally {
    await check.close();
    await spawner.close();
  }
  assertEquals(pids.length, 1);
  let gone = false;
  try {
    Deno.statSync(`/proc/${pids[0]}`);
  } catch {
    gone = true;
  }
  assert(gone, `the hung probe executor ${pids[0]} is still there`);
});

Deno.test("caching: an ok executor verdict is reused for 30 s, concurrent refreshes share one run", async () => {
  const clock = new Clock();
  const { spawner, spawned } = countingSpawner();
  const check = new CachedCheck(
    executorProbe(spawner),
    EXECUTOR_TIMING,
    clock.now,
  );
  try {
    const verdicts = await Promise.all([
      check.refresh(),
      check.refresh(),
      check.refresh(),
    ]);
    assertEquals(verdicts, ["ok", "ok", "ok"]);
    assertEquals(spawned(), 1);
    clock.ms += EXECUTOR_TIMING.okForMs - 1;
    assertEquals(check.stale, false);
    assertEquals(await check.refresh(), "ok");
    assertEquals(spawned(), 1);
    clock.ms += 1;
    assertEquals(check.stale, true);
    assertEquals(await check.refresh(), "ok");
    assertEquals(spawned(), 2);
  } finally {
    await check.close();
    await spawner.close();
  }
});

Deno.test("caching: a failed verdict is kept for its shorter period", async () => {
  const clock = new Clock();
  const { spawner, spawned } = countingSpawner({
    command: `/nonexistent-${crypto.randomUUID()}/deno`,
  });
  const check = new CachedCheck(
    executorProbe(spawner),
    EXECUTOR_TIMING,
    clock.now,
  );
  try {
    const first = await check.refresh();
    assert(first !== "ok");
    assertEquals(spawned(), 1);
    clock.ms += EXECUTOR_TIMING.failedForMs - 1;
    assertEquals(await check.refresh(), first);
    assertEquals(spawned(), 1);
    clock.ms += 1;
    await check.refresh();
    assertEquals(spawned(), 2);
    assert(EXECUTOR_TIMING.failedForMs < EXECUTOR_TIMING.okForMs);
  } finally {
    await check.close();
    await spawner.close();
  }
});

Deno.test("createLifecycle(): starting until both checks pass, then ready; a report waits for the handle store only", async () => {
  const store = new MemoryHandleStore();
  const { spawner, spawned } = countingSpawner();
  const { lifecycle, close } = createLifecycle({
    store,
    storeName: "memory",
    maxMemoryMb: 112,
    probeSpawner: spawner,
  });
  try {
    const first = await lifecycle.report();
    assertEquals(first.status, "starting");
    assertEquals(first.checks.config, "ok");
    assertEquals(first.checks.handle_store, "ok");
    assertMatch(first.checks.executor!, /^not checked yet/);
    let report = first;
    for (let i = 0; i < 400 && report.status !== "ready"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      report = await lifecycle.report();
    }
    assertEquals(report, {
      status: "ready",
      checks: { config: "ok", handle_store: "ok", executor: "ok" },
    });
    assertEquals(lifecycle.ready, true);
    assertEquals(spawned(), 1);
  } finally {
    await close();
    await store.close();
  }
});
