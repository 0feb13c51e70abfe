/**
 * The Redis approval store against the shared Redis at 127.0.0.1:6379, each
 * test under a random key prefix (deleted after).
 */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../support/assert.ts";
import { freePort } from "../../support/free_port.ts";
import {
  announceRedisSkip,
  deleteKeysUnder,
  keysUnder,
  randomKeyPrefix,
  rawRedis,
  SHARED_REDIS,
} from "../../support/redis.ts";
import { ApprovalStoreError } from "../../../gateway/approvals/approval_store.ts";
import { RedisApprovalStore } from "../../../gateway/approvals/redis_approval_store.ts";
import { Secret } from "../../../vault/secret.ts";
import { pendingRequest, storeContract } from "./_store_contract.ts";

const skip = await announceRedisSkip();

/** A store under a fresh prefix whose keys are deleted when it closes. */
function sharedStore(keyPrefix = randomKeyPrefix()): RedisApprovalStore {
  const store = new RedisApprovalStore({
    ...SHARED_REDIS,
    db: 0,
    tls: false,
    keyPrefix,
  });
  const close = store.close.bind(store);
  store.close = async () => {
    await close();
    await deleteKeysUnder(keyPrefix);
  };
  return store;
}

storeContract(
  "RedisApprovalStore",
  () => Promise.resolve(sharedStore()),
  skip !== null,
);

Deno.test({
  name:
    "RedisApprovalStore keeps a request as a hash, the waiter's lease and an index under REDIS_KEY_PREFIX + approvals:",
  ignore: skip !== null,
  fn: async () => {
    const prefix = randomKeyPrefix();
    const store = sharedStore(prefix);
    const raw = rawRedis();
    try {
      const request = pendingRequest();
      await store.create(request, 60_000);
      const p = `${prefix}approvals:`;
      assertEquals(
        await keysUnder(prefix),
        [
          `${p}index`,
          `${p}{${request.id}}`,
          `${p}{${request.id}}:waiter`,
        ].sort(),
      );
      const hash = await raw.hgetall(`${p}{${request.id}}`);
      assertEquals(hash.state, "pending");
      assertEquals(Number(hash.expiresAt), request.expiresAt);
      // Kept for the time left plus 24 hours, then gone.
      const ttl = await raw.pttl(`${p}{${request.id}}`);
      assert(ttl > 24 * 3600_000 && ttl <= 24 * 3600_000 + 60_000, `${ttl}`);
      await store.transition(request.id, {
        state: "approved",
        decidedAt: Date.now(),
        approver: "bob",
        decision: true,
      });
      assertEquals(
        await keysUnder(prefix),
        [
          `${p}index`,
          `${p}{${request.id}}`,
        ].sort(),
      );
      assertEquals(
        await raw.hget(`${p}{${request.id}}`, "approver"),
        "bob",
      );
    } finally {
      raw.disconnect();
      await store.close();
    }
  },
});

Deno.test({
  name:
    "RedisApprovalStore publishes only the id and state of a change on the changed channel",
  ignore: skip !== null,
  fn: async () => {
    const prefix = randomKeyPrefix();
    const store = sharedStore(prefix);
    const subscriber = rawRedis();
    try {
      const messages: string[] = [];
      subscriber.on("message", (_channel: string, message: string) => {
        messages.push(message);
      });
      await subscriber.subscribe(`${prefix}approvals:changed`);
      const request = pendingRequest();
      await store.create(request, 60_000);
      await store.transition(request.id, {
        state: "denied",
        decidedAt: Date.now(),
        approver: "bob",
        comment: "not during business hours",
        decision: true,
      });
      const { eventually } = await import("../../support/eventually.ts");
      await eventually(() =>
        assertEquals(messages.map((m) => JSON.parse(m)), [
          { id: request.id, state: "pending" },
          { id: request.id, state: "denied" },
        ])
      );
    } finally {
      subscriber.disconnect();
      await store.close();
    }
  },
});

Deno.test({
  name:
    "RedisApprovalStore: of decisions on two replicas sharing a prefix exactly one wins",
  ignore: skip !== null,
  fn: async () => {
    const prefix = randomKeyPrefix();
    const a = sharedStore(prefix);
    const b = sharedStore(prefix);
    try {
      for (let round = 0; round < 10; round++) {
        const request = pendingRequest();
        await a.create(request, 60_000);
        const results = await Promise.all([
          a.transition(request.id, {
            state: "expired",
            decidedAt: Date.now(),
            decision: false,
          }),
          b.transition(request.id, {
            state: "approved",
            decidedAt: Date.now(),
            approver: "bob",
            decision: true,
          }),
          b.transition(request.id, {
            state: "denied",
            decidedAt: Date.now(),
            approver: "carol",
            comment: "no",
            decision: true,
          }),
        ]);
        assertEquals(
          results.filter((r) => r.outcome === "changed").length,
          1,
        );
        const stored = await b.get(request.id);
        for (const result of results) {
          assert(result.outcome !== "not_found");
          assertEquals(result.request, stored);
        }
      }
    } finally {
      await a.close();
      await b.close();
    }
  },
});

Deno.test({
  name:
    "RedisApprovalStore fails with ApprovalStoreError naming the endpoint, never the password, when Redis is unreachable",
  ignore: skip !== null,
  fn: async () => {
    const port = freePort();
    const store = new RedisApprovalStore({
      host: "127.0.0.1",
      port,
      db: 0,
      tls: false,
      password: new Secret("Sup3r-Secret-Redis-Pw"),
      keyPrefix: randomKeyPrefix(),
      connectTimeoutMs: 500,
      commandTimeoutMs: 500,
    });
    try {
      const error = await assertRejects(
        () => store.create(pendingRequest(), 60_000),
        ApprovalStoreError,
      );
      assertStringIncludes(error.message, `redis://127.0.0.1:${port}/0`);
      assert(!error.message.includes("Sup3r-Secret-Redis-Pw"));
    } finally {
      await store.close();
    }
  },
});
