import { assertEquals } from "../../support/assert.ts";
import { MemoryApprovalStore } from "../../../gateway/approvals/memory_approval_store.ts";
import { pendingRequest, storeContract } from "./_store_contract.ts";

storeContract(
  "MemoryApprovalStore",
  () => Promise.resolve(new MemoryApprovalStore()),
  false,
);

Deno.test("MemoryApprovalStore keeps every pending request and only the newest decided ones over its cap", async () => {
  const store = new MemoryApprovalStore({ maxListed: 3 });
  const pending = pendingRequest();
  await store.create({ ...pending, createdAt: 1 }, 60_000);
  const decided: string[] = [];
  for (let i = 0; i < 4; i++) {
    const request = { ...pendingRequest(), createdAt: Date.now() + i };
    await store.create(request, 60_000);
    await store.transition(request.id, {
      state: "denied",
      decidedAt: Date.now(),
      approver: "bob",
      comment: "no",
      decision: true,
    });
    decided.push(request.id);
  }
  const listed = (await store.list()).map((r) => r.id);
  assertEquals(listed, [decided[3], decided[2], pending.id]);
  await store.close();
});

Deno.test("MemoryApprovalStore drops decided requests after the retention time", async () => {
  const store = new MemoryApprovalStore({ retentionMs: 1000 });
  const old = pendingRequest();
  await store.create(old, 60_000);
  await store.transition(old.id, {
    state: "approved",
    decidedAt: Date.now() - 5000,
    approver: "bob",
    decision: false,
  });
  const fresh = pendingRequest();
  await store.create(fresh, 60_000);
  assertEquals((await store.list()).map((r) => r.id), [fresh.id]);
  await store.close();
});
