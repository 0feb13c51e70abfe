/**
 * Reserving a handle for a call that waits for a second person's approval:
 * the store operations (reserve, claim, release) and the vault's
 * HandleReservation, on both stores (memory on a fake clock, and the real
 * Redis); clock-exact cases use the memory store's fake clock only.
 *
 * Against Redis, "the original TTL has passed" is observed, never timed: a
 * twin handle issued right after the reserved one with the same TTL, and
 * never reserved, reads `expired` only once the reserved one's original
 * expiry is behind it too.
 */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../support/assert.ts";
import { eventually } from "../support/eventually.ts";
import {
  deleteKeysUnder,
  keysUnder,
  randomKeyPrefix,
  rawRedis,
} from "../support/redis.ts";
import type {
  HandleEntry,
  HandleKeys,
  HandleStore,
} from "../../vault/handle_store.ts";
import { HandleStoreError } from "../../vault/handle_store_error.ts";
import { HandleError, HandleVault } from "../../vault/handle_vault.ts";
import { MemoryHandleStore } from "../../vault/memory_handle_store.ts";
import { Secret } from "../../vault/secret.ts";
import { sharedRedisStore } from "./_redis.ts";
import {
  ACCOUNT,
  AT_HOME,
  fakeClock,
  memoryVault,
  redisSkip,
  refusal,
  targetOf,
  vaultTest,
} from "./_vault.ts";

const SECRET = "S3cr3t-value-for-tests";
const HOLD_MS = 60_000;
/**
 * The TTL of handles whose original expiry a test lets pass while they are
 * held; long enough for the reserve that follows the issue to come first.
 */
const SHORT_TTL_MS = 1_000;
const REASON = "Patch Apache on server01 (change CHG-4711), reason-unique-text";

/** What refuses `fn` with a HandleError, and its reason. */
async function refusedAs(fn: () => Promise<unknown>): Promise<string> {
  return (await assertRejects(fn, HandleError)).reason;
}

/** Waits until `twin` (issued with the same TTL after the reserved handle) has expired. */
async function untilExpired(vault: HandleVault, twin: string): Promise<void> {
  await eventually(async () => {
    assertEquals(await refusedAs(() => vault.check(twin, AT_HOME)), "expired");
  }, { timeoutMs: 30_000 });
}

// ---------------------------------------------------------------------------
// The vault: HandleVault.reserve() and HandleReservation, on both stores.

vaultTest(
  "handleVault.reserve() holds the handle: another redemption or check is refused as reserved and consumes nothing",
  async (open) => {
    const { vault } = open();
    const { handle, handleId } = await vault.issue(ACCOUNT);
    const held = await vault.reserve(handle, AT_HOME, HOLD_MS);
    assertEquals(held.handleId, handleId);
    for (const attempt of ["redeem", "check", "reserve"] as const) {
      const error = await assertRejects(
        () =>
          attempt === "redeem"
            ? vault.redeem(handle, AT_HOME)
            : attempt === "check"
            ? vault.check(handle, AT_HOME)
            : vault.reserve(handle, AT_HOME, HOLD_MS),
        HandleError,
        "Handle reserved: a call that uses it is waiting for a second person's approval; wait for that call to finish, or call get_credential again for another operation",
      );
      assertEquals(error.reason, "reserved");
      assertEquals(error.handleId, handleId);
    }
    // The reservation is intact: the call that holds it still gets the secret.
    const redeemed = await held.claim();
    assertEquals(redeemed.secret.reveal(), SECRET);
    assertEquals(redeemed.handleId, handleId);
    assertEquals(
      await refusal(vault, handle).then((e) => e.reason),
      "already_consumed",
    );
  },
);

vaultTest(
  "handleVault.reserve() gives exactly one reservation among 50 concurrent reserves",
  async (open) => {
    const { vault } = open();
    const { handle } = await vault.issue(ACCOUNT);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () => vault.reserve(handle, AT_HOME, HOLD_MS)),
    );
    const held = results.flatMap((r) =>
      r.status === "fulfilled" ? [r.value] : []
    );
    const reasons = results.flatMap((r) =>
      r.status === "rejected" ? [(r.reason as HandleError).reason] : []
    );
    assertEquals(held.length, 1);
    assertEquals(reasons, Array.from({ length: 49 }, () => "reserved"));
    assertEquals((await held[0]!.claim()).secret.reveal(), SECRET);
  },
);

vaultTest(
  "handleReservation.claim() returns the secret after the handle's original TTL has passed while it was held",
  async (open) => {
    const { vault, elapse } = open({ ttlSeconds: SHORT_TTL_MS / 1000 });
    const { handle } = await vault.issue(ACCOUNT);
    const held = await vault.reserve(handle, AT_HOME, HOLD_MS);
    const { handle: twin } = await vault.issue(ACCOUNT);
    await elapse(SHORT_TTL_MS);
    await untilExpired(vault, twin);
    // Still held, not expired, for everyone else.
    assertEquals(
      await refusedAs(() => vault.check(handle, AT_HOME)),
      "reserved",
    );
    assertEquals((await held.claim()).secret.reveal(), SECRET);
    assertEquals(
      await refusedAs(() => vault.redeem(handle, AT_HOME)),
      "already_consumed",
    );
  },
);

vaultTest(
  "handleReservation.claim() works once: a second claim is refused and the single-use handle stays consumed",
  async (open) => {
    const { vault } = open();
    const { handle } = await vault.issue(ACCOUNT);
    const held = await vault.reserve(handle, AT_HOME, HOLD_MS);
    await held.claim();
    await assertRejects(() => held.claim(), TypeError, "claimed already");
    assertEquals(
      await refusedAs(() => vault.redeem(handle, AT_HOME)),
      "already_consumed",
    );
    assertEquals(
      await refusedAs(() => vault.reserve(handle, AT_HOME, HOLD_MS)),
      "already_consumed",
    );
  },
);

vaultTest(
  "handleReservation.release() gives the handle back: its owner can redeem it, and a claim after it is refused",
  async (open) => {
    const { vault } = open();
    const { handle } = await vault.issue(ACCOUNT);
    const held = await vault.reserve(handle, AT_HOME, HOLD_MS);
    await held.release();
    await held.release(); // idempotent
    await assertRejects(() => held.claim(), TypeError, "released already");
    assertEquals((await vault.check(handle, AT_HOME)).username, "root");
    // Another principal still may not use it.
    assertEquals(
      await refusedAs(() =>
        vault.redeem(handle, targetOf({ principal: "mallory" }))
      ),
      "principal_mismatch",
    );
    assertEquals((await vault.redeem(handle, AT_HOME)).secret.reveal(), SECRET);
  },
);

vaultTest(
  "handleReservation.release() after the original expiry leaves the handle expired",
  async (open) => {
    const { vault, elapse } = open({ ttlSeconds: SHORT_TTL_MS / 1000 });
    const { handle } = await vault.issue(ACCOUNT);
    const held = await vault.reserve(handle, AT_HOME, HOLD_MS);
    const { handle: twin } = await vault.issue(ACCOUNT);
    await elapse(SHORT_TTL_MS);
    await untilExpired(vault, twin);
    await held.release();
    assertEquals(
      await refusedAs(() => vault.redeem(handle, AT_HOME)),
      "expired",
    );
    assertEquals(await vault.size(), 0, "no secret is kept after the release");
  },
);

vaultTest(
  "handleReservation.release() after a claim changes nothing",
  async (open) => {
    const { vault } = open();
    const { handle } = await vault.issue(ACCOUNT);
    const held = await vault.reserve(handle, AT_HOME, HOLD_MS);
    await held.claim();
    await held.release();
    assertEquals(
      await refusedAs(() => vault.redeem(handle, AT_HOME)),
      "already_consumed",
    );
  },
);

vaultTest(
  "handleVault.reserve() refuses another principal with principal_mismatch before anything is reserved",
  async (open) => {
    const { vault } = open();
    const { handle } = await vault.issue(ACCOUNT);
    const error = await assertRejects(
      () => vault.reserve(handle, targetOf({ principal: "mallory" }), HOLD_MS),
      HandleError,
      "fetched by another principal",
    );
    assertEquals(error.reason, "principal_mismatch");
    assertEquals(error.issuedTo, "alice");
    for (const refused of [{ host: "evil.example" }, { port: 2222 }]) {
      await assertRejects(
        () => vault.reserve(handle, targetOf(refused), HOLD_MS),
        HandleError,
      );
    }
    // Nothing was reserved: the owner reserves and claims it.
    const held = await vault.reserve(handle, AT_HOME, HOLD_MS);
    assertEquals((await held.claim()).secret.reveal(), SECRET);
  },
);

vaultTest(
  "handleVault.reserve() refuses a consumed, an unknown and a malformed handle as redeem() does",
  async (open) => {
    const { vault } = open();
    const { handle } = await vault.issue(ACCOUNT);
    await vault.redeem(handle, AT_HOME);
    assertEquals(
      await refusedAs(() => vault.reserve(handle, AT_HOME, HOLD_MS)),
      "already_consumed",
    );
    assertEquals(
      await refusedAs(() =>
        vault.reserve(`secret://${"A".repeat(43)}`, AT_HOME, HOLD_MS)
      ),
      "unknown",
    );
    assertEquals(
      await refusedAs(() => vault.reserve("secret://abc", AT_HOME, HOLD_MS)),
      "unknown",
    );
    const { handle: fresh } = await vault.issue(ACCOUNT);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await assertRejects(() => vault.reserve(fresh, AT_HOME, bad), RangeError);
    }
    assertEquals((await vault.check(fresh, AT_HOME)).username, "root");
  },
);

vaultTest(
  "a reusable handle is live again after its reservation is claimed, and can be reserved again",
  async (open) => {
    const { vault } = open({ singleUse: false });
    const { handle } = await vault.issue(ACCOUNT);
    const first = await vault.reserve(handle, AT_HOME, HOLD_MS);
    assertEquals(
      await refusedAs(() => vault.redeem(handle, AT_HOME)),
      "reserved",
    );
    assertEquals((await first.claim()).secret.reveal(), SECRET);
    await first.release(); // a no-op after the claim: the handle is not released twice
    assertEquals((await vault.redeem(handle, AT_HOME)).secret.reveal(), SECRET);
    const second = await vault.reserve(handle, AT_HOME, HOLD_MS);
    assertEquals((await second.claim()).singleUse, false);
    assertEquals((await vault.redeem(handle, AT_HOME)).username, "root");
  },
);

vaultTest(
  "handleVault.check() returns the user name and the reason given to get_credential (through Redis too)",
  async (open) => {
    const { vault } = open();
    const withReason = await vault.issue({ ...ACCOUNT, reason: REASON });
    const without = await vault.issue(ACCOUNT);
    const empty = await vault.issue({ ...ACCOUNT, reason: "" });
    const undefinedReason = await vault.issue({
      ...ACCOUNT,
      reason: undefined,
    });
    const facts = await vault.check(withReason.handle, AT_HOME);
    assertEquals(facts.username, "root");
    assertEquals(facts.reason, REASON);
    for (const { handle } of [without, empty, undefinedReason]) {
      const none = await vault.check(handle, AT_HOME);
      assertEquals(none.username, "root");
      assert(!("reason" in none), "no reason where none was given");
    }
    assertEquals(
      (await vault.redeem(withReason.handle, AT_HOME)).reason,
      REASON,
    );
    // A held handle keeps it: the claim returns it.
    const held = await vault.reserve(without.handle, AT_HOME, HOLD_MS);
    assert(!("reason" in await held.claim()));
  },
);

// ---------------------------------------------------------------------------
// The vault on the memory store's fake clock: exact times.

Deno.test("handleVault.reserve() keeps a handle past its TTL until the hold ends, then it is expired [memory store, fake clock]", async () => {
  const { vault, clock, store } = memoryVault({ ttlSeconds: 60 });
  try {
    const { handle } = await vault.issue(ACCOUNT);
    clock.advance(10_000);
    const held = await vault.reserve(handle, AT_HOME, 120_000);
    clock.advance(119_999);
    store.sweep();
    assertEquals(await vault.size(), 1);
    assertEquals(
      await refusedAs(() => vault.check(handle, AT_HOME)),
      "reserved",
    );
    clock.advance(1);
    // The hold ran out with neither a claim nor a release: fail closed.
    assertEquals(
      await refusedAs(() => vault.check(handle, AT_HOME)),
      "expired",
    );
    assertEquals(await refusedAs(() => held.claim()), "expired");
    await held.release();
    assertEquals(
      await refusedAs(() => vault.redeem(handle, AT_HOME)),
      "expired",
    );
    assertEquals(await vault.size(), 0);
  } finally {
    await vault.close();
  }
});

Deno.test("handleReservation.release() gives back exactly the time that was left of the TTL [memory store, fake clock]", async () => {
  const { vault, clock } = memoryVault({ ttlSeconds: 60 });
  try {
    const { handle } = await vault.issue(ACCOUNT);
    const { handle: other } = await vault.issue(ACCOUNT);
    clock.advance(20_000);
    const held = await vault.reserve(handle, AT_HOME, HOLD_MS);
    const heldToo = await vault.reserve(other, AT_HOME, HOLD_MS);
    clock.advance(39_999);
    await held.release();
    assertEquals((await vault.check(handle, AT_HOME)).username, "root");
    clock.advance(1);
    assertEquals(
      await refusedAs(() => vault.redeem(handle, AT_HOME)),
      "expired",
    );
    // Released at the original expiry: expired at once.
    await heldToo.release();
    assertEquals(
      await refusedAs(() => vault.redeem(other, AT_HOME)),
      "expired",
    );
  } finally {
    await vault.close();
  }
});

Deno.test("a hold shorter than what is left of the TTL does not shorten it [memory store, fake clock]", async () => {
  const { vault, clock } = memoryVault({ ttlSeconds: 60 });
  try {
    const { handle } = await vault.issue(ACCOUNT);
    const held = await vault.reserve(handle, AT_HOME, 1_000);
    clock.advance(59_999);
    assertEquals((await held.claim()).secret.reveal(), SECRET);
  } finally {
    await vault.close();
  }
});

// ---------------------------------------------------------------------------
// The stores themselves: reserve, claim and release, on both.

const ENTRY: HandleEntry = {
  secret: new Secret(SECRET),
  username: "root",
  address: "server01.internal",
  safe: "PROD-LINUX",
  objectName: "linux-root",
  folder: "Root",
  properties: { PolicyID: "UnixSSH" },
  singleUse: true,
  secretKind: "password",
  scope: { protocol: "ssh", ports: [22] },
  principal: "alice",
  reason: REASON,
};

const ID_A = "reservation-a-0123456789";
const ID_B = "reservation-b-0123456789";

function randomKeys(): HandleKeys {
  const hex = Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  return {
    storeKey: hex,
    encryptionKey: crypto.getRandomValues(new Uint8Array(32)),
  };
}

/** A store under test, and how to let its original TTLs pass. */
interface StoreHarness {
  store: HandleStore;
  /** The Redis key prefix (Redis only). */
  prefix?: string;
  /**
   * Lets `ms` pass: the memory store's fake clock; for Redis, waits until
   * `twin` (put with the same TTL after the entry) reads expired.
   */
  pass(ms: number, twin: HandleKeys): Promise<void>;
}

/** Registers one test per store. */
function storeTest(
  name: string,
  fn: (harness: StoreHarness) => Promise<void>,
): void {
  Deno.test({
    name: `${name} [memory store]`,
    fn: async () => {
      const clock = fakeClock();
      const store = new MemoryHandleStore({
        now: clock.now,
        sweepIntervalMs: 0,
        tombstoneMs: 60_000,
      });
      try {
        await fn({
          store,
          pass: (ms) => {
            clock.advance(ms);
            return Promise.resolve();
          },
        });
      } finally {
        await store.close();
      }
    },
  });
  Deno.test({
    name: `${name} [redis store]`,
    ignore: redisSkip !== null,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const prefix = randomKeyPrefix();
      const store = sharedRedisStore(prefix, { tombstoneMs: 60_000 });
      try {
        await fn({
          store,
          prefix,
          pass: async (_ms, twin) => {
            await eventually(async () => {
              assertEquals((await store.peek(twin)).status, "expired");
            }, { timeoutMs: 30_000 });
          },
        });
      } finally {
        await store.close();
        await deleteKeysUnder(prefix);
      }
    },
  });
}

storeTest(
  "store.reserve() makes peek() and take() answer reserved without consuming, and claim() returns the entry once",
  async ({ store }) => {
    const keys = randomKeys();
    await store.put(keys, ENTRY, 60_000);
    const reserved = await store.reserve(keys, ID_A, HOLD_MS);
    assert(reserved.status === "live");
    assertEquals(reserved.entry.secret.reveal(), SECRET);
    assertEquals((await store.peek(keys)).status, "reserved");
    assertEquals((await store.take(keys)).status, "reserved");
    assertEquals((await store.reserve(keys, ID_B, HOLD_MS)).status, "reserved");
    assertEquals(
      await store.size(),
      1,
      "a reserved entry still holds its secret",
    );
    const claimed = await store.claim(keys, ID_A);
    assert(claimed.status === "live");
    assertEquals(claimed.entry.reason, REASON);
    assertEquals((await store.claim(keys, ID_A)).status, "consumed");
    assertEquals(await store.release(keys, ID_A), "consumed");
    assertEquals((await store.peek(keys)).status, "consumed");
    assertEquals(await store.size(), 0);
  },
);

storeTest(
  "store.claim() and store.release() with another reservation id are refused as reserved and change nothing",
  async ({ store }) => {
    const keys = randomKeys();
    await store.put(keys, ENTRY, 60_000);
    await store.reserve(keys, ID_A, HOLD_MS);
    assertEquals((await store.claim(keys, ID_B)).status, "reserved");
    assertEquals(await store.release(keys, ID_B), "reserved");
    assertEquals((await store.peek(keys)).status, "reserved");
    assertEquals((await store.claim(keys, ID_A)).status, "live");
  },
);

storeTest(
  "store.release() puts the entry back to live, and claim() or release() of an entry nobody holds changes nothing",
  async ({ store }) => {
    const keys = randomKeys();
    await store.put(keys, ENTRY, 60_000);
    await store.reserve(keys, ID_A, HOLD_MS);
    assertEquals(await store.release(keys, ID_A), "live");
    assertEquals(await store.release(keys, ID_A), "not_reserved");
    assertEquals((await store.claim(keys, ID_A)).status, "not_reserved");
    assertEquals((await store.peek(keys)).status, "live");
    assertEquals((await store.take(keys)).status, "live");
    assertEquals((await store.take(keys)).status, "consumed");
    const unknown = randomKeys();
    assertEquals(
      (await store.reserve(unknown, ID_A, HOLD_MS)).status,
      "unknown",
    );
    assertEquals((await store.claim(unknown, ID_A)).status, "unknown");
    assertEquals(await store.release(unknown, ID_A), "unknown");
  },
);

storeTest(
  "store.claim() works after the original TTL, and store.release() then leaves the entry expired",
  async ({ store, pass }) => {
    const claimed = randomKeys();
    const released = randomKeys();
    const twin = randomKeys();
    await store.put(claimed, ENTRY, SHORT_TTL_MS);
    await store.reserve(claimed, ID_A, HOLD_MS);
    await store.put(released, ENTRY, SHORT_TTL_MS);
    await store.reserve(released, ID_B, HOLD_MS);
    await store.put(twin, ENTRY, SHORT_TTL_MS);
    await pass(SHORT_TTL_MS, twin);
    assertEquals((await store.peek(claimed)).status, "reserved");
    const result = await store.claim(claimed, ID_A);
    assert(result.status === "live");
    assertEquals(result.entry.secret.reveal(), SECRET);
    assertEquals(await store.release(released, ID_B), "expired");
    assertEquals((await store.peek(released)).status, "expired");
    assertEquals(await store.size(), 0);
  },
);

storeTest(
  "store.claim() of a reusable entry puts it back to live with its original expiry",
  async ({ store, pass }) => {
    const keys = randomKeys();
    const late = randomKeys();
    const twin = randomKeys();
    const reusable = { ...ENTRY, singleUse: false };
    await store.put(keys, reusable, 60_000);
    await store.reserve(keys, ID_A, HOLD_MS);
    assertEquals((await store.claim(keys, ID_A)).status, "live");
    assertEquals((await store.peek(keys)).status, "live");
    assertEquals((await store.take(keys)).status, "live");
    // Claimed after its original expiry: returned, then expired.
    await store.put(late, reusable, SHORT_TTL_MS);
    await store.reserve(late, ID_B, HOLD_MS);
    await store.put(twin, reusable, SHORT_TTL_MS);
    await pass(SHORT_TTL_MS, twin);
    assertEquals((await store.claim(late, ID_B)).status, "live");
    assertEquals((await store.peek(late)).status, "expired");
  },
);

storeTest(
  "store.reserve() refuses a malformed reservation id or hold",
  async ({ store }) => {
    const keys = randomKeys();
    await store.put(keys, ENTRY, 60_000);
    for (
      const [id, hold] of [["short", HOLD_MS], [ID_A, 0], [ID_A, 1.5], [
        "has space 0123456789",
        HOLD_MS,
      ]] as const
    ) {
      await assertRejects(() => store.reserve(keys, id, hold), RangeError);
    }
    await assertRejects(() => store.claim(keys, "short"), RangeError);
    assertEquals((await store.peek(keys)).status, "live");
  },
);

// ---------------------------------------------------------------------------
// Redis only: what the keys look like.

Deno.test({
  name:
    "redisHandleStore keeps the reason sealed and leaves no reservation key after a claim or release",
  ignore: redisSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const prefix = randomKeyPrefix();
    const store = sharedRedisStore(prefix);
    const raw = rawRedis();
    try {
      const claimed = randomKeys();
      const released = randomKeys();
      await store.put(claimed, ENTRY, 60_000);
      await store.put(released, ENTRY, 60_000);
      await store.reserve(claimed, ID_A, 2 * HOLD_MS);
      await store.reserve(released, ID_B, 2 * HOLD_MS);
      const keys = await keysUnder(prefix);
      assertEquals(keys.filter((k) => k.endsWith(":expiry")).length, 2);
      for (const key of keys) {
        const value = (await raw.get(key)) ?? "";
        assert(
          !value.includes("reason-unique-text"),
          `${key} holds the reason`,
        );
        assert(!value.includes(SECRET), `${key} holds the secret`);
      }
      // The hold extends the entry's TTL; what was left of it is kept aside.
      const entryKey = `${prefix}{${claimed.storeKey}}`;
      assert((await raw.pttl(entryKey)) > 60_000);
      assert((await raw.pttl(`${entryKey}:expiry`)) <= 60_000);
      await store.claim(claimed, ID_A);
      assertEquals(await store.release(released, ID_B), "live");
      assertEquals(
        (await keysUnder(prefix)).filter((k) => k.endsWith(":expiry")),
        [],
      );
      const back = `${prefix}{${released.storeKey}}`;
      const left = await raw.pttl(back);
      assert(left > 0 && left <= 60_000, `TTL ${left} is not the original`);
      assertStringIncludes(
        (await raw.get(`${back}:state`)) ?? "",
        "issued",
      );
    } finally {
      raw.disconnect();
      await store.close();
      await deleteKeysUnder(prefix);
    }
  },
});

Deno.test("handleReservation.release() does not reject when the store fails; the handle stays held [memory store]", async () => {
  const memory = new MemoryHandleStore({ sweepIntervalMs: 0 });
  const failing: HandleStore = {
    put: (keys, entry, ttlMs) => memory.put(keys, entry, ttlMs),
    peek: (keys) => memory.peek(keys),
    take: (keys) => memory.take(keys),
    reserve: (keys, id, holdMs) => memory.reserve(keys, id, holdMs),
    claim: (keys, id) => memory.claim(keys, id),
    release: () =>
      Promise.reject(
        new HandleStoreError("unavailable", "Handle store unavailable"),
      ),
    size: () => memory.size(),
    close: () => memory.close(),
  };
  const vault = new HandleVault({
    ttlSeconds: 60,
    singleUse: true,
    hostBinding: true,
    store: failing,
  });
  try {
    const { handle } = await vault.issue(ACCOUNT);
    const held = await vault.reserve(handle, AT_HOME, HOLD_MS);
    await held.release();
    assertEquals(
      await refusedAs(() => vault.redeem(handle, AT_HOME)),
      "reserved",
    );
  } finally {
    await vault.close();
  }
});
