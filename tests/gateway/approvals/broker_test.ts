/**
 * The broker on both stores: in memory, and on the shared Redis under a
 * random prefix per test (two brokers on one prefix play two replicas).
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "../../support/assert.ts";
import { eventually } from "../../support/eventually.ts";
import { captureLogLines } from "../../support/log_lines.ts";
import {
  announceRedisSkip,
  deleteKeysUnder,
  randomKeyPrefix,
  SHARED_REDIS,
} from "../../support/redis.ts";
import {
  type ApprovalBroker,
  ApprovalError,
  type ApprovalRequest,
} from "../../../gateway/approvals/approval.ts";
import type { ApprovalStore } from "../../../gateway/approvals/approval_store.ts";
import {
  type ApprovalBrokerOptions,
  createApprovalBroker,
} from "../../../gateway/approvals/broker.ts";
import { MemoryApprovalStore } from "../../../gateway/approvals/memory_approval_store.ts";
import { RedisApprovalStore } from "../../../gateway/approvals/redis_approval_store.ts";
import type {
  ApprovalNotifier,
  ApprovalWebhookEvent,
} from "../../../gateway/approvals/webhook.ts";
import { pendingRequest, SUBJECT } from "./_store_contract.ts";

const redisSkip = await announceRedisSkip();

/** How the tests open stores: every store of one test shares its namespace. */
interface StoreKind {
  readonly name: string;
  readonly ignore: boolean;
  /** A namespace for one test: stores opened from it see each other's requests. */
  namespace(): { open(): ApprovalStore; cleanUp(): Promise<void> };
}

const KINDS: readonly StoreKind[] = [
  {
    name: "memory",
    ignore: false,
    namespace: () => {
      // One process's memory: every broker of the test shares the one store.
      const shared = new MemoryApprovalStore();
      return {
        open: () => shared,
        cleanUp: () => Promise.resolve(),
      };
    },
  },
  {
    name: "redis",
    ignore: redisSkip !== null,
    namespace: () => {
      const keyPrefix = randomKeyPrefix();
      return {
        open: () =>
          new RedisApprovalStore({
            ...SHARED_REDIS,
            db: 0,
            tls: false,
            keyPrefix,
          }),
        cleanUp: () => deleteKeysUnder(keyPrefix),
      };
    },
  },
];

/** Notifications a broker sent, in order. */
class RecordingNotifier implements ApprovalNotifier {
  readonly sent: [ApprovalWebhookEvent, ApprovalRequest][] = [];
  notify(event: ApprovalWebhookEvent, request: ApprovalRequest): void {
    this.sent.push([event, request]);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

type Open = (options?: Partial<ApprovalBrokerOptions>) => ApprovalBroker;

/** Registers one test per store kind; `open` makes brokers on the test's namespace, closed after. */
function brokerTest(
  title: string,
  fn: (open: Open, kind: string) => Promise<void>,
  only?: string,
): void {
  for (const kind of KINDS) {
    if (only !== undefined && kind.name !== only) continue;
    Deno.test({
      name: `broker (${kind.name}): ${title}`,
      ignore: kind.ignore,
      fn: async () => {
        const namespace = kind.namespace();
        const brokers: ApprovalBroker[] = [];
        const open: Open = (options = {}) => {
          const broker = createApprovalBroker({
            timeoutSeconds: 60,
            store: namespace.open(),
            ...options,
          });
          brokers.push(broker);
          return broker;
        };
        try {
          await fn(open, kind.name);
        } finally {
          for (const broker of brokers) await broker.close();
          await namespace.cleanUp();
        }
      },
    });
  }
}

/** The id of the one pending request, once it shows. */
async function pendingId(broker: ApprovalBroker): Promise<string> {
  return await eventually(async () => {
    const pending = await broker.list({ state: "pending" });
    assertEquals(pending.length, 1);
    return pending[0]!.id;
  });
}

brokerTest(
  "an approval lets the waiting call go, naming the approver",
  async (open) => {
    const notifier = new RecordingNotifier();
    const broker = open({ notifier });
    const waiting = broker.requestApproval(SUBJECT);
    const id = await pendingId(broker);
    assertMatch(id, /^[A-Za-z0-9_-]{22}$/);
    const shown = await broker.get(id);
    assertEquals(shown?.principal, "alice");
    assertEquals(shown?.command, SUBJECT.command);
    const decided = await broker.decide(id, "bob", "approve", "");
    assertEquals(decided.state, "approved");
    assertEquals(await waiting, { state: "approved", id, approver: "bob" });
    assertEquals(notifier.sent.map(([event]) => event), [
      "approval_requested",
      "approval_granted",
    ]);
  },
);

brokerTest(
  "a denial ends the call with the approver's comment; a denial needs one",
  async (open) => {
    const broker = open();
    const waiting = broker.requestApproval(SUBJECT);
    const id = await pendingId(broker);
    const error = await assertRejects(
      () => broker.decide(id, "bob", "deny", "  "),
      ApprovalError,
    );
    assertEquals(error.reason, "invalid");
    assertStringIncludes(error.message, "without a comment");
    const long = await assertRejects(
      () => broker.decide(id, "bob", "approve", "x".repeat(1001)),
      ApprovalError,
    );
    assertEquals(long.reason, "invalid");
    await broker.decide(id, "bob", "deny", "not during business hours");
    assertEquals(await waiting, {
      state: "denied",
      id,
      approver: "bob",
      comment: "not during business hours",
    });
  },
);

brokerTest(
  "no decision in time fails closed: expired, audited, and no later approval",
  async (open) => {
    const notifier = new RecordingNotifier();
    const broker = open({ timeoutMs: 100, notifier });
    let id = "";
    const lines = await captureLogLines(async () => {
      const outcome = await broker.requestApproval(SUBJECT);
      id = outcome.id;
      assertEquals(outcome, { state: "expired", id });
    });
    assertEquals((await broker.get(id))?.state, "expired");
    const error = await assertRejects(
      () => broker.decide(id, "bob", "approve", ""),
      ApprovalError,
    );
    assertEquals(error.reason, "not_pending");
    assertStringIncludes(error.message, "expired");
    const events = lines.filter((l) => l.logger === "audit").map((l) =>
      l.event
    );
    assertEquals(events, ["approval_requested", "approval_expired"]);
    const expired = lines.find((l) => l.event === "approval_expired")!;
    assertEquals(expired.request_id, id);
    assertEquals(expired.reason, "timeout");
    assertEquals(expired.rule, "prod-changes");
    assertEquals(notifier.sent.map(([event]) => event), [
      "approval_requested",
      "approval_expired",
    ]);
  },
);

brokerTest("an approver cannot approve their own request", async (open) => {
  const broker = open();
  const waiting = broker.requestApproval(SUBJECT);
  const id = await pendingId(broker);
  for (const name of ["alice", "Alice"]) {
    const error = await assertRejects(
      () => broker.decide(id, name, "approve", "looks fine"),
      ApprovalError,
    );
    assertEquals(error.reason, "self_approval");
    assertEquals(
      error.message,
      "an approver cannot approve their own request; ask another approver",
    );
  }
  assertEquals((await broker.get(id))?.state, "pending");
  await broker.decide(id, "bob", "approve", "");
  assertEquals((await waiting).state, "approved");
});

brokerTest(
  "of concurrent decisions exactly one wins; the others are told it is not pending",
  async (open) => {
    const broker = open();
    const other = open();
    const waiting = broker.requestApproval(SUBJECT);
    const id = await pendingId(broker);
    const results = await Promise.allSettled(
      ["bob", "carol", "dave", "erin"].map((name, i) =>
        (i % 2 === 0 ? broker : other).decide(
          id,
          name,
          i < 2 ? "approve" : "deny",
          "because",
        )
      ),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    assertEquals(won.length, 1);
    for (const result of results) {
      if (result.status === "rejected") {
        assert(result.reason instanceof ApprovalError);
        assertEquals(result.reason.reason, "not_pending");
      }
    }
    const winner = (won[0] as PromiseFulfilledResult<ApprovalRequest>).value;
    const outcome = await waiting;
    assertEquals(outcome.state, winner.state);
    assertEquals(outcome.approver, winner.approver);
  },
);

brokerTest(
  "when an approval races the expiry, the waiter reports what the store says",
  async (open) => {
    const broker = open({ timeoutMs: 30 });
    for (let round = 0; round < 10; round++) {
      const waiting = broker.requestApproval(SUBJECT);
      const id = await eventually(async () => {
        const [first] = await broker.list();
        assert(first !== undefined && first.createdAt > 0);
        return first.id;
      });
      await new Promise((resolve) => setTimeout(resolve, 25));
      await broker.decide(id, "bob", "approve", "").catch(() => {});
      const outcome = await waiting;
      const stored = await broker.get(id);
      assertEquals(outcome.state, stored?.state);
      assert(outcome.state === "approved" || outcome.state === "expired");
    }
  },
);

brokerTest(
  "an aborted call (the client went away) expires its request at once",
  async (open) => {
    const broker = open();
    const controller = new AbortController();
    const waiting = broker.requestApproval(SUBJECT, {
      signal: controller.signal,
    });
    const id = await pendingId(broker);
    controller.abort();
    assertEquals(await waiting, { state: "expired", id });
    assertEquals((await broker.get(id))?.state, "expired");
    const error = await assertRejects(
      () => broker.decide(id, "bob", "approve", ""),
      ApprovalError,
    );
    assertEquals(error.reason, "not_pending");
  },
);

brokerTest(
  "the waiting call hears of its progress; a failing progress callback changes nothing",
  async (open) => {
    const broker = open({ progressIntervalMs: 10 });
    const calls: [number, number][] = [];
    const waiting = broker.requestApproval(SUBJECT, {
      onWaiting: (waited, timeout) => {
        calls.push([waited, timeout]);
        throw new Error("client gone");
      },
    });
    const id = await pendingId(broker);
    await eventually(() => assert(calls.length >= 2, `${calls.length} calls`));
    assertEquals(calls[0]![1], 60_000);
    assert(calls[1]![0] >= calls[0]![0]);
    await broker.decide(id, "bob", "approve", "");
    assertEquals((await waiting).state, "approved");
  },
);

brokerTest(
  "subscribe() sees each new request and each decision",
  async (open) => {
    const broker = open();
    const seen: [string, string][] = [];
    const unsubscribe = broker.subscribe((r) => seen.push([r.id, r.state]));
    const waiting = broker.requestApproval(SUBJECT);
    const id = await pendingId(broker);
    await eventually(() => assertEquals(seen, [[id, "pending"]]));
    await broker.decide(id, "bob", "deny", "no");
    await waiting;
    await eventually(() =>
      assertEquals(seen, [[id, "pending"], [id, "denied"]])
    );
    unsubscribe();
  },
);

brokerTest(
  "list() shows a pending request past its deadline as expired, newest first",
  async (open) => {
    const store = new MemoryApprovalStore();
    const broker = open({ store });
    const stale = {
      ...pendingRequest(),
      createdAt: Date.now() - 5000,
      expiresAt: Date.now() - 1000,
    };
    await store.create(stale, 60_000);
    const waiting = broker.requestApproval(SUBJECT);
    const id = await eventually(async () => {
      const [first] = await broker.list({ state: "pending" });
      assert(first !== undefined);
      return first.id;
    });
    const listed = await broker.list();
    assertEquals(listed.map((r) => [r.id, r.state]), [
      [id, "pending"],
      [stale.id, "expired"],
    ]);
    assertEquals((await broker.list({ state: "expired" })).length, 1);
    assertEquals((await broker.list({ limit: 1 })).length, 1);
    await broker.decide(id, "bob", "approve", "");
    await waiting;
  },
  "memory",
);

brokerTest(
  "audit lines name the request, principal, approver, tool, target, rule, account and handle id; the request line its command",
  async (open) => {
    const broker = open();
    let id = "";
    const lines = await captureLogLines(async () => {
      const waiting = broker.requestApproval(SUBJECT);
      id = await pendingId(broker);
      await broker.decide(id, "bob", "approve", "ok for the patch window");
      await waiting;
    });
    const granted = lines.find((l) => l.event === "approval_granted");
    assert(granted !== undefined);
    for (
      const [key, value] of Object.entries({
        request_id: id,
        principal: "alice",
        approver: "bob",
        tool: "ssh_execute",
        host: "web01.example.internal",
        port: 22,
        rule: "prod-changes",
        safe: "PROD-LINUX",
        object_name: "web01-root",
        handle_id: "0123456789abcdef",
        comment: "ok for the patch window",
      })
    ) {
      assertEquals(granted[key], value, key);
    }
    const requested = lines.find((l) => l.event === "approval_requested");
    assertEquals(requested?.command, SUBJECT.command);
  },
);

brokerTest(
  "a decision on replica B wakes the call waiting on replica A, and B sees A's new request",
  async (open) => {
    const a = open();
    const b = open();
    const seenOnB: string[] = [];
    b.subscribe((r) => seenOnB.push(`${r.id}:${r.state}`));
    // B's subscription may still be connecting: file requests until B hears one.
    let id = "";
    let waiting: Promise<unknown> = Promise.resolve();
    await eventually(async () => {
      const controller = new AbortController();
      waiting = a.requestApproval(SUBJECT, { signal: controller.signal });
      const [first] = await a.list({ state: "pending" });
      id = first!.id;
      try {
        await eventually(
          () => assert(seenOnB.includes(`${id}:pending`), "B saw it"),
          { timeoutMs: 1000 },
        );
      } catch (error) {
        controller.abort();
        await waiting;
        throw error;
      }
    });
    await b.decide(id, "bob", "approve", "");
    assertEquals(await waiting, { state: "approved", id, approver: "bob" });
  },
  "redis",
);

brokerTest(
  "a replica that stops never leaves an approvable request: its waiting call expires, another replica cannot approve it",
  async (open) => {
    const a = open();
    const b = open();
    const waiting = a.requestApproval(SUBJECT);
    const id = await pendingId(b);
    await a.close();
    assertEquals(await waiting, { state: "expired", id });
    const error = await assertRejects(
      () => b.decide(id, "bob", "approve", ""),
      ApprovalError,
    );
    assertEquals(error.reason, "not_pending");
    assertEquals((await b.get(id))?.state, "expired");
  },
  "redis",
);

brokerTest(
  "a replica that dies (no close, its lease lapses) never has its request approved: it expires",
  async (open) => {
    const keyPrefix = randomKeyPrefix();
    const dead = new RedisApprovalStore({
      ...SHARED_REDIS,
      db: 0,
      tls: false,
      keyPrefix,
    });
    const b = open({
      store: new RedisApprovalStore({
        ...SHARED_REDIS,
        db: 0,
        tls: false,
        keyPrefix,
      }),
    });
    try {
      // What replica A left behind when it died: a pending request whose lease nobody renews.
      const request = pendingRequest();
      await dead.create(request, 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const error = await assertRejects(
        () => b.decide(request.id, "bob", "approve", ""),
        ApprovalError,
      );
      assertEquals(error.reason, "not_pending");
      assertEquals((await b.get(request.id))?.state, "expired");
    } finally {
      await dead.close();
      await deleteKeysUnder(keyPrefix);
    }
  },
  "redis",
);

brokerTest("decide() refuses an unknown id", async (open) => {
  const broker = open();
  for (const id of ["AAAAAAAAAAAAAAAAAAAAAA", "../../etc"]) {
    const error = await assertRejects(
      () => broker.decide(id, "bob", "approve", ""),
      ApprovalError,
    );
    assertEquals(error.reason, "not_found");
  }
});
