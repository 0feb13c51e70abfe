import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertRejects,
} from "../support/assert.ts";
import {
  HandleError,
  handleIdOf,
  HandleVault,
} from "../../vault/handle_vault.ts";
import { MemoryHandleStore } from "../../vault/memory_handle_store.ts";
import { Secret } from "../../vault/secret.ts";

function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const ACCOUNT = {
  secret: new Secret("S3cr3t-value-for-tests"),
  username: "root",
  address: "server01.internal",
  safe: "PROD-LINUX",
  objectName: "linux-root",
  folder: "Root",
  properties: { PolicyID: "UnixSSH" },
};

function makeVault(
  options: { singleUse?: boolean; hostBinding?: boolean; ttlSeconds?: number } =
    {},
): { vault: HandleVault; clock: ReturnType<typeof fakeClock> } {
  const clock = fakeClock();
  const store = new MemoryHandleStore({
    now: clock.now,
    sweepIntervalMs: 0,
    tombstoneMs: 60_000,
  });
  const vault = new HandleVault({
    ttlSeconds: options.ttlSeconds ?? 300,
    singleUse: options.singleUse ?? true,
    hostBinding: options.hostBinding ?? true,
    store,
  });
  return { vault, clock };
}

Deno.test("handleVault.issue() returns an unguessable secret:// handle and a 16-hex handle id", async () => {
  const { vault } = makeVault();
  const a = await vault.issue(ACCOUNT);
  const b = await vault.issue(ACCOUNT);
  assertMatch(a.handle, /^secret:\/\/[A-Za-z0-9_-]{43}$/); // 43 base64url chars = 256 bits
  assertNotEquals(a.handle, b.handle);
  assertMatch(a.handleId, /^[0-9a-f]{16}$/);
  assertEquals(a.handleId, handleIdOf(a.handle));
  assert(
    !a.handle.includes(a.handleId),
    "the handle id is not part of the handle",
  );
  assertEquals(a.username, "root");
  assertEquals(a.address, "server01.internal");
  await vault.close();
});

Deno.test("handleVault.redeem() returns the secret once and then rejects a consumed handle", async () => {
  const { vault } = makeVault();
  const { handle } = await vault.issue(ACCOUNT);
  const redeemed = await vault.redeem(handle, { host: "server01.internal" });
  assertEquals(redeemed.secret.reveal(), "S3cr3t-value-for-tests");
  assertEquals(redeemed.username, "root");
  const error = await assertRejects(
    () => vault.redeem(handle, { host: "server01.internal" }),
    HandleError,
    "Handle already consumed",
  );
  assertEquals(error.reason, "already_consumed");
  assertEquals(error.handleId, handleIdOf(handle));
  await vault.close();
});

Deno.test("handleVault.redeem() gives exactly one success among 200 concurrent redemptions", async () => {
  const { vault } = makeVault();
  const { handle } = await vault.issue(ACCOUNT);
  const results = await Promise.allSettled(
    Array.from(
      { length: 200 },
      () => vault.redeem(handle, { host: "server01.internal" }),
    ),
  );
  const ok = results.filter((r) => r.status === "fulfilled");
  const consumed = results.filter((r) =>
    r.status === "rejected" && r.reason instanceof HandleError &&
    r.reason.reason === "already_consumed"
  );
  assertEquals(ok.length, 1);
  assertEquals(consumed.length, 199);
  await vault.close();
});

Deno.test("handleVault.redeem() rejects an expired handle on the monotonic clock", async () => {
  const { vault, clock } = makeVault({ ttlSeconds: 60 });
  const { handle } = await vault.issue(ACCOUNT);
  clock.advance(59_999);
  const { handle: second } = await vault.issue(ACCOUNT);
  assertEquals(
    (await vault.redeem(handle, { host: "server01.internal" })).username,
    "root",
  );
  clock.advance(60_000);
  const error = await assertRejects(
    () => vault.redeem(second, { host: "server01.internal" }),
    HandleError,
    "Handle expired",
  );
  assertEquals(error.reason, "expired");
  await vault.close();
});

Deno.test("handleVault drops an expired secret and later forgets the handle entirely", async () => {
  const clock = fakeClock();
  const store = new MemoryHandleStore({
    now: clock.now,
    sweepIntervalMs: 0,
    tombstoneMs: 1_000,
  });
  const vault = new HandleVault({
    ttlSeconds: 10,
    singleUse: true,
    hostBinding: true,
    store,
  });
  const { handle } = await vault.issue(ACCOUNT);
  assertEquals(await vault.size(), 1);
  clock.advance(10_000);
  store.sweep();
  assertEquals(await vault.size(), 0);
  await assertRejects(
    () => vault.redeem(handle, { host: "server01.internal" }),
    HandleError,
    "Handle expired",
  );
  clock.advance(1_000);
  store.sweep();
  await assertRejects(
    () => vault.redeem(handle, { host: "server01.internal" }),
    HandleError,
    "Unknown handle",
  );
  await vault.close();
});

Deno.test("handleVault.redeem() rejects unknown and malformed handles", async () => {
  const { vault } = makeVault();
  await assertRejects(
    () => vault.redeem(`secret://${"A".repeat(43)}`, { host: "x" }),
    HandleError,
    "Unknown handle",
  );
  for (
    const bad of [
      "",
      "secret://",
      "secret://abc",
      "http://x",
      `secret://${"A".repeat(42)}!`,
    ]
  ) {
    const error = await assertRejects(
      () => vault.redeem(bad, { host: "x" }),
      HandleError,
      "Unknown handle",
    );
    assertEquals(error.handleId, "");
  }
  await vault.close();
});

Deno.test("handleVault.redeem() keeps a reusable handle when HANDLE_SINGLE_USE is false", async () => {
  const { vault } = makeVault({ singleUse: false });
  const { handle, singleUse } = await vault.issue(ACCOUNT);
  assertEquals(singleUse, false);
  for (let i = 0; i < 3; i++) {
    assertEquals(
      (await vault.redeem(handle, { host: "server01.internal" })).username,
      "root",
    );
  }
  await vault.close();
});

Deno.test("handleVault.redeem() refuses another host without consuming the handle", async () => {
  const { vault } = makeVault();
  const { handle } = await vault.issue(ACCOUNT);
  const error = await assertRejects(
    () => vault.redeem(handle, { host: "evil.example" }),
    HandleError,
    'the credential belongs to "server01.internal"',
  );
  assertEquals(error.reason, "host_mismatch");
  assertEquals(
    (await vault.redeem(handle, { host: "SERVER01.internal." })).username,
    "root",
  );
  await vault.close();
});

Deno.test("handleVault.redeem() refuses any host when the account has no Address", async () => {
  const { vault } = makeVault();
  const { handle } = await vault.issue({ ...ACCOUNT, address: "" });
  await assertRejects(
    () => vault.redeem(handle, { host: "server01.internal" }),
    HandleError,
    "has no Address",
  );
  await vault.close();
});

Deno.test("handleVault.redeem() allows any host when host binding is off", async () => {
  const { vault } = makeVault({ hostBinding: false });
  const { handle } = await vault.issue(ACCOUNT);
  assertEquals(
    (await vault.redeem(handle, { host: "other.example" })).username,
    "root",
  );
  await vault.close();
});
