/**
 * A handle is bound to the principal that fetched it: another principal's
 * check or redemption is refused, consumes nothing and tells it nothing
 * about the account; run against both stores.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { MemoryHandleStore } from "../../vault/memory_handle_store.ts";
import { HandleVault } from "../../vault/handle_vault.ts";
import { Secret } from "../../vault/secret.ts";
import { ACCOUNT, AT_HOME, refusal, vaultTest } from "./_vault.ts";
import { assertRejects } from "../support/assert.ts";
import { HandleError } from "../../vault/handle_vault.ts";
import { createHash } from "node:crypto";

vaultTest(
  "handleVault.redeem() refuses a handle presented by another principal and keeps it for its owner",
  async (open) => {
    const { vault } = open();
    const { handle } = await vault.issue(ACCOUNT);
    for (let i = 0; i < 3; i++) {
      const error = await refusal(vault, handle, {
        principal: "mallory",
        says: "fetched by another principal",
      });
      assertEquals(error.reason, "principal_mismatch");
      assertEquals(error.issuedTo, "alice");
      // Nothing about the account: not its address, safe or object.
      for (const hidden of ["server01", "PROD-LINUX", "linux-root", "alice"]) {
        assert(!error.message.includes(hidden), error.message);
      }
    }
    assertEquals((await vault.redeem(handle, AT_HOME)).username, "root");
  },
);

vaultTest(
  "handleVault.check() refuses another principal before the host and the scope, and returns the handle's account to its owner",
  async (open) => {
    const { vault } = open();
    const { handle, handleId } = await vault.issue(ACCOUNT);
    // Wrong host AND wrong principal: the principal is what is reported.
    const error = await assertRejects(
      () =>
        vault.check(handle, {
          ...AT_HOME,
          host: "evil.example",
          principal: "mallory",
        }),
      HandleError,
    );
    assertEquals(error.reason, "principal_mismatch");
    const facts = await vault.check(handle, AT_HOME);
    assertEquals(facts, {
      handleId,
      safe: "PROD-LINUX",
      objectName: "linux-root",
      folder: "Root",
      address: "server01.internal",
      username: "root",
    });
    assertEquals((await vault.redeem(handle, AT_HOME)).principal, "alice");
  },
);

vaultTest(
  "principal names are compared exactly: case and padding make another principal",
  async (open) => {
    const { vault } = open();
    const { handle } = await vault.issue(ACCOUNT);
    for (const other of ["Alice", "alice ", "alic", ""]) {
      const error = await refusal(vault, handle, { principal: other });
      assertEquals(error.reason, "principal_mismatch");
    }
    assertEquals((await vault.redeem(handle, AT_HOME)).username, "root");
  },
);

vaultTest(
  "of many concurrent redemptions by two principals, only the owner's can succeed, exactly once",
  async (open) => {
    const { vault } = open();
    const { handle } = await vault.issue(ACCOUNT);
    const attempts = Array.from({ length: 40 }, (_, i) =>
      vault.redeem(
        handle,
        i % 2 === 0 ? AT_HOME : { ...AT_HOME, principal: "mallory" },
      ).then(
        (r) => `ok ${r.principal}`,
        (e: HandleError) => e.reason,
      ));
    const outcomes = await Promise.all(attempts);
    assertEquals(outcomes.filter((o) => o === "ok alice").length, 1);
    assertEquals(
      outcomes.filter((o) => o === "principal_mismatch").length,
      20,
    );
    assertEquals(
      outcomes.filter((o) => o === "already_consumed").length,
      19,
    );
  },
);

Deno.test("an entry stored without a principal (an older version's) is refused for everyone and not consumed", async () => {
  const store = new MemoryHandleStore({ sweepIntervalMs: 0 });
  const vault = new HandleVault({
    ttlSeconds: 60,
    singleUse: true,
    hostBinding: true,
    store,
  });
  try {
    const handle = "secret://" + "A".repeat(43);
    const keyOf = (domain: string): Uint8Array =>
      new Uint8Array(
        createHash("sha256").update(`mcp-privileged/${domain}\0${handle}`)
          .digest(),
      );
    const keys = {
      storeKey: Array.from(keyOf("handle-key"))
        .map((b) => b.toString(16).padStart(2, "0")).join(""),
      encryptionKey: keyOf("handle-enc"),
    };
    await store.put(keys, {
      secret: new Secret("old-secret"),
      username: "root",
      address: ACCOUNT.address,
      safe: ACCOUNT.safe,
      objectName: ACCOUNT.objectName,
      folder: "Root",
      properties: {},
      singleUse: true,
      secretKind: "password",
      scope: { protocol: "ssh", ports: [22] },
    }, 60_000);
    const error = await refusal(vault, handle, {
      says: "does not record who fetched it",
    });
    assertEquals(error.reason, "principal_mismatch");
    assertEquals((await store.peek(keys)).status, "live");
  } finally {
    await vault.close();
  }
});
