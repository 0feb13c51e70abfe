// Tests of the TDS test server, driven by the real `mssql` (tedious) driver.
import sql from "mssql";
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../support/assert.ts";
import {
  deobfuscateLogin7Password,
  obfuscateLogin7Password,
  parseLogin7,
  type RunningTdsServer,
  startTdsServer,
  type TdsQueryHandler,
  type TdsServerOptions,
} from "../support/tds_server/mod.ts";

const USER = "app_reader";
const PASSWORD = "S3cret-pässword!";

async function withServer(
  options: Partial<TdsServerOptions>,
  body: (server: RunningTdsServer) => Promise<void>,
): Promise<void> {
  const server = await startTdsServer({
    users: { [USER]: PASSWORD },
    databases: ["appdb", "otherdb"],
    ...options,
  });
  try {
    await body(server);
  } finally {
    await server.close();
  }
  assertEquals(server.errors, [], "the server dropped a connection");
}

// deno-lint-ignore no-explicit-any
type Pool = any;

function poolConfig(
  server: RunningTdsServer,
  overrides: Record<string, unknown> = {},
  options: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    server: server.hostname,
    port: server.port,
    user: USER,
    password: PASSWORD,
    database: "appdb",
    connectionTimeout: 15_000,
    requestTimeout: 15_000,
    pool: { min: 0, max: 1 },
    options: {
      encrypt: false,
      trustServerCertificate: true,
      // Without it tedious calls os.hostname(), which needs --allow-sys.
      workstationId: "tds-test-host",
      ...options,
    },
    ...overrides,
  };
}

async function withPool(
  config: Record<string, unknown>,
  body: (pool: Pool) => Promise<void>,
): Promise<void> {
  const pool = new sql.ConnectionPool(config);
  await pool.connect();
  try {
    await body(pool);
  } finally {
    await pool.close();
  }
}

// ---------------------------------------------------------------------------
// LOGIN7 unit tests
// ---------------------------------------------------------------------------

// MS-TDS 4.2 "Login Request": the sample LOGIN7 packet, header included.
const MS_TDS_SAMPLE_LOGIN7 = [
  "10 01 00 90 00 00 01 00 88 00 00 00 02 00 09 72",
  "00 10 00 00 00 00 00 07 00 01 00 00 00 00 00 00",
  "E0 03 00 00 00 00 00 00 09 04 00 00 5E 00 08 00",
  "6E 00 02 00 72 00 00 00 72 00 07 00 80 00 00 00",
  "80 00 00 00 80 00 04 00 88 00 00 00 88 00 00 00",
  "00 50 8B E2 B7 8F 88 00 00 00 88 00 00 00 88 00",
  "00 00 00 00 00 00 73 00 6B 00 6F 00 73 00 74 00",
  "6F 00 76 00 31 00 73 00 61 00 4F 00 53 00 51 00",
  "4C 00 2D 00 33 00 32 00 4F 00 44 00 42 00 43 00",
].join(" ");

function hex(text: string): Uint8Array {
  return new Uint8Array(text.trim().split(/\s+/).map((b) => parseInt(b, 16)));
}

Deno.test("parseLogin7() reads the sample LOGIN7 message of MS-TDS 4.2", () => {
  const packet = hex(MS_TDS_SAMPLE_LOGIN7);
  assertEquals(packet.length, 0x90);
  const login = parseLogin7(packet.subarray(8));
  assertEquals(login.tdsVersion, 0x72090002); // TDS 7.2
  assertEquals(login.packetSize, 4096);
  assertEquals(login.clientLcid, 0x0409);
  assertEquals(login.hostName, "skostov1");
  assertEquals(login.userName, "sa");
  assertEquals(login.password, ""); // the sample's cchPassword is 0
  assertEquals(login.appName, "OSQL-32");
  assertEquals(login.serverName, "");
  assertEquals(login.libraryName, "ODBC");
  assertEquals(login.database, "");
  assertEquals(Array.from(login.clientId), [
    0x00,
    0x50,
    0x8b,
    0xe2,
    0xb7,
    0x8f,
  ]);
  assertEquals(login.features, []);
});

Deno.test("obfuscateLogin7Password() swaps nibbles then XORs 0xA5 per MS-TDS 2.2.6.4", () => {
  // Computed by hand from the rule, since the MS-TDS sample has no password:
  // "p" is 70 00 in UTF-16LE; swapped 07 00; XOR A5 gives A2 A5.
  const vectors: [string, string][] = [
    ["p", "A2 A5"],
    ["password", "A2 A5 B3 A5 92 A5 92 A5 D2 A5 53 A5 82 A5 E3 A5"],
    ["é€", "3B A5 6F A7"], // U+00E9 is E9 00, U+20AC is AC 20
  ];
  for (const [plain, wire] of vectors) {
    assertEquals(
      Array.from(obfuscateLogin7Password(plain)),
      Array.from(hex(wire)),
    );
    assertEquals(deobfuscateLogin7Password(hex(wire)), plain);
  }
});

// ---------------------------------------------------------------------------
// Through the real mssql driver
// ---------------------------------------------------------------------------

Deno.test("startTdsServer() accepts an mssql login with the right password", async () => {
  await withServer({
    onQuery: () => ({
      columns: [{ name: "db", type: "nvarchar" }],
      rows: [["appdb"]],
    }),
  }, async (server) => {
    await withPool(poolConfig(server), async (pool) => {
      const result = await pool.request().query("SELECT DB_NAME() AS db");
      assertEquals(result.recordset[0].db, "appdb");
    });
    // mssql's connect() opens a probe connection, closes it, then pools one.
    assertEquals(server.logins.length, 2);
    assert(server.logins.every((l) => l.succeeded), "a login failed");
    const login = server.logins[0];
    assertEquals(login?.user, USER);
    assertEquals(login?.database, "appdb");
    assertEquals(login?.appName, "node-mssql");
    assertEquals(login?.hostName, "tds-test-host");
    assertEquals(login?.passwordOk, true);
    assertEquals(login?.succeeded, true);
    assertEquals(login?.encrypted, false);
    assert(!JSON.stringify(server.logins).includes(PASSWORD), "password kept");
    assertEquals(server.preLogins[0]?.encryption, "not_supported");
    assertEquals(server.preLogins[0]?.answered, "not_supported");
    // tedious's SET batch and the pool's SELECT 1 are answered by the server.
    assertEquals(server.batches, ["SELECT DB_NAME() AS db"]);
    const setup = server.requests.find((r) => r.answeredBy === "server");
    assert(
      setup !== undefined && /^set /i.test(setup.sql),
      "no session SET batch",
    );
  });
});

Deno.test("startTdsServer() rejects a wrong password with error 18456", async () => {
  await withServer({}, async (server) => {
    const pool = new sql.ConnectionPool(
      poolConfig(server, { password: "wrong" }),
    );
    const error = await assertRejects(() => pool.connect());
    await pool.close();
    assertStringIncludes(error.message, `Login failed for user '${USER}'.`);
    assertEquals((error as { code?: string }).code, "ELOGIN");
    assertEquals(server.logins.length, 1);
    assertEquals(server.logins[0]?.passwordOk, false);
    assertEquals(server.logins[0]?.succeeded, false);
  });
});

Deno.test("startTdsServer() rejects an unknown database with error 4060", async () => {
  await withServer({}, async (server) => {
    const pool = new sql.ConnectionPool(
      // 4060 is on tedious's transient list; without this it retries 3 times.
      poolConfig(server, { database: "nope" }, {
        maxRetriesOnTransientErrors: 0,
      }),
    );
    const error = await assertRejects(() => pool.connect());
    await pool.close();
    assertStringIncludes(
      error.message,
      'Cannot open database "nope" requested by the login. The login failed.',
    );
    assertEquals(server.logins[0]?.passwordOk, true);
    assertEquals(server.logins[0]?.succeeded, false);
  });
});

Deno.test("startTdsServer() sends many column types, NULLs and unicode to mssql", async () => {
  const when = new Date("2024-02-29T13:45:56.789Z");
  const longText = "x".repeat(4500) + "—end";
  const handler: TdsQueryHandler = () => ({
    columns: [
      { name: "id", type: "int", nullable: false },
      { name: "maybe", type: "int" },
      { name: "big", type: "bigint" },
      { name: "tiny", type: "tinyint" },
      { name: "small", type: "smallint" },
      { name: "flag", type: "bit" },
      { name: "ratio", type: "float" },
      { name: "ratio4", type: "real" },
      { name: "price", type: "decimal", precision: 10, scale: 2 },
      { name: "name", type: "nvarchar", length: 100 },
      { name: "code", type: "varchar", length: 20 },
      { name: "blob", type: "varbinary", length: 16 },
      { name: "at", type: "datetime2" },
      { name: "legacy", type: "datetime" },
      { name: "day", type: "date" },
      { name: "uid", type: "uniqueidentifier" },
      { name: "doc", type: "nvarchar", length: "max" },
    ],
    rows: [
      [
        1,
        null,
        "9007199254740993",
        255,
        -2,
        true,
        3.5,
        1.25,
        "12345.67",
        "Zoë 東京 🎉",
        "café",
        new Uint8Array([0, 1, 254, 255]),
        when,
        new Date("2001-02-03T04:05:06.500Z"),
        new Date("1999-12-31T00:00:00Z"),
        "6F9619FF-8B86-D011-B42D-00C04FC964FF",
        longText,
      ],
      [
        2,
        7,
        null,
        null,
        null,
        false,
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        null,
        null,
      ],
    ],
  });
  await withServer({ onQuery: handler }, async (server) => {
    await withPool(poolConfig(server), async (pool) => {
      const { recordset } = await pool.request().query("SELECT * FROM t");
      assertEquals(recordset.length, 2);
      const [a, b] = recordset;
      assertEquals(a.id, 1);
      assertEquals(a.maybe, null);
      assertEquals(a.big, "9007199254740993");
      assertEquals(a.tiny, 255);
      assertEquals(a.small, -2);
      assertEquals(a.flag, true);
      assertEquals(a.ratio, 3.5);
      assertEquals(a.ratio4, 1.25);
      assertEquals(a.price, 12345.67);
      assertEquals(a.name, "Zoë 東京 🎉");
      assertEquals(a.code, "café");
      assertEquals(Array.from(a.blob as Uint8Array), [0, 1, 254, 255]);
      assertEquals((a.at as Date).toISOString(), when.toISOString());
      assertEquals(
        (a.legacy as Date).toISOString(),
        "2001-02-03T04:05:06.500Z",
      );
      assertEquals((a.day as Date).toISOString(), "1999-12-31T00:00:00.000Z");
      assertEquals(
        String(a.uid).toUpperCase(),
        "6F9619FF-8B86-D011-B42D-00C04FC964FF",
      );
      assertEquals(a.doc, longText);
      assertEquals(b.id, 2);
      assertEquals(b.maybe, 7);
      assertEquals(b.flag, false);
      for (const key of ["big", "name", "blob", "at", "uid", "doc", "price"]) {
        assertEquals(b[key], null, `column ${key}`);
      }
    });
  });
});

Deno.test("startTdsServer() returns two result sets from one batch", async () => {
  await withServer({
    onQuery: () => [
      { columns: [{ name: "a", type: "int" }], rows: [[1], [2]] },
      { columns: [{ name: "b", type: "nvarchar" }], rows: [["x"]] },
    ],
  }, async (server) => {
    await withPool(poolConfig(server), async (pool) => {
      const batch = await pool.request().batch(
        "SELECT a FROM t; SELECT b FROM u",
      );
      assertEquals(batch.recordsets.length, 2);
      assertEquals(batch.recordsets[0].map((r: { a: number }) => r.a), [1, 2]);
      assertEquals(batch.recordsets[1][0].b, "x");
      assertEquals(batch.rowsAffected, [2, 1]);
      const rpc = await pool.request().query(
        "SELECT a FROM t; SELECT b FROM u",
      );
      assertEquals(rpc.recordsets.length, 2);
    });
    assertEquals(
      server.requests.filter((r) => r.answeredBy === "handler").map((r) =>
        r.kind
      ),
      [
        "sql_batch",
        "rpc",
      ],
    );
  });
});

Deno.test("startTdsServer() reports rowsAffected for an UPDATE", async () => {
  await withServer({ onQuery: () => ({ rowsAffected: 3 }) }, async (server) => {
    await withPool(poolConfig(server), async (pool) => {
      const rpc = await pool.request().query("UPDATE t SET a = 1");
      assertEquals(rpc.rowsAffected, [3]);
      const batch = await pool.request().batch("UPDATE t SET a = 1");
      assertEquals(batch.rowsAffected, [3]);
    });
  });
});

Deno.test("startTdsServer() passes an ERROR token to mssql with its number and message", async () => {
  await withServer({
    onQuery: (text) =>
      text.includes("FROM FROM")
        ? {
          error: {
            number: 102,
            state: 1,
            class: 15,
            message: "Incorrect syntax near 'FROM'.",
          },
        }
        : { columns: [{ name: "ok", type: "bit" }], rows: [[true]] },
  }, async (server) => {
    await withPool(poolConfig(server), async (pool) => {
      for (const run of ["query", "batch"] as const) {
        const error = await assertRejects(() =>
          pool.request()[run]("SELECT * FROM FROM")
        );
        const info = error as {
          number?: number;
          class?: number;
          code?: string;
        };
        assertEquals(error.message, "Incorrect syntax near 'FROM'.");
        assertEquals(info.number, 102);
        assertEquals(info.class, 15);
        assertEquals(info.code, "EREQUEST");
      }
      // The connection survives a statement error.
      const after = await pool.request().query("SELECT 1 AS ok");
      assertEquals(after.recordset[0].ok, true);
    });
  });
});

Deno.test("startTdsServer() answers a timed-out request's ATTENTION", async () => {
  // The "query" runs a minute, the client gives up after 2 s: far apart, so a
  // loaded machine cannot blur which one ended the wait.
  const slow = ["WAITFOR DELAY '00:01:00'", "WAITFOR FOREVER"];
  await withServer({
    onQuery: (text) =>
      text === slow[0]
        ? { delayMs: 60_000 }
        // A handler that never settles is interrupted by ATTENTION too.
        : text === slow[1]
        ? new Promise<never>(() => {})
        : { columns: [{ name: "n", type: "int" }], rows: [[42]] },
  }, async (server) => {
    let connectionsBefore = 0;
    await withPool(
      poolConfig(server, { requestTimeout: 2000 }),
      async (pool) => {
        await pool.request().query("SELECT 42 AS n");
        connectionsBefore = server.connections;
        for (const text of slow) {
          const started = Date.now();
          const error = await assertRejects(() => pool.request().query(text));
          assertEquals((error as { code?: string }).code, "ETIMEOUT");
          assertStringIncludes(
            error.message,
            "Timeout: Request failed to complete in 2000ms",
          );
          assert(
            Date.now() - started < 30_000,
            "the ATTENTION did not end the wait",
          );
          // The same connection is back in step: the next answer is its own.
          const after = await pool.request().query("SELECT 42 AS n");
          assertEquals(after.recordset[0].n, 42);
        }
      },
    );
    assertEquals(server.attentions, 2);
    assertEquals(
      server.connections,
      connectionsBefore,
      "a new connection was opened",
    );
    const waited = server.requests.filter((r) => slow.includes(r.sql));
    assertEquals(waited.map((r) => r.canceled), [true, true]);
  });
});

Deno.test("startTdsServer() decodes sp_executesql parameters", async () => {
  await withServer({
    onQuery: (_text, ctx) => ({
      columns: [{ name: "echo", type: "nvarchar", length: "max" }],
      rows: [[
        JSON.stringify(
          ctx.params,
          (_k, v) => typeof v === "bigint" ? `${v}n` : v,
        ),
      ]],
    }),
  }, async (server) => {
    await withPool(poolConfig(server), async (pool) => {
      const result = await pool.request()
        .input("id", sql.Int, 42)
        .input("big", sql.BigInt, 5)
        .input("name", sql.NVarChar(50), "Zoë")
        .input("code", sql.VarChar(10), "abc")
        .input("price", sql.Decimal(10, 2), 9.5)
        .input("flag", sql.Bit, true)
        .input("none", sql.Int, null)
        .input("at", sql.DateTime2, new Date("2024-01-02T03:04:05.678Z"))
        .query("SELECT * FROM t WHERE id = @id");
      assertEquals(JSON.parse(result.recordset[0].echo), {
        id: 42,
        big: "5n",
        name: "Zoë",
        code: "abc",
        price: "9.50",
        flag: true,
        none: null,
        at: "2024-01-02T03:04:05.678Z",
      });
    });
    assertEquals(server.batches, ["SELECT * FROM t WHERE id = @id"]);
  });
});

Deno.test("startTdsServer() splits and reassembles messages at a 512-byte packet size", async () => {
  const rows = Array.from(
    { length: 300 },
    (_, i) => [i, `row ${i} ${"·".repeat(20)}`],
  );
  const longSql = `SELECT n, label FROM t WHERE label <> '${"y".repeat(2000)}'`;
  await withServer({
    packetSize: 512,
    onQuery: (text) =>
      text === longSql
        ? {
          columns: [{ name: "n", type: "int" }, {
            name: "label",
            type: "nvarchar",
          }],
          rows,
        }
        : { rowsAffected: 0 },
  }, async (server) => {
    await withPool(poolConfig(server), async (pool) => {
      for (const run of ["query", "batch"] as const) {
        const result = await pool.request()[run](longSql);
        assertEquals(result.recordset.length, 300);
        assertEquals(result.recordset[299].label, rows[299]?.[1]);
      }
    });
    assertEquals(server.batches, [longSql, longSql]);
  });
});

Deno.test("startTdsServer() handles USE and transactions itself", async () => {
  await withServer({
    onQuery: (_text, ctx) => ({
      columns: [{ name: "db", type: "nvarchar" }],
      rows: [[ctx.database]],
    }),
  }, async (server) => {
    await withPool(poolConfig(server), async (pool) => {
      await pool.request().batch("USE otherdb");
      const result = await pool.request().query("SELECT DB_NAME() AS db");
      assertEquals(result.recordset[0].db, "otherdb");
      const missing = await assertRejects(() =>
        pool.request().batch("USE [nope]")
      );
      assertEquals((missing as { number?: number }).number, 911);
      const transaction = new sql.Transaction(pool);
      await transaction.begin();
      await new sql.Request(transaction).query("SELECT DB_NAME() AS db");
      await transaction.commit();
    });
    const kinds = server.requests.filter((r) => r.kind === "transaction").map((
      r,
    ) => r.sql);
    assertEquals(kinds, ["begin transaction", "commit transaction"]);
  });
});

Deno.test("startTdsServer() refuses a client that wants TLS when TLS is off", async () => {
  await withServer({}, async (server) => {
    const pool = new sql.ConnectionPool(
      poolConfig(server, {}, { encrypt: true }),
    );
    const error = await assertRejects(() => pool.connect());
    await pool.close();
    assertStringIncludes(error.message, "Server did not negotiate encryption");
  });
});

Deno.test("startTdsServer() runs TLS inside PRELOGIN packets with encryption on", async () => {
  await withServer({
    encryption: "on",
    onQuery: () => ({ columns: [{ name: "n", type: "int" }], rows: [[7]] }),
  }, async (server) => {
    await withPool(poolConfig(server, {}, { encrypt: true }), async (pool) => {
      const result = await pool.request().query("SELECT 7 AS n");
      assertEquals(result.recordset[0].n, 7);
    });
    assertEquals(server.preLogins[0]?.encryption, "on");
    assertEquals(server.preLogins[0]?.answered, "on");
    assertEquals(server.logins[0]?.encrypted, true);
    assertEquals(server.logins[0]?.passwordOk, true);
  });
});

Deno.test("startTdsServer() answers ENCRYPT_REQ to a client without TLS when encryption is on", async () => {
  await withServer({ encryption: "on" }, async (server) => {
    const pool = new sql.ConnectionPool(poolConfig(server));
    const error = await assertRejects(() => pool.connect());
    await pool.close();
    assertStringIncludes(error.message, "Server requires encryption");
    assertEquals(server.preLogins[0]?.answered, "required");
  });
});

Deno.test("startTdsServer() sends a response that outgrows its write buffer", async () => {
  // Regression: ByteWriter once wrote through its old DataView after growing.
  const rows = Array.from({ length: 1500 }, (_, i) => [i]);
  await withServer({
    onQuery: () => ({ columns: [{ name: "n", type: "int" }], rows }),
  }, async (server) => {
    await withPool(poolConfig(server), async (pool) => {
      const result = await pool.request().batch("SELECT n FROM numbers");
      assertEquals(result.recordset.length, 1500);
      assertEquals(result.recordset[1499].n, 1499);
    });
  });
});
