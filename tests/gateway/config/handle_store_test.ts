import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";
import { loadConfig } from "../../../gateway/config/mod.ts";
import { Secret } from "../../../vault/secret.ts";
import { BASE, failure, load } from "./_env.ts";

Deno.test("loadConfig() keeps handles in memory by default", () => {
  assertEquals(load({}).handleStore, { kind: "memory" });
  const ignored = load({ REDIS_URL: "redis://redis.internal:6379/0" });
  assertEquals(ignored.handleStore, { kind: "memory" });
  assertStringIncludes(
    ignored.warnings.join("\n"),
    "REDIS_URL set but HANDLE_STORE=memory, so not used",
  );
});

Deno.test("loadConfig() reads HANDLE_STORE=redis with REDIS_URL, REDIS_KEY_PREFIX and REDIS_CA_BUNDLE", () => {
  const plain = load({
    HANDLE_STORE: "redis",
    REDIS_URL: "redis://127.0.0.1",
  });
  assertEquals(plain.handleStore, {
    kind: "redis",
    keyPrefix: "mcp-privileged:handle:",
    connection: { host: "127.0.0.1", port: 6379, db: 0, tls: false },
  });
  assertEquals(plain.warnings, []);

  const dir = Deno.makeTempDirSync();
  try {
    const pem =
      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    Deno.writeTextFileSync(`${dir}/redis-ca.pem`, pem);
    const config = loadConfig({
      env: {
        ...BASE,
        HANDLE_STORE: "Redis",
        REDIS_URL: "rediss://mcp:p%40ss%3Aw%2Frd@redis.internal:6380/3",
        REDIS_KEY_PREFIX: "prod/mcp:handles:",
        REDIS_CA_BUNDLE: "~/redis-ca.pem",
      },
      home: dir,
    });
    assert(config.handleStore.kind === "redis");
    const { password, ...connection } = config.handleStore.connection;
    assertEquals(connection, {
      host: "redis.internal",
      port: 6380,
      db: 3,
      tls: true,
      username: "mcp",
      caPem: pem,
    });
    assert(password instanceof Secret, "the password is a Secret");
    assertEquals(password.reveal(), "p@ss:w/rd");
    assertEquals(config.handleStore.keyPrefix, "prod/mcp:handles:");
    assertEquals(config.warnings, []);

    const noTls = loadConfig({
      env: {
        ...BASE,
        HANDLE_STORE: "redis",
        REDIS_URL: "redis://:secret-pw@redis.internal:6379",
        REDIS_CA_BUNDLE: `${dir}/redis-ca.pem`,
      },
      home: dir,
    });
    const warnings = noTls.warnings.join("\n");
    assertStringIncludes(
      warnings,
      "REDIS_CA_BUNDLE is set but REDIS_URL uses redis:// (no TLS), so it is not used",
    );
    assertStringIncludes(
      warnings,
      "REDIS_URL uses redis:// to redis.internal: the Redis password and the (encrypted) handle entries cross the network in clear text; use rediss://",
    );
    assert(!warnings.includes("secret-pw"), "no password in a warning");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }

  const v6 = load({ HANDLE_STORE: "redis", REDIS_URL: "redis://[::1]:7000/" });
  assert(v6.handleStore.kind === "redis");
  assertEquals(v6.handleStore.connection.host, "::1");
  assertEquals(v6.handleStore.connection.port, 7000);
  assertEquals(v6.warnings, []);
});

Deno.test("loadConfig() refuses bad Redis settings in one line that never shows the password", () => {
  const password = "Sup3r-Secret-Redis-Pw";
  const cases: [Record<string, string | undefined>, string, string][] = [
    [
      { HANDLE_STORE: "etcd" },
      "HANDLE_STORE",
      "set it to one of memory, redis",
    ],
    [
      { HANDLE_STORE: "redis" },
      "REDIS_URL",
      "is not set but HANDLE_STORE=redis needs it",
    ],
    [
      { HANDLE_STORE: "redis", REDIS_URL: `${password}@redis.internal` },
      "REDIS_URL",
      "is not a URL",
    ],
    [
      {
        HANDLE_STORE: "redis",
        REDIS_URL: `https://:${password}@redis.internal`,
      },
      "REDIS_URL",
      "must start with redis:// or rediss://",
    ],
    [
      { HANDLE_STORE: "redis", REDIS_URL: `redis://:${password}@:6379` },
      "REDIS_URL",
      "is not a URL",
    ],
    [
      { HANDLE_STORE: "redis", REDIS_URL: "redis:///0" },
      "REDIS_URL",
      "has no host name",
    ],
    [
      { HANDLE_STORE: "redis", REDIS_URL: `redis://:${password}@host/db0` },
      "REDIS_URL",
      "not a database number",
    ],
    [
      { HANDLE_STORE: "redis", REDIS_URL: `redis://:${password}@host/0?tls=1` },
      "REDIS_URL",
      "must not contain a query string",
    ],
    [
      { HANDLE_STORE: "redis", REDIS_URL: `redis://:${password}%zz@host/0` },
      "REDIS_URL",
      "broken %-escape",
    ],
    [
      {
        HANDLE_STORE: "redis",
        REDIS_URL: "redis://127.0.0.1",
        REDIS_KEY_PREFIX: "has space:",
      },
      "REDIS_KEY_PREFIX",
      "use 1 to 128 letters, digits and : _ . / -",
    ],
    [
      {
        HANDLE_STORE: "redis",
        REDIS_URL: "rediss://127.0.0.1",
        REDIS_CA_BUNDLE: "/nonexistent/redis-ca.pem",
      },
      "REDIS_CA_BUNDLE",
      "cannot be read (not found)",
    ],
  ];
  for (const [overrides, variable, fix] of cases) {
    const error = failure(overrides);
    assertEquals(error.variable, variable, JSON.stringify(overrides));
    assertStringIncludes(error.message, fix);
    assert(!error.message.includes("\n"), "one line");
    assert(!error.message.includes(password), error.message);
  }
});

Deno.test("loadConfig() treats only loopback Redis addresses as local (no clear-text warning)", () => {
  for (
    const url of [
      "redis://localhost",
      "redis://127.0.0.2:6379",
      "redis://[::1]",
      "redis://[::ffff:127.0.0.1]",
    ]
  ) {
    assertEquals(
      load({ HANDLE_STORE: "redis", REDIS_URL: url }).warnings,
      [],
      url,
    );
  }
  for (
    const url of [
      "redis://127.example.internal",
      "redis://10.0.0.5",
      "redis://[2001:db8::1]",
    ]
  ) {
    assertStringIncludes(
      load({ HANDLE_STORE: "redis", REDIS_URL: url }).warnings.join("\n"),
      "cross the network in clear text",
      url,
    );
  }
});
