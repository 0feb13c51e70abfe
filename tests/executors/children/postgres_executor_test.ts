/**
 * The PostgreSQL executor, spawned by the real spawner with its production
 * flags (`--allow-net=HOST:PORT --allow-env=PG*`), against the machine's
 * PostgreSQL and against a SCRAM + TLS cluster of the tests' own.
 */
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import {
  announceDbSkip,
  createPostgresFixture,
  hasIpv6Loopback,
  NUMBER_ROWS,
  postgresSkipReason,
  startPrivatePostgres,
} from "../../support/databases.ts";
import {
  callsFor,
  type DbCall,
  failureOf,
  firstCell,
  resultOf,
  runDb,
} from "../../support/db_executor.ts";
import {
  type DbCell,
  MAX_RESULT_SETS,
  type PostgresTls,
} from "../../../executors/protocol/mod.ts";
import {
  assertClearTextFallback,
  assertPasswordRedacted,
  assertPeopleAsText,
  assertResultSetsCut,
  assertRowCap,
  assertServerErrors,
  assertStatementCut,
  dbTest,
  longName,
  openEngine,
  startTlsServer,
} from "./_db_cases.ts";
import {
  assertHarmless,
  assertWriteRefused,
  type ReadOnlyEngine,
  runReadOnly,
} from "./_read_only_cases.ts";

const skip = await announceDbSkip(postgresSkipReason());
const PLAIN: PostgresTls = { sslmode: "disable" };
const SSL_IN_USE = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

dbTest(
  { name: "postgres executor against the machine's PostgreSQL", skip },
  async (t) => {
    await using engine = await openEngine(
      { kind: "postgres", plain: PLAIN },
      createPostgresFixture,
    );
    const fx = engine.fixture;
    const call = callsFor(fx);
    await t.step(
      "cells come back as the server's text: NULL, ISO dates, bytea as hex, unicode, cut long cells",
      async () => {
        const result = await assertPeopleAsText(engine);
        assertEquals(result.resultSets.length, 1);
        const [set] = result.resultSets;
        assertEquals(set!.rowCount, 3);
        assertEquals(set!.rowsTruncated, null);
        assertEquals(set!.command, "SELECT");
      },
    );

    await t.step(
      "timestamptz, booleans and numerics keep their meaning",
      async () => {
        const result = resultOf(
          await runDb(
            "postgres",
            call(
              "SELECT '2024-01-02 03:04:05.123456+00'::timestamptz AT TIME ZONE 'UTC' AS utc, " +
                "'2024-01-02 03:04:05+02'::timestamptz > now() AS later, 123456789012345678901234.5::numeric AS big",
            ),
            PLAIN,
          ),
        );
        assertEquals(result.resultSets[0]!.rows[0], [
          "2024-01-02T03:04:05.123456",
          "false",
          "123456789012345678901234.5",
        ]);
      },
    );

    await t.step(
      "every statement of a multi-statement query is reported in order",
      async () => {
        const result = resultOf(
          await runDb(
            "postgres",
            call(
              "UPDATE counters SET hits = hits + 1; SELECT count(*) AS n FROM counters WHERE hits > 0; " +
                "CREATE TEMP TABLE t (a int); INSERT INTO t VALUES (1), (2); SELECT a FROM t WHERE a > 5",
            ),
            PLAIN,
          ),
        );
        const summary = result.resultSets.map((s) => ({
          command: s.command,
          affected: s.affectedRows,
          columns: s.columns,
          rows: s.rows,
        }));
        assertEquals(summary, [
          { command: "UPDATE", affected: 3, columns: [], rows: [] },
          {
            command: "SELECT",
            affected: null,
            columns: ["n"],
            rows: [["3"]],
          },
          { command: "CREATE TABLE", affected: null, columns: [], rows: [] },
          { command: "INSERT", affected: 2, columns: [], rows: [] },
          { command: "SELECT", affected: null, columns: ["a"], rows: [] },
        ]);
      },
    );

    await t.step(
      "a failing statement rolls the whole query back (one implicit transaction)",
      async () => {
        failureOf(
          await runDb(
            "postgres",
            call("UPDATE counters SET hits = 100; SELECT 1 / 0"),
            PLAIN,
          ),
          "driver_error",
          ["22012", "division by zero"],
        );
        const after = resultOf(
          await runDb(
            "postgres",
            call("SELECT max(hits) FROM counters"),
            PLAIN,
          ),
        );
        assertEquals(after.resultSets[0]!.rows, [["1"]]);
      },
    );

    await t.step(
      "rows past max_rows are counted, not kept",
      async () => {
        const set = await assertRowCap(engine);
        assertEquals(set.rows[9], ["10"]);
      },
    );

    const emptySet = `SELECT 1 AS ${longName("a")}, 2 AS ${
      longName("b")
    } WHERE false;`;

    await t.step(
      "a multi-statement query of 15000 empty result sets is drained, keeping the first 1000, within the memory limit",
      async () => {
        const outcome = await runDb(
          "postgres",
          call(emptySet.repeat(15_000), { timeoutMs: 20_000 }),
          PLAIN,
        );
        const cut = assertResultSetsCut(outcome, "drained");
        assertEquals(cut.dropped, 15_000 - MAX_RESULT_SETS);
        // PostgreSQL cuts identifiers at 63 characters (NAMEDATALEN - 1).
        assertEquals(resultOf(outcome).resultSets[0]!.columns, [
          longName("a").slice(0, 63),
          longName("b").slice(0, 63),
        ]);
      },
    );

    await t.step(
      "column names and each statement count against the output byte cap",
      async () => {
        // Each set costs 100 bytes plus 4 + 63 per (cut) column name: 234
        // bytes, so 8 fit in 2048.
        const result = resultOf(
          await runDb(
            "postgres",
            call(emptySet.repeat(20), { maxOutputBytes: 2048 }),
            PLAIN,
          ),
        );
        assertEquals(result.resultSets.length, 8);
        assertEquals(result.resultSetsCut, {
          reason: "max_bytes",
          rest: "drained",
          dropped: 12,
        });
      },
    );

    await t.step("the output byte cap stops keeping rows", async () => {
      const [set] = resultOf(
        await runDb(
          "postgres",
          call("SELECT n FROM numbers ORDER BY n", {
            maxRows: 100_000,
            maxOutputBytes: 2048,
          }),
          PLAIN,
        ),
      ).resultSets;
      assertEquals(set!.rowsTruncated, "max_bytes");
      assert(set!.rows.length > 100 && set!.rows.length < 500);
      assertEquals(set!.rowCount, NUMBER_ROWS);
    });

    await t.step(
      "a cell holding the password is redacted, also where the cell cap cuts through it",
      async () => {
        await assertPasswordRedacted(engine);
        const cut = await runDb(
          "postgres",
          call("SELECT note FROM notes", {
            maxCellChars: "db password is ".length + 8,
          }),
          PLAIN,
        );
        const cell = resultOf(cut).resultSets[0]!.rows[0]![0];
        assert(cell !== null && typeof cell === "object");
        assertEquals(cell.text, "db password is [REDACTED]");
        assert(!JSON.stringify(cut).includes(fx.password.slice(0, 8)));
      },
    );

    await t.step(
      "the database's own errors come back: syntax, permission, unknown database, refused connection",
      async () => {
        await assertServerErrors(engine, {
          syntax: [
            'ERROR 42601: syntax error at or near "SELEC" (at character 1)',
          ],
          denied: ["42501", "permission denied for table hidden"],
          missing: ["3D000", "does not exist"],
        });
      },
    );

    await t.step(
      "a server that accepts but never answers is a connection failure, not a query timeout",
      async () => {
        const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const held: Deno.Conn[] = [];
        const accepting = (async () => {
          for await (const conn of silent) held.push(conn);
        })();
        try {
          const failed = failureOf(
            await runDb(
              "postgres",
              call("SELECT 1", {
                port: (silent.addr as Deno.NetAddr).port,
                timeoutMs: 1500,
              }),
              PLAIN,
            ),
            "connection_failed",
          );
          assertMatch(failed.message, /no PostgreSQL session|time/i);
        } finally {
          silent.close();
          for (const conn of held) conn.close();
          await accepting.catch(() => {});
        }
      },
    );

    await t.step(
      "the server cancels a statement at the time limit (statement_timeout)",
      async () => {
        await assertStatementCut(engine, {
          query: "SELECT pg_sleep(30)",
          says: ["57014", "statement timeout"],
        });
      },
    );

    await t.step(
      "verify-full refuses a server without TLS; prefer falls back to clear text",
      async () => {
        await assertClearTextFallback(engine, {
          strict: { sslmode: "verify-full" },
          refusal: [
            "The server does not support SSL connections",
            "PG_SSLMODE",
          ],
          preferred: { sslmode: "prefer" },
          query: SSL_IN_USE,
          rows: [["false"]],
        });
      },
    );
  },
);

dbTest({
  name: "postgres executor against a SCRAM + TLS cluster of the tests' own",
  skip,
}, async (t) => {
  await using tlsServer = await startTlsServer((tls) =>
    startPrivatePostgres({ cert: tls.serverCertPem, key: tls.serverKeyPem })
  );
  const { server, ca } = tlsServer;
  const call = callsFor(server);
  const sslOf = async (
    settings: PostgresTls,
    extra: Partial<DbCall> = {},
  ): Promise<DbCell | undefined> =>
    firstCell(await runDb("postgres", call(SSL_IN_USE, extra), settings), 0);
  await t.step("a wrong password is refused (28P01)", async () => {
    const failed = failureOf(
      await runDb(
        "postgres",
        call(SSL_IN_USE, { password: `${server.password}-wrong` }),
        PLAIN,
      ),
      "auth_failed",
      ["28P01", 'password authentication failed for user "postgres"'],
    );
    assert(!failed.message.includes(server.password));
  });

  await t.step(
    "verify-full with the CA logs in over TLS; disable does not use TLS",
    async () => {
      assertEquals(await sslOf({ sslmode: "verify-full", ca }), "true");
      assertEquals(
        await sslOf({ sslmode: "verify-full", ca }, { host: "localhost" }),
        "true",
      );
      assertEquals(await sslOf({ sslmode: "disable", ca }), "false");
    },
  );

  await t.step(
    "verify-full without the CA refuses the certificate; require accepts it unverified",
    async () => {
      const failed = failureOf(
        await runDb("postgres", call(SSL_IN_USE), {
          sslmode: "verify-full",
        }),
        "tls_failed",
        ["PG_SSL_CA"],
      );
      assertMatch(failed.message, /certificate/i);
      assertEquals(await sslOf({ sslmode: "require" }), "true");
    },
  );

  await t.step({
    name:
      "verify-full refuses a host the certificate does not name; verify-ca accepts it",
    ignore: !hasIpv6Loopback(),
    fn: async () => {
      failureOf(
        await runDb("postgres", call(SSL_IN_USE, { host: "::1" }), {
          sslmode: "verify-full",
          ca,
        }),
        "tls_failed",
        ["::1", "[::1]:"],
      );
      assertEquals(
        await sslOf({ sslmode: "verify-ca", ca }, { host: "::1" }),
        "true",
      );
    },
  });
});

dbTest({
  name: "postgres executor read-only: the server refuses every write",
  skip,
}, async (t) => {
  await using engine = await openEngine(
    { kind: "postgres", plain: PLAIN },
    createPostgresFixture,
  );
  const fx = engine.fixture;
  // The login may write (all of counters, CREATE in public, the sequence,
  // the routines), so each refusal below is the read-only transaction's,
  // not a missing privilege's.
  await fx.admin(`
    GRANT ALL ON counters TO ${fx.username};
    GRANT CREATE ON SCHEMA public TO ${fx.username};
    CREATE SEQUENCE seq;
    GRANT USAGE, SELECT, UPDATE ON SEQUENCE seq TO ${fx.username};
    CREATE FUNCTION bump() RETURNS int LANGUAGE plpgsql AS
      $$ BEGIN INSERT INTO counters VALUES (90, 0); RETURN 1; END $$;
    CREATE PROCEDURE commit_and_bump() LANGUAGE plpgsql AS
      $$ BEGIN COMMIT; INSERT INTO counters VALUES (91, 0); END $$;
  `);
  const ro: ReadOnlyEngine<"postgres"> = {
    engine,
    stateQuery: `SELECT
      (SELECT string_agg(id || ':' || hits, ',' ORDER BY id) FROM counters),
      (SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class
         WHERE relnamespace = 'public'::regnamespace),
      (SELECT last_value || ':' || is_called FROM seq),
      (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace)`,
  };
  const READ_ONLY = ["25006", "read-only transaction", "runs read-only"];
  const ONE_STATEMENT = [
    "read-only queries run one statement per call",
    "42601",
    "cannot insert multiple commands into a prepared statement",
  ];

  await t.step("a plain SELECT returns its rows", async () => {
    const result = resultOf(
      await runReadOnly(ro, "SELECT id, name FROM people ORDER BY id"),
    );
    assertEquals(result.resultSets.length, 1);
    assertEquals(result.resultSets[0]!.columns, ["id", "name"]);
    assertEquals(result.resultSets[0]!.rowCount, 3);
    assertEquals(result.resultSets[0]!.command, "SELECT");
  });

  await t.step(
    "the session and its transaction are read-only (startup option and BEGIN READ ONLY)",
    async () => {
      const result = resultOf(
        await runReadOnly(
          ro,
          "SELECT current_setting('default_transaction_read_only'), current_setting('transaction_read_only')",
        ),
      );
      assertEquals(result.resultSets[0]!.rows, [["on", "on"]]);
    },
  );

  await t.step("INSERT, UPDATE, DELETE, TRUNCATE are refused", async () => {
    for (
      const query of [
        "INSERT INTO counters VALUES (10, 0)",
        "UPDATE counters SET hits = 5",
        "DELETE FROM counters",
        "TRUNCATE counters",
        "SELECT * FROM counters FOR UPDATE",
        "EXPLAIN ANALYZE INSERT INTO counters VALUES (10, 0)",
      ]
    ) {
      await assertWriteRefused(ro, query, READ_ONLY);
    }
  });

  await t.step("DDL and CREATE TABLE AS are refused", async () => {
    for (
      const query of [
        "CREATE TABLE t (a int)",
        "CREATE TABLE t AS SELECT * FROM counters",
        "SELECT * INTO t FROM counters",
        "DROP TABLE counters",
        "ALTER TABLE counters ADD COLUMN x int",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
      ]
    ) {
      await assertWriteRefused(ro, query, READ_ONLY);
    }
  });

  await t.step("a write hidden in a CTE is refused", async () => {
    await assertWriteRefused(
      ro,
      "WITH x AS (INSERT INTO counters VALUES (11, 0) RETURNING *) SELECT * FROM x",
      READ_ONLY,
    );
  });

  await t.step(
    "a write inside a function is refused; a procedure or DO block cannot COMMIT",
    async () => {
      await assertWriteRefused(ro, "SELECT bump()", READ_ONLY);
      await assertWriteRefused(ro, "CALL commit_and_bump()", [
        "2D000",
        "invalid transaction termination",
        "runs read-only",
      ]);
      await assertWriteRefused(
        ro,
        "DO $$ BEGIN COMMIT; INSERT INTO counters VALUES (12, 0); END $$",
        ["2D000", "invalid transaction termination"],
      );
    },
  );

  await t.step("nextval() of a sequence is refused", async () => {
    await assertWriteRefused(ro, "SELECT nextval('seq')", READ_ONLY);
  });

  await t.step(
    "multi-statement texts are refused whole, none of their statements runs",
    async () => {
      for (
        const query of [
          "SELECT 1; INSERT INTO counters VALUES (13, 0)",
          "COMMIT; INSERT INTO counters VALUES (13, 0)",
          "COMMIT; SET default_transaction_read_only = off; COMMIT; INSERT INTO counters VALUES (13, 0)",
          "SET TRANSACTION READ WRITE; INSERT INTO counters VALUES (13, 0)",
          "SET default_transaction_read_only = off; INSERT INTO counters VALUES (13, 0)",
          "ROLLBACK; BEGIN READ WRITE; INSERT INTO counters VALUES (13, 0); COMMIT",
        ]
      ) {
        await assertWriteRefused(ro, query, ONE_STATEMENT);
      }
    },
  );

  await t.step(
    "the transaction cannot be switched to read-write once it has its snapshot",
    async () => {
      const TOO_LATE = [
        "25001",
        "transaction read-write mode must be set before any query",
      ];
      await assertWriteRefused(ro, "SET TRANSACTION READ WRITE", TOO_LATE);
      await assertWriteRefused(
        ro,
        "SET transaction_read_only = off",
        TOO_LATE,
      );
      await assertWriteRefused(
        ro,
        "SELECT set_config('transaction_read_only', 'off', true)",
        TOO_LATE,
      );
      // The INSERT is checked before set_config() could run.
      await assertWriteRefused(
        ro,
        "WITH s AS (SELECT set_config('transaction_read_only', 'off', true)) INSERT INTO counters SELECT 14, 0 FROM s",
        READ_ONLY,
      );
    },
  );

  await t.step(
    "statements that end or reconfigure the transaction on their own change nothing",
    async () => {
      for (
        const query of [
          "COMMIT",
          "ROLLBACK",
          "SET default_transaction_read_only = off",
          "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
          "SELECT set_config('default_transaction_read_only', 'off', false)",
        ]
      ) {
        await assertHarmless(ro, query);
      }
    },
  );

  await t.step("COPY FROM STDIN is refused", async () => {
    await assertWriteRefused(ro, "COPY counters FROM STDIN", READ_ONLY);
  });

  await t.step(
    "readOnly=false still writes and runs several statements",
    async () => {
      const result = resultOf(
        await runReadOnly(
          ro,
          "INSERT INTO counters VALUES (20, 0); SELECT nextval('seq'); DELETE FROM counters WHERE id = 20",
          false,
        ),
      );
      assertEquals(
        result.resultSets.map((s) => s.command),
        ["INSERT", "SELECT", "DELETE"],
      );
      assertEquals(await fx.admin("SELECT last_value FROM seq"), [["1"]]);
    },
  );
});
