/**
 * The handle vault's rules, run against both stores (in-memory and Redis) so
 * that they behave the same; clock-exact cases use the memory store's fake
 * clock only.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
} from "../support/assert.ts";
import { eventually } from "../support/eventually.ts";
import {
  HandleError,
  handleIdOf,
  HandleVault,
} from "../../vault/handle_vault.ts";
import { Secret } from "../../vault/secret.ts";
import { ACCOUNT, AT_HOME, memoryVault, refusal, vaultTest } from "./_vault.ts";

vaultTest(
  "handleVault.issue() returns an unguessable secret:// handle and a 16-hex handle id",
  async (open) => {
    const { vault } = open();
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
  },
);

vaultTest(
  "handleVault.redeem() returns the secret once and then rejects a consumed handle",
  async (open) => {
    const { vault } = open();
    const { handle } = await vault.issue(ACCOUNT);
    const redeemed = await vault.redeem(handle, AT_HOME);
    assertEquals(redeemed.secret.reveal(), "S3cr3t-value-for-tests");
    assertEquals(redeemed.username, "root");
    const error = await refusal(vault, handle, {
      says: "Handle already consumed",
    });
    assertEquals(error.reason, "already_consumed");
    assertEquals(error.handleId, handleIdOf(handle));
  },
);

vaultTest(
  "handleVault.redeem() gives exactly one success among 200 concurrent redemptions",
  async (open) => {
    const { vault } = open();
    const { handle } = await vault.issue(ACCOUNT);
    const results = await Promise.allSettled(
      Array.from(
        { length: 200 },
        () => vault.redeem(handle, AT_HOME),
      ),
    );
    const ok = results.filter((r) => r.status === "fulfilled");
    const consumed = results.filter((r) =>
      r.status === "rejected" && r.reason instanceof HandleError &&
      r.reason.reason === "already_consumed"
    );
    assertEquals(ok.length, 1);
    assertEquals(consumed.length, 199);
  },
);

Deno.test("handleVault.redeem() rejects an expired handle on the monotonic clock [memory store, fake clock]", async () => {
  const { vault, clock } = memoryVault({ ttlSeconds: 60 });
  const { handle } = await vault.issue(ACCOUNT);
  clock.advance(59_999);
  const { handle: second } = await vault.issue(ACCOUNT);
  assertEquals(
    (await vault.redeem(handle, AT_HOME)).username,
    "root",
  );
  clock.advance(60_000);
  const error = await refusal(vault, second, { says: "Handle expired" });
  assertEquals(error.reason, "expired");
  await vault.close();
});

vaultTest("handleVault.redeem() rejects an expired handle", async (open) => {
  // The tombstone outlives the secret by a minute, so there is no window to
  // miss; Redis only has to get round to the expiry.
  const { vault, elapse } = open({ ttlSeconds: 0.3 });
  const { handle } = await vault.issue(ACCOUNT);
  await elapse(300);
  // Wait without redeeming: a redemption before the expiry would consume it.
  await eventually(async () => {
    assertEquals(await vault.size(), 0);
  }, { timeoutMs: 30_000 });
  const error = await refusal(vault, handle, { says: "Handle expired" });
  assertEquals(error.reason, "expired");
});

vaultTest(
  "handleVault drops an expired secret and later forgets the handle entirely",
  async (open) => {
    const ttlMs = 300;
    const tombstoneMs = 1_500;
    const { vault, elapse } = open({ ttlSeconds: ttlMs / 1000, tombstoneMs });
    const issuedAt = performance.now();
    const { handle } = await vault.issue(ACCOUNT);
    assertEquals(await vault.size(), 1);
    await elapse(ttlMs);
    await eventually(async () => {
      // First, so that no redemption runs (and consumes) before the expiry.
      assertEquals(await vault.size(), 0);
      const error = await refusal(vault, handle);
      if (error.reason === "expired") return;
      // Against Redis, a machine too slow to look within the tombstone time
      // finds the handle forgotten already; that is wrong only before then.
      assertEquals(error.reason, "unknown");
      assert(
        performance.now() - issuedAt >= ttlMs + tombstoneMs,
        "the handle was forgotten before its tombstone time",
      );
    }, { timeoutMs: 30_000 });
    await elapse(tombstoneMs);
    await eventually(async () => {
      await refusal(vault, handle, { says: "Unknown handle" });
    }, { timeoutMs: ttlMs + tombstoneMs + 30_000 });
  },
);

vaultTest(
  "handleVault.redeem() rejects unknown and malformed handles",
  async (open) => {
    const { vault } = open();
    await refusal(vault, `secret://${"A".repeat(43)}`, {
      host: "x",
      says: "Unknown handle",
    });
    for (
      const bad of [
        "",
        "secret://",
        "secret://abc",
        "http://x",
        `secret://${"A".repeat(42)}!`,
      ]
    ) {
      const error = await refusal(vault, bad, {
        host: "x",
        says: "Unknown handle",
      });
      assertEquals(error.handleId, "");
    }
  },
);

vaultTest(
  "handleVault.redeem() keeps a reusable handle when HANDLE_SINGLE_USE is false",
  async (open) => {
    const { vault } = open({ singleUse: false });
    const { handle, singleUse } = await vault.issue(ACCOUNT);
    assertEquals(singleUse, false);
    for (let i = 0; i < 3; i++) {
      assertEquals(
        (await vault.redeem(handle, AT_HOME)).username,
        "root",
      );
    }
  },
);

vaultTest(
  "handleVault.redeem() refuses another host without consuming the handle",
  async (open) => {
    const { vault } = open();
    const { handle } = await vault.issue(ACCOUNT);
    const error = await refusal(vault, handle, {
      host: "evil.example",
      says: 'the credential belongs to "server01.internal"',
    });
    assertEquals(error.reason, "host_mismatch");
    assertEquals(
      (await vault.redeem(handle, { ...AT_HOME, host: "SERVER01.internal." }))
        .username,
      "root",
    );
  },
);

vaultTest(
  "handleVault.redeem() refuses any host when the account has no Address",
  async (open) => {
    const { vault } = open();
    const { handle } = await vault.issue({ ...ACCOUNT, address: "" });
    await refusal(vault, handle, { says: "has no Address" });
  },
);

vaultTest(
  "handleVault.redeem() allows any host when host binding is off",
  async (open) => {
    const { vault } = open({ hostBinding: false });
    const { handle } = await vault.issue(ACCOUNT);
    assertEquals(
      (await vault.redeem(handle, { ...AT_HOME, host: "other.example" }))
        .username,
      "root",
    );
  },
);

Deno.test("handleVault.issue() records whether the secret is a password or a private key", async () => {
  const vault = new HandleVault({
    ttlSeconds: 60,
    singleUse: true,
    hostBinding: false,
  });
  try {
    const key =
      `-----BEGIN OPENSSH ${"PRIVATE"} KEY-----\nAAAA\n-----END OPENSSH ${"PRIVATE"} KEY-----\n`;
    const a = await vault.issue({ ...ACCOUNT, secret: new Secret(key) });
    const b = await vault.issue(ACCOUNT);
    assertEquals(
      (await vault.redeem(a.handle, { ...AT_HOME, host: "x" })).secretKind,
      "private_key",
    );
    assertEquals(
      (await vault.redeem(b.handle, { ...AT_HOME, host: "x" })).secretKind,
      "password",
    );
  } finally {
    await vault.close();
  }
});
