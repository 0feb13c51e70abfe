import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
  assertThrows,
} from "../../support/assert.ts";
import { ConfigError, loadConfig } from "../../../gateway/config/mod.ts";
import { Secret } from "../../../vault/secret.ts";

const KEY = "k".repeat(16) + "0123456789abcdef0123";
const BASE: Record<string, string> = {
  MCP_API_KEYS: KEY,
  CYBERARK_CCP_URL:
    "https://cyberark.example.internal/AIMWebService/api/Accounts",
  CYBERARK_APP_ID: "MCP-Privileged-Service",
};

function load(
  overrides: Record<string, string | undefined>,
): ReturnType<typeof loadConfig> {
  const env: Record<string, string> = { ...BASE };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return loadConfig({ env, home: "/home/mcpuser" });
}

function failure(overrides: Record<string, string | undefined>): ConfigError {
  return assertThrows(() => load(overrides), ConfigError);
}

Deno.test("loadConfig() applies the manual's defaults", () => {
  const config = load({});
  assertEquals(config.handles, {
    ttlSeconds: 300,
    singleUse: true,
    hostBinding: true,
  });
  assertEquals(config.cyberark.verifyTls, true);
  assertEquals(config.cyberark.timeoutMs, 30_000);
  assertEquals(config.winrmAuth, "ntlm");
  assertEquals(config.sshKnownHosts, {
    mode: "file",
    path: "/home/mcpuser/.ssh/known_hosts",
  });
  assertEquals(config.log, { format: "json", level: "info" });
  assertEquals(config.http.hostname, "0.0.0.0");
  assertEquals(config.http.port, 8443);
  assertEquals(config.apiKeys.length, 1);
  assertEquals(config.warnings, []);
});

Deno.test("loadConfig() errors are one line naming the variable and the fix", () => {
  const cases: [Record<string, string | undefined>, string, string][] = [
    [{ MCP_API_KEYS: undefined }, "MCP_API_KEYS", "is not set"],
    [{ MCP_API_KEYS: "" }, "MCP_API_KEYS", "is empty"],
    [
      { MCP_API_KEYS: "changeme" + "x".repeat(40) },
      "MCP_API_KEYS",
      'placeholder "changeme"',
    ],
    [
      { MCP_API_KEYS: `${KEY},short` },
      "MCP_API_KEYS",
      "key 2 of 2 is 5 characters long; use at least 32",
    ],
    [{ MCP_API_KEYS: `${KEY}, ${KEY}` }, "MCP_API_KEYS", "no spaces"],
    [{ CYBERARK_CCP_URL: undefined }, "CYBERARK_CCP_URL", "is not set"],
    [
      { CYBERARK_CCP_URL: "cyberark.internal" },
      "CYBERARK_CCP_URL",
      "is not a URL",
    ],
    [
      { CYBERARK_CCP_URL: "ftp://x/y" },
      "CYBERARK_CCP_URL",
      "must start with https://",
    ],
    [
      { CYBERARK_CCP_URL: "https://h/AIMWebService/api/Accounts?AppID=x" },
      "CYBERARK_CCP_URL",
      "query string",
    ],
    [{ CYBERARK_APP_ID: "" }, "CYBERARK_APP_ID", "is empty"],
    [
      { CYBERARK_APP_ID: "My App&x" },
      "CYBERARK_APP_ID",
      "only letters, digits",
    ],
    [
      { CYBERARK_VERIFY_SSL: "/nonexistent/ca.pem" },
      "CYBERARK_VERIFY_SSL",
      "not found",
    ],
    [
      { CYBERARK_CERT_PFX_PATH: "/nonexistent/x.pfx" },
      "CYBERARK_CERT_PFX_PATH",
      "cannot be read",
    ],
    [
      { CYBERARK_CERT_PFX_PASSWORD: "pw" },
      "CYBERARK_CERT_PFX_PASSWORD",
      "CYBERARK_CERT_PFX_PATH is not",
    ],
    [
      { CYBERARK_TIMEOUT_SECONDS: "0" },
      "CYBERARK_TIMEOUT_SECONDS",
      "from 1 to 300",
    ],
    [
      { HANDLE_TTL_SECONDS: "abc" },
      "HANDLE_TTL_SECONDS",
      "not a whole number of seconds from 5 to 3600",
    ],
    [{ HANDLE_TTL_SECONDS: "-5" }, "HANDLE_TTL_SECONDS", "not a whole number"],
    [
      { HANDLE_SINGLE_USE: "maybe" },
      "HANDLE_SINGLE_USE",
      "set it to true or false",
    ],
    [
      { HANDLE_HOST_BINDING: "on" },
      "HANDLE_HOST_BINDING",
      "set it to true or false",
    ],
    [{ WINRM_AUTH: "kerberos" }, "WINRM_AUTH", "one of ntlm, basic"],
    [{ LOG_FORMAT: "xml" }, "LOG_FORMAT", "one of json, console"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL", "DEBUG, INFO, WARNING, ERROR"],
    [{ HOST: "0.0.0.0 ; rm" }, "HOST", "address to listen on"],
    [{ PORT: "70000" }, "PORT", "from 0 to 65535"],
    [
      { TRUSTED_PROXIES: "10.0.0.0/33" },
      "TRUSTED_PROXIES",
      "not an IP address or CIDR",
    ],
    [
      { ALLOWED_HOSTS: "good.example,bad host" },
      "ALLOWED_HOSTS",
      "not a host name",
    ],
    [{ MAX_REQUEST_BYTES: "12" }, "MAX_REQUEST_BYTES", "from 1024"],
  ];
  for (const [overrides, variable, text] of cases) {
    const error = failure(overrides);
    assertEquals(
      error.variable,
      variable,
      `variable for ${JSON.stringify(overrides)}`,
    );
    assertStringIncludes(error.message, text);
    assertMatch(
      error.message,
      new RegExp(`^Invalid configuration: ${variable} `),
    );
    assert(!error.message.includes("\n"), "one line");
  }
});

Deno.test("loadConfig() never echoes an API key in its error", () => {
  const secretish = "changeme-super-secret-api-key-value-123456";
  const error = failure({ MCP_API_KEYS: secretish });
  assert(!error.message.includes(secretish));
});

Deno.test("loadConfig() reads .env, and the environment wins over it", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = `${dir}/.env`;
    Deno.writeTextFileSync(
      file,
      [
        "# comment",
        `MCP_API_KEYS=${KEY}`,
        'CYBERARK_CCP_URL="https://ccp.example/AIMWebService/api/Accounts"',
        "CYBERARK_APP_ID=FromFile # inline comment",
        "export HANDLE_TTL_SECONDS=120",
      ].join("\n"),
    );
    const config = loadConfig({
      env: { CYBERARK_APP_ID: "FromEnv" },
      envFile: file,
      home: "/h",
    });
    assertEquals(config.cyberark.appId, "FromEnv");
    assertEquals(config.handles.ttlSeconds, 120);
    assertEquals(config.cyberark.ccpUrl.host, "ccp.example");
    Deno.writeTextFileSync(file, "NOT A LINE\n");
    const error = assertThrows(
      () => loadConfig({ env: BASE, envFile: file }),
      ConfigError,
    );
    assertStringIncludes(error.message, "line 1: expected KEY=value");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadConfig() warns about insecure choices", () => {
  const config = load({
    CYBERARK_VERIFY_SSL: "false",
    SSH_KNOWN_HOSTS: "disable",
    HANDLE_HOST_BINDING: "false",
    HANDLE_SINGLE_USE: "false",
    ALLOWED_HOSTS: "*",
  });
  assertEquals(config.cyberark.verifyTls, false);
  assertEquals(config.sshKnownHosts, { mode: "disable" });
  assertEquals(config.warnings.length, 5);
});

Deno.test("loadConfig() accepts a CA bundle path and expands ~", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(
      `${dir}/ca.pem`,
      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    Deno.writeTextFileSync(`${dir}/not-a-ca.pem`, "hello\n");
    const config = loadConfig({
      env: {
        ...BASE,
        CYBERARK_VERIFY_SSL: "~/ca.pem",
        SSH_KNOWN_HOSTS: "~/known_hosts",
      },
      home: dir,
    });
    assertEquals(config.cyberark.caBundlePath, `${dir}/ca.pem`);
    assertEquals(config.cyberark.verifyTls, true);
    assertEquals(config.sshKnownHosts, {
      mode: "file",
      path: `${dir}/known_hosts`,
    });
    const error = assertThrows(
      () =>
        loadConfig({
          env: { ...BASE, CYBERARK_VERIFY_SSL: `${dir}/not-a-ca.pem` },
          home: dir,
        }),
      ConfigError,
    );
    assertStringIncludes(error.message, "holds no PEM certificate");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadConfig() reads WINRM_VERIFY_SSL as true, false or a CA bundle, and warns when false", () => {
  assertEquals(load({}).winrmTls, { verifyTls: true });
  assertEquals(load({ WINRM_VERIFY_SSL: "yes" }).winrmTls, { verifyTls: true });
  const off = load({ WINRM_VERIFY_SSL: "false" });
  assertEquals(off.winrmTls, { verifyTls: false });
  assert(
    off.warnings.some((w) => w.startsWith("WINRM_VERIFY_SSL=false")),
    "a warning at start-up",
  );
  assertEquals(load({}).warnings.some((w) => w.includes("WINRM")), false);
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(
      `${dir}/winrm-ca.pem`,
      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    Deno.writeTextFileSync(`${dir}/empty.pem`, "\n");
    const config = loadConfig({
      env: { ...BASE, WINRM_VERIFY_SSL: "~/winrm-ca.pem" },
      home: dir,
    });
    assertEquals(config.winrmTls, {
      verifyTls: true,
      caBundlePath: `${dir}/winrm-ca.pem`,
    });
    const notPem = assertThrows(
      () =>
        loadConfig({
          env: { ...BASE, WINRM_VERIFY_SSL: `${dir}/empty.pem` },
          home: dir,
        }),
      ConfigError,
    );
    assertEquals(notPem.variable, "WINRM_VERIFY_SSL");
    assertStringIncludes(notPem.message, "holds no PEM certificate");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  const missing = failure({ WINRM_VERIFY_SSL: "/nonexistent/ca.pem" });
  assertEquals(missing.variable, "WINRM_VERIFY_SSL");
  assertMatch(
    missing.message,
    /^Invalid configuration: WINRM_VERIFY_SSL is neither true, false nor a readable CA bundle: "\/nonexistent\/ca.pem" \(not found\)/,
  );
  assert(!missing.message.includes("\n"), "one line");
});

Deno.test("loadConfig() accepts WINRM_AUTH ntlm or basic only", () => {
  assertEquals(load({}).winrmAuth, "ntlm");
  assertEquals(load({ WINRM_AUTH: "Basic" }).winrmAuth, "basic");
  const error = failure({ WINRM_AUTH: "kerberos" });
  assertEquals(error.variable, "WINRM_AUTH");
  assertStringIncludes(error.message, "set it to one of ntlm, basic");
});

Deno.test("loadConfig() gives db_query caps and fully verifying TLS by default", () => {
  const config = load({});
  assertEquals(config.databases, {
    defaultMaxRows: 1000,
    maxRows: 10_000,
    maxCellChars: 2000,
    postgres: { sslmode: "verify-full" },
    mysql: { mode: "verify_identity" },
    mssql: { encrypt: true, trustServerCertificate: false },
  });
  assertEquals(config.warnings, []);
});

Deno.test("loadConfig() warns about every insecure database TLS choice", () => {
  const config = load({
    PG_SSLMODE: "require",
    MYSQL_SSL: "DISABLED",
    MSSQL_TRUST_SERVER_CERTIFICATE: "true",
  });
  assertEquals(config.databases.postgres.sslmode, "require");
  assertEquals(config.databases.mysql.mode, "disabled");
  assertEquals(config.databases.mssql.trustServerCertificate, true);
  assertEquals(config.warnings.length, 3);
  assertStringIncludes(config.warnings[0]!, "PG_SSLMODE=require");
  assertStringIncludes(config.warnings[1]!, "MYSQL_SSL=disabled");
  assertStringIncludes(
    config.warnings[2]!,
    "MSSQL_TRUST_SERVER_CERTIFICATE=true",
  );
  for (const mode of ["disable", "prefer", "verify-ca"]) {
    assertEquals(load({ PG_SSLMODE: mode }).warnings.length, 1, mode);
  }
  const plain = load({ MSSQL_ENCRYPT: "false" });
  assertStringIncludes(plain.warnings[0]!, "MSSQL_ENCRYPT=false");
});

Deno.test("loadConfig() reads the database CA files and refuses bad ones in one line", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const pem =
      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    Deno.writeTextFileSync(`${dir}/db-ca.pem`, pem);
    Deno.writeTextFileSync(`${dir}/not-a-ca.pem`, "hello\n");
    const config = loadConfig({
      env: {
        ...BASE,
        PG_SSL_CA: "~/db-ca.pem",
        MYSQL_SSL_CA: `${dir}/db-ca.pem`,
        MSSQL_SSL_CA: `${dir}/db-ca.pem`,
      },
      home: dir,
    });
    assertEquals(config.databases.postgres.ca, pem);
    assertEquals(config.databases.mysql.ca, pem);
    assertEquals(config.databases.mssql.ca, pem);
    assertEquals(config.warnings, []);
    for (const variable of ["PG_SSL_CA", "MYSQL_SSL_CA", "MSSQL_SSL_CA"]) {
      const notPem = assertThrows(
        () =>
          loadConfig({
            env: { ...BASE, [variable]: `${dir}/not-a-ca.pem` },
            home: dir,
          }),
        ConfigError,
      );
      assertEquals(notPem.variable, variable);
      assertStringIncludes(notPem.message, "holds no PEM certificate");
    }
    const unused = loadConfig({
      env: { ...BASE, PG_SSL_CA: `${dir}/db-ca.pem`, PG_SSLMODE: "require" },
      home: dir,
    });
    assert(
      unused.warnings.some((w) =>
        w.startsWith("PG_SSL_CA is set but PG_SSLMODE=require")
      ),
      unused.warnings.join("\n"),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  const missing = failure({ MYSQL_SSL_CA: "/nonexistent/ca.pem" });
  assertEquals(missing.variable, "MYSQL_SSL_CA");
  assertMatch(
    missing.message,
    /^Invalid configuration: MYSQL_SSL_CA "\/nonexistent\/ca.pem" cannot be read \(not found\); set it to the path of a PEM CA bundle/,
  );
});

Deno.test("loadConfig() refuses bad db_query settings naming the variable and the fix", () => {
  const cases: [Record<string, string>, string, string][] = [
    [{ PG_SSLMODE: "allow" }, "PG_SSLMODE", "set it to one of disable, prefer"],
    [{ MYSQL_SSL: "true" }, "MYSQL_SSL", "verify_identity"],
    [{ MSSQL_ENCRYPT: "strict" }, "MSSQL_ENCRYPT", "set it to true or false"],
    [{ DB_MAX_CELL_CHARS: "5" }, "DB_MAX_CELL_CHARS", "from 16 to 1000000"],
    [{ DB_DEFAULT_MAX_ROWS: "0" }, "DB_DEFAULT_MAX_ROWS", "from 1 to"],
    [
      { DB_DEFAULT_MAX_ROWS: "500", DB_MAX_ROWS: "100" },
      "DB_DEFAULT_MAX_ROWS",
      "above DB_MAX_ROWS (100)",
    ],
  ];
  for (const [overrides, variable, fix] of cases) {
    const error = failure(overrides);
    assertEquals(error.variable, variable);
    assertStringIncludes(error.message, fix);
    assert(!error.message.includes("\n"), "one line");
  }
});

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
