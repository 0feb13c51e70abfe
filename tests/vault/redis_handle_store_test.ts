/**
 * The Redis handle store against a real Redis: the shared server at
 * 127.0.0.1:6379 under a random key prefix per test (deleted after), and a
 * private TLS + password instance for `rediss://`.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "../support/assert.ts";
import { eventually } from "../support/eventually.ts";
import { freePort } from "../support/free_port.ts";
import {
  announceRedisSkip,
  deleteKeysUnder,
  keysUnder,
  randomKeyPrefix,
  rawRedis,
  startPrivateTlsRedis,
} from "../support/redis.ts";
import type {
  HandleEntry,
  HandleKeys,
  LookupResult,
} from "../../vault/handle_store.ts";
import { HandleStoreError } from "../../vault/handle_store_error.ts";
import {
  openEntry,
  RedisHandleStore,
  type RedisHandleStoreOptions,
  sealEntry,
} from "../../vault/redis_handle_store.ts";
import { Secret } from "../../vault/secret.ts";
import { sharedRedisStore } from "./_redis.ts";

const skip = await announceRedisSkip();

/** Tombstone time of the test that waits for tombstones to go. */
const TOMBSTONE_MS = 1_500;

const SECRET = "Pl41nText-S3cret-d0-not-store";
const PASSPHRASE = "Key-Passphrase-d0-not-store";
const ENTRY: HandleEntry = {
  secret: new Secret(SECRET),
  passphrase: new Secret(PASSPHRASE),
  username: "svc-unique-username",
  address: "db17.unique-address.internal",
  safe: "UNIQUE-SAFE-NAME",
  objectName: "unique-object-name",
  folder: "Root",
  properties: { PolicyID: "UniquePolicyValue" },
  singleUse: true,
  secretKind: "password",
  scope: { protocol: "postgres", ports: [5432, 6432] },
};

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

/** Puts `entry` under fresh keys for `ttlMs` and returns the keys. */
async function putFresh(
  store: RedisHandleStore,
  entry: HandleEntry = ENTRY,
  ttlMs = 60_000,
): Promise<HandleKeys> {
  const keys = randomKeys();
  await store.put(keys, entry, ttlMs);
  return keys;
}

async function status(result: Promise<LookupResult>): Promise<string> {
  return (await result).status;
}

/** Runs `fn` with a store under a fresh prefix, then closes it and deletes the keys. */
function withStore(
  name: string,
  fn: (store: RedisHandleStore, prefix: string) => Promise<void>,
  options: Partial<RedisHandleStoreOptions> = {},
): void {
  Deno.test({
    name,
    ignore: skip !== null,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const prefix = randomKeyPrefix();
      const store = sharedRedisStore(prefix, options);
      try {
        await fn(store, prefix);
      } finally {
        await store.close();
        await deleteKeysUnder(prefix);
      }
    },
  });
}

withStore(
  "redisHandleStore.put() stores an entry that peek() and take() return whole, and take() consumes it",
  async (store) => {
    const keys = await putFresh(store);
    const peeked = await store.peek(keys);
    assert(peeked.status === "live");
    assertEquals(peeked.entry.secret.reveal(), SECRET);
    assertEquals(peeked.entry.passphrase?.reveal(), PASSPHRASE);
    const taken = await store.take(keys);
    assert(taken.status === "live");
    const { secret, passphrase, ...rest } = taken.entry;
    const { secret: _s, passphrase: _p, ...expected } = ENTRY;
    assertEquals(rest, expected);
    assertEquals(secret.reveal(), SECRET);
    assertEquals(passphrase?.reveal(), PASSPHRASE);
    assertEquals(await status(store.take(keys)), "consumed");
    assertEquals(await status(store.peek(keys)), "consumed");
    assertEquals(await status(store.take(randomKeys())), "unknown");
  },
);

withStore(
  "redisHandleStore.take() gives exactly one live result among 200 concurrent takes over 4 connections",
  async (store, prefix) => {
    const others = [1, 2, 3].map(() => sharedRedisStore(prefix));
    try {
      const stores = [store, ...others];
      // Every connection must be up, so the takes really race on the server.
      await Promise.all(stores.map((s) => s.peek(randomKeys())));
      const keys = await putFresh(store);
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => stores[i % 4]!.take(keys)),
      );
      assertEquals(results.filter((r) => r.status === "live").length, 1);
      assertEquals(
        results.filter((r) => r.status === "consumed").length,
        199,
      );
    } finally {
      await Promise.all(others.map((s) => s.close()));
    }
  },
);

withStore(
  "redisHandleStore ends a live entry on the server after its TTL and then answers expired, not unknown",
  async (store, prefix) => {
    const keys = await putFresh(store, ENTRY, 300);
    // The tombstone outlives the entry by the default 15 minutes, so there is
    // no window to miss; Redis only has to get round to the expiry.
    await eventually(async () => {
      assertEquals(await status(store.peek(keys)), "expired");
    }, { timeoutMs: 30_000 });
    assertEquals(await status(store.take(keys)), "expired");
    // The ciphertext itself is gone; only the tombstone remains.
    assertEquals(await keysUnder(prefix), [
      `${prefix}{${keys.storeKey}}:state`,
    ]);
  },
);

withStore(
  "redisHandleStore forgets expired and consumed tombstones after the tombstone time",
  async (store, prefix) => {
    const expiring = await putFresh(store, ENTRY, 200);
    const consumed = await putFresh(store);
    const takenAt = performance.now();
    assertEquals((await store.take(consumed)).status, "live");
    const afterTake = await status(store.peek(consumed));
    // A machine too slow to look within the tombstone time may find the
    // tombstone gone already; that is wrong only before its time.
    if (afterTake !== "consumed") {
      assertEquals(afterTake, "unknown");
      assert(
        performance.now() - takenAt >= TOMBSTONE_MS,
        "the consumed tombstone vanished before the tombstone time",
      );
    }
    await eventually(async () => {
      assertEquals(await status(store.peek(expiring)), "unknown");
      assertEquals(await status(store.peek(consumed)), "unknown");
    }, { timeoutMs: TOMBSTONE_MS + 30_000 });
    assertEquals(await keysUnder(prefix), []);
  },
  { tombstoneMs: TOMBSTONE_MS },
);

withStore(
  "redisHandleStore keeps a reusable entry live across takes",
  async (store) => {
    const keys = await putFresh(store, { ...ENTRY, singleUse: false });
    for (let i = 0; i < 3; i++) {
      const taken = await store.take(keys);
      assert(taken.status === "live");
      assertEquals(taken.entry.singleUse, false);
      assertEquals(taken.entry.secret.reveal(), SECRET);
    }
    assertEquals(await store.size(), 1);
  },
);

withStore(
  "redisHandleStore.size() counts live entries of its prefix only",
  async (store) => {
    const a = await putFresh(store);
    await putFresh(store);
    await putFresh(store);
    assertEquals(await store.size(), 3);
    await store.take(a);
    assertEquals(await store.size(), 2);
  },
);

withStore(
  "redisHandleStore keeps no plaintext in Redis: the raw value is AES-GCM ciphertext",
  async (store, prefix) => {
    const keys = await putFresh(store);
    const raw = rawRedis();
    try {
      const bytes = await raw.getBuffer(`${prefix}{${keys.storeKey}}`);
      assert(bytes !== null, "the entry exists");
      const text = new TextDecoder("latin1").decode(bytes);
      assertMatch(text, /^v1\.s\.[A-Za-z0-9+/=]+\.[A-Za-z0-9+/=]+$/);
      const decoded = [...text.split(".").slice(2)].map((part) => atob(part))
        .join("");
      for (
        const plain of [
          SECRET,
          PASSPHRASE,
          ENTRY.username,
          ENTRY.address,
          ENTRY.safe,
          ENTRY.objectName,
          "UniquePolicyValue",
        ]
      ) {
        assert(!text.includes(plain), `raw value holds ${plain}`);
        assert(!decoded.includes(plain), `decoded value holds ${plain}`);
      }
      const state = await raw.get(`${prefix}{${keys.storeKey}}:state`);
      assertEquals(state, "issued");
    } finally {
      raw.disconnect();
    }
  },
);

withStore(
  "redisHandleStore refuses to open an entry with a wrong key, without consuming it",
  async (store) => {
    const keys = await putFresh(store);
    const wrong = { ...keys, encryptionKey: randomKeys().encryptionKey };
    const error = await assertRejects(
      () => store.peek(wrong),
      HandleStoreError,
      "integrity check",
    );
    assertEquals(error.reason, "integrity");
    assertEquals((await store.take(keys)).status, "live");
  },
);

Deno.test("openEntry() rejects a wrong key, a flipped single-use flag, altered bytes and another store key", async () => {
  const keys = randomKeys();
  const sealed = await sealEntry(keys, ENTRY);
  assertEquals((await openEntry(keys, sealed)).secret.reveal(), SECRET);
  const [version, flag, iv, body] = sealed.split(".") as [
    string,
    string,
    string,
    string,
  ];
  const flipped = atob(body).split("");
  flipped[0] = String.fromCharCode(flipped[0]!.charCodeAt(0) ^ 1);
  const cases: [string, HandleKeys, string][] = [
    [
      "wrong key",
      { ...keys, encryptionKey: randomKeys().encryptionKey },
      sealed,
    ],
    ["flag flipped to reusable", keys, `${version}.r.${iv}.${body}`],
    [
      "ciphertext altered",
      keys,
      `${version}.${flag}.${iv}.${btoa(flipped.join(""))}`,
    ],
    [
      "moved to another store key",
      { ...keys, storeKey: randomKeys().storeKey },
      sealed,
    ],
    ["not a sealed value", keys, "consumed"],
  ];
  for (const [what, useKeys, value] of cases) {
    const error = await assertRejects(
      () => openEntry(useKeys, value),
      HandleStoreError,
      "integrity check",
    );
    assertEquals(error.reason, "integrity", what);
  }
  assert(sealed !== await sealEntry(keys, ENTRY), "a fresh IV per seal");
});

Deno.test("openEntry() reads an entry without a scope (written before handle scopes) and rejects a malformed scope", async () => {
  const keys = randomKeys();
  const { scope: _scope, ...old } = ENTRY;
  const opened = await openEntry(keys, await sealEntry(keys, old));
  assertEquals(opened.scope, undefined);
  assertEquals(opened.username, ENTRY.username);
  const malformed = [
    { protocol: "telnet", ports: [23] },
    { protocol: "ssh", ports: [] },
    { protocol: "ssh", ports: [0] },
    { protocol: "ssh", ports: ["22"] },
    { protocol: null, ports: [22] },
    "ssh",
  ];
  for (const scope of malformed) {
    const entry = { ...ENTRY, scope } as unknown as HandleEntry;
    const error = await assertRejects(
      async () => await openEntry(keys, await sealEntry(keys, entry)),
      HandleStoreError,
      "integrity check",
    );
    assertEquals(error.reason, "integrity", JSON.stringify(scope));
  }
});

withStore(
  "redisHandleStore.close() leaves the entries for the other replicas",
  async (store, prefix) => {
    const replicaA = sharedRedisStore(prefix);
    const keys = await putFresh(replicaA);
    await replicaA.close();
    assertEquals((await store.take(keys)).status, "live");
    await assertRejects(
      () => replicaA.peek(keys),
      HandleStoreError,
      "connection is closed",
    );
  },
);

Deno.test({
  name:
    "redisHandleStore fails with 'Handle store unavailable' naming REDIS_URL when Redis is unreachable",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const store = new RedisHandleStore({
      host: "127.0.0.1",
      port: freePort(),
      db: 0,
      tls: false,
      password: new Secret("Unreachable-Redis-Password"),
      keyPrefix: randomKeyPrefix(),
      connectTimeoutMs: 10_000,
    });
    try {
      for (
        const call of [
          () => store.put(randomKeys(), ENTRY, 1000),
          () => store.take(randomKeys()),
        ]
      ) {
        const error = await assertRejects(call, HandleStoreError);
        assertEquals(error.reason, "unavailable");
        assertMatch(
          error.message,
          /^Handle store unavailable: Redis at redis:\/\/127\.0\.0\.1:\d+\/0: .*ECONNREFUSED.*; check REDIS_URL and that Redis is reachable$/,
        );
        assert(!error.message.includes("Unreachable-Redis-Password"));
      }
    } finally {
      await store.close();
    }
  },
});

Deno.test({
  name:
    "redisHandleStore speaks rediss:// with a password and verifies the server against REDIS_CA_BUNDLE",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = await startPrivateTlsRedis();
    const stores: RedisHandleStore[] = [];
    const open = (
      options: Partial<RedisHandleStoreOptions>,
    ): RedisHandleStore => {
      const store = new RedisHandleStore({
        host: server.host,
        port: server.port,
        db: 0,
        tls: true,
        password: new Secret(server.password),
        caPem: server.caPem,
        keyPrefix: "tls-test:",
        connectTimeoutMs: 10_000,
        ...options,
      });
      stores.push(store);
      return store;
    };
    try {
      const good = open({});
      const keys = await putFresh(good);
      assertEquals((await good.take(keys)).status, "live");

      const otherCa = await assertRejects(
        () => open({ caPem: server.otherCaPem }).peek(keys),
        HandleStoreError,
        "Handle store unavailable",
      );
      assertMatch(otherCa.message, /certificate/i);

      const wrongName = await assertRejects(
        // Redis listens there too, but the certificate is for 127.0.0.1 and localhost.
        () => open({ host: "127.0.0.2" }).peek(keys),
        HandleStoreError,
        "Handle store unavailable",
      );
      assertMatch(wrongName.message, /127\.0\.0\.2|altnames|host ?name/i);
      assertStringIncludes(wrongName.message, "check REDIS_URL");

      const badPassword = await assertRejects(
        () => open({ password: new Secret("Wrong-Password-123") }).peek(keys),
        HandleStoreError,
        "Handle store unavailable",
      );
      assertMatch(badPassword.message, /WRONGPASS|invalid password/i);
      assert(!badPassword.message.includes("Wrong-Password-123"));
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await server.stop();
    }
  },
});
