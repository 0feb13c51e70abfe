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
