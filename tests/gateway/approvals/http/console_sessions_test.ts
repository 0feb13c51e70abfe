import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
} from "../../../support/assert.ts";
import { eventually } from "../../../support/eventually.ts";
import {
  announceRedisSkip,
  deleteKeysUnder,
  keysUnder,
  randomKeyPrefix,
  rawRedis,
  SHARED_REDIS,
} from "../../../support/redis.ts";
import {
  consoleSessionsFor,
  createConsoleSessions,
  MemoryConsoleSessions,
} from "../../../../gateway/approvals/http/mod.ts";
import { RedisConsoleSessions } from "../../../../gateway/approvals/http/redis_console_sessions.ts";
import {
  csrfTokenOf,
  sessionTokenDigest,
} from "../../../../gateway/approvals/http/session_token.ts";
import { ALICE_KEY, approvalsHarness } from "./_harness.ts";

const redisSkip = await announceRedisSkip();

Deno.test("memoryConsoleSessions keeps a session until it ends, then forgets it", async () => {
  let now = 0;
  const sessions = new MemoryConsoleSessions({ now: () => now });
  const { token, session } = await sessions.create("alice", 30);
  assertMatch(token, /^[A-Za-z0-9_-]{43}$/);
  assertEquals(session, { approver: "alice", expiresAt: 30_000 });
  assertEquals(await sessions.get(token), session);
  assertEquals(await sessions.get(`${token.slice(0, -1)}x`), undefined);
  now = 29_999;
  assertEquals((await sessions.get(token))?.approver, "alice");
  now = 30_000;
  assertEquals(await sessions.get(token), undefined);
  const second = await sessions.create("bob", 30);
  assertNotEquals(second.token, token);
  await sessions.delete(second.token);
  assertEquals(await sessions.get(second.token), undefined);
});

Deno.test("createConsoleSessions() keeps sessions in memory without Redis", async () => {
  assert(await createConsoleSessions() instanceof MemoryConsoleSessions);
});

Deno.test("consoleSessionsFor() follows HANDLE_STORE: memory, or Redis under the same prefix", async () => {
  assert(
    await consoleSessionsFor({ kind: "memory" }) instanceof
      MemoryConsoleSessions,
  );
  const redis = await consoleSessionsFor({
    kind: "redis",
    keyPrefix: "mcp:",
    connection: { host: "127.0.0.1", port: 6379, db: 0, tls: false },
  });
  assert(redis instanceof RedisConsoleSessions);
  await redis.close();
});

Deno.test("the CSRF token is derived from the session token and differs per session", () => {
  const a = csrfTokenOf("A".repeat(43));
  assertMatch(a, /^[A-Za-z0-9_-]{43}$/);
  assertEquals(csrfTokenOf("A".repeat(43)), a);
  assertNotEquals(csrfTokenOf("B".repeat(43)), a);
  assertNotEquals(sessionTokenDigest("A".repeat(43)), a);
});

Deno.test({
  name:
    "redisConsoleSessions stores only the SHA-256 of the token, shares sessions between replicas and lets Redis expire them",
  ignore: redisSkip !== null,
  fn: async () => {
    const keyPrefix = randomKeyPrefix();
    const options = { ...SHARED_REDIS, db: 0, tls: false, keyPrefix };
    const replicaA = await createConsoleSessions({ redis: options });
    const replicaB = new RedisConsoleSessions(options);
    try {
      assert(replicaA instanceof RedisConsoleSessions);
      const { token } = await replicaA.create("alice", 2);
      const keys = await keysUnder(keyPrefix);
      assertEquals(keys, [
        `${keyPrefix}approvals:session:${sessionTokenDigest(token)}`,
      ]);
      const raw = rawRedis();
      try {
        const stored = await raw.get(keys[0]!);
        assert(
          stored !== null && !stored.includes(token),
          "the token is not stored",
        );
        const ttl = await raw.pttl(keys[0]!);
        assert(ttl > 0 && ttl <= 2000, `PX set: ${ttl}`);
      } finally {
        raw.disconnect();
      }
      assertEquals((await replicaB.get(token))?.approver, "alice");
      await eventually(
        async () => assertEquals(await replicaB.get(token), undefined),
        { timeoutMs: 10_000 },
      );
      // Redis drops the key at its PX, which may come a moment after the
      // session's own expiry made get() refuse it.
      await eventually(
        async () => assertEquals(await keysUnder(keyPrefix), []),
        { timeoutMs: 10_000 },
      );

      const { token: second } = await replicaB.create("bob", 60);
      await replicaA.delete(second);
      assertEquals(await replicaB.get(second), undefined);
    } finally {
      await replicaA.close();
      await replicaB.close();
      await deleteKeysUnder(keyPrefix);
    }
  },
});

Deno.test({
  name:
    "a console cookie issued by one replica is accepted by another that shares the Redis sessions",
  ignore: redisSkip !== null,
  fn: async () => {
    const keyPrefix = randomKeyPrefix();
    const options = { ...SHARED_REDIS, db: 0, tls: false, keyPrefix };
    const a = approvalsHarness({ sessions: new RedisConsoleSessions(options) });
    const b = approvalsHarness({ sessions: new RedisConsoleSessions(options) });
    try {
      const { cookie } = await a.login(ALICE_KEY);
      const response = await b.request("/api/session", { headers: { cookie } });
      assertEquals(response.status, 200);
      assertEquals((await response.json()).approver, "alice");
    } finally {
      await a.close();
      await b.close();
      await deleteKeysUnder(keyPrefix);
    }
  },
});
