/**
 * What every approval store must do, run against the memory store and the
 * Redis store by their test files, and the requests the approvals tests use.
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { eventually } from "../../support/eventually.ts";
import type {
  ApprovalRequest,
  ApprovalSubject,
} from "../../../gateway/approvals/approval.ts";
import type {
  ApprovalStore,
  ApprovalStoreEvent,
} from "../../../gateway/approvals/approval_store.ts";
import { newRequestId } from "../../../gateway/approvals/broker.ts";

/** A subject with every field, including text a page must show as text. */
export const SUBJECT: ApprovalSubject = {
  principal: "alice",
  clientIp: "127.0.0.1",
  tool: "ssh_execute",
  host: "web01.example.internal",
  port: 22,
  safe: "PROD-LINUX",
  object: "web01-root",
  username: "root",
  command: 'apt-get install -y apache2 && echo "<script>x</script>"',
  rule: "prod-changes",
  reason: "patch Apache",
  handleId: "0123456789abcdef",
};

/** A pending request for `subject`, created now, expiring after `ttlMs`. */
export function pendingRequest(
  ttlMs = 60_000,
  subject: ApprovalSubject = SUBJECT,
): ApprovalRequest {
  const now = Date.now();
  return {
    ...subject,
    id: newRequestId(),
    state: "pending",
    createdAt: now,
    expiresAt: now + ttlMs,
  };
}

/** Registers the store contract's tests; `open` makes a fresh store (an empty namespace). */
export function storeContract(
  name: string,
  open: () => Promise<ApprovalStore>,
  ignore: boolean,
): void {
  const test = (title: string, fn: (store: ApprovalStore) => Promise<void>) =>
    Deno.test({
      name: `${name}${title}`,
      ignore,
      fn: async () => {
        const store = await open();
        try {
          await fn(store);
        } finally {
          await store.close();
        }
      },
    });

  test(" stores a pending request and gives it back whole", async (store) => {
    const request = pendingRequest();
    await store.create(request, 60_000);
    assertEquals(await store.get(request.id), request);
    assertEquals(await store.get(newRequestId()), undefined);
    assertEquals(await store.get("not-an-id"), undefined);
  });

  test(".list() gives requests newest first", async (store) => {
    const older = { ...pendingRequest(), createdAt: Date.now() - 1000 };
    const newer = pendingRequest();
    await store.create(older, 60_000);
    await store.create(newer, 60_000);
    assertEquals((await store.list()).map((r) => r.id), [newer.id, older.id]);
  });

  test(".transition() decides a pending request once; later ones learn what won", async (store) => {
    const request = pendingRequest();
    await store.create(request, 60_000);
    const decidedAt = Date.now();
    const first = await store.transition(request.id, {
      state: "approved",
      decidedAt,
      approver: "bob",
      comment: "go",
      decision: true,
    });
    assertEquals(first, {
      outcome: "changed",
      request: {
        ...request,
        state: "approved",
        decidedAt,
        approver: "bob",
        comment: "go",
      },
    });
    const second = await store.transition(request.id, {
      state: "expired",
      decidedAt: Date.now(),
      decision: false,
    });
    assertEquals(second.outcome, "not_pending");
    assert(second.outcome === "not_pending");
    assertEquals(second.request.state, "approved");
    assertEquals(second.request.approver, "bob");
    assertEquals(
      await store.transition(newRequestId(), {
        state: "expired",
        decidedAt: Date.now(),
        decision: false,
      }),
      { outcome: "not_found" },
    );
  });

  test(".transition() expires instead of deciding past expiresAt", async (store) => {
    const request = pendingRequest(1000);
    await store.create(request, 60_000);
    const result = await store.transition(request.id, {
      state: "approved",
      decidedAt: request.expiresAt + 1,
      approver: "bob",
      decision: true,
    });
    assertEquals(result.outcome, "expired");
    assert(result.outcome === "expired");
    assertEquals(result.request.state, "expired");
    assertEquals(result.request.approver, undefined);
    assertEquals((await store.get(request.id))?.state, "expired");
  });

  test(".transition() expires instead of deciding when the waiter's lease has lapsed (its replica died)", async (store) => {
    const request = pendingRequest();
    await store.create(request, 1);
    // The lease (1 ms) has lapsed once a timer of 20 ms has run.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const result = await store.transition(request.id, {
      state: "approved",
      decidedAt: Date.now(),
      approver: "bob",
      decision: true,
    });
    assertEquals(result.outcome, "expired");
    assertEquals((await store.get(request.id))?.state, "expired");
  });

  test(".renew() extends a pending request's lease and reports its state", async (store) => {
    const request = pendingRequest();
    await store.create(request, 60_000);
    assertEquals(await store.renew(request.id, 60_000), "pending");
    await store.transition(request.id, {
      state: "denied",
      decidedAt: Date.now(),
      approver: "bob",
      comment: "no",
      decision: true,
    });
    assertEquals(await store.renew(request.id, 60_000), "denied");
    assertEquals(await store.renew(newRequestId(), 60_000), undefined);
  });

  test(" of concurrent decisions lets exactly one win", async (store) => {
    const request = pendingRequest();
    await store.create(request, 60_000);
    const results = await Promise.all(
      ["bob", "carol", "dave", "erin", "frank"].map((approver, i) =>
        store.transition(request.id, {
          state: i % 2 === 0 ? "approved" : "denied",
          decidedAt: Date.now(),
          approver,
          comment: "c",
          decision: true,
        })
      ),
    );
    const winners = results.filter((r) => r.outcome === "changed");
    assertEquals(winners.length, 1);
    assertEquals(
      results.filter((r) => r.outcome === "not_pending").length,
      4,
    );
    const stored = await store.get(request.id);
    assert(winners[0]!.outcome === "changed");
    assertEquals(stored, winners[0]!.request);
  });

  test(".onChange() hears of creations and changes with the id and state only", async (store) => {
    const events: ApprovalStoreEvent[] = [];
    const unsubscribe = store.onChange((event) => events.push(event));
    // A subscriber connection may still be subscribing.
    await eventually(async () => {
      const probe = pendingRequest();
      await store.create(probe, 60_000);
      await eventually(() => {
        assert(events.some((e) => e.id === probe.id), "probe seen");
      }, { timeoutMs: 500 });
    });
    const request = pendingRequest();
    await store.create(request, 60_000);
    await store.transition(request.id, {
      state: "denied",
      decidedAt: Date.now(),
      approver: "bob",
      comment: "no",
      decision: true,
    });
    await eventually(() =>
      assertEquals(events.filter((e) => e.id === request.id), [
        { id: request.id, state: "pending" },
        { id: request.id, state: "denied" },
      ])
    );
    unsubscribe();
  });
}
