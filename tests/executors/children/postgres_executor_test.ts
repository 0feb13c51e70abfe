/**
 * The PostgreSQL executor, spawned by the real spawner with its production
 * flags (`--allow-net=HOST:PORT --allow-env=PG*`), against the machine's
 * PostgreSQL and against a SCRAM + TLS cluster of the tests' own.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../../support/assert.ts";
import {
  announceDbSkip,
  createPostgresFixture,
  hasIpv6Loopback,
  NUMBER_ROWS,
  PEOPLE,
  postgresSkipReason,
  startPrivatePostgres,
} from "../../support/databases.ts";
import {
  callsFor,
  type DbCall,
  failureOf,
  resultOf,
  runDb,
} from "../../support/db_executor.ts";
import { createTlsFixtures } from "../../support/tls_fixtures.ts";
import type { PostgresTls } from "../../../executors/protocol/mod.ts";
import { freePort } from "../../support/free_port.ts";

const skip = await announceDbSkip(postgresSkipReason());
const PLAIN: PostgresTls = { sslmode: "disable" };

Deno.test({
  name: "postgres executor against the machine's PostgreSQL",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const fx = await createPostgresFixture();
    const call = callsFor(fx);
    try {
      await t.step(
        "cells come back as the server's text: NULL, ISO dates, bytea as hex, unicode, cut long cells",
        async () => {
          const result = resultOf(
            await runDb(
              "postgres",
              call("SELECT * FROM people ORDER BY id", { maxCellChars: 100 }),
              PLAIN,
            ),
          );
          assertEquals(result.kind, "postgres");
          assertEquals(result.resultSets.length, 1);
          const [set] = result.resultSets;
          assertEquals(set!.columns, [
            "id",
            "name",
            "born",
            "seen",
            "photo",
            "note",
          ]);
          assertEquals(set!.rows[0], [
            "1",
            PEOPLE.unicodeName,
            PEOPLE.born,
            PEOPLE.seen,
            PEOPLE.photoHex,
            "first",
          ]);
          assertEquals(set!.rows[1], ["2", null, null, null, null, null]);
          assertEquals(set!.rows[2]![5], {
            text: "x".repeat(100),
            textTruncated: true,
            chars: PEOPLE.longNoteChars,
          });
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
          const failed = failureOf(
            await runDb(
              "postgres",
              call("UPDATE counters SET hits = 100; SELECT 1 / 0"),
              PLAIN,
            ),
            "driver_error",
          );
          assertStringIncludes(failed.message, "22012");
          assertStringIncludes(failed.message, "division by zero");
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
          const [set] = resultOf(
            await runDb(
              "postgres",
              call("SELECT n FROM numbers ORDER BY n", { maxRows: 10 }),
              PLAIN,
            ),
          ).resultSets;
          assertEquals(set!.rows.length, 10);
          assertEquals(set!.rows[9], ["10"]);
          assertEquals(set!.rowCount, NUMBER_ROWS);
          assertEquals(set!.rowsTruncated, "max_rows");
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
          const whole = await runDb(
            "postgres",
            call("SELECT note FROM notes"),
            PLAIN,
          );
          assertEquals(resultOf(whole).resultSets[0]!.rows, [[
            "db password is [REDACTED]",
          ]]);
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
          const syntax = failureOf(
            await runDb("postgres", call("SELEC 1"), PLAIN),
            "driver_error",
          );
          assertStringIncludes(
            syntax.message,
            'ERROR 42601: syntax error at or near "SELEC" (at character 1)',
          );
          const denied = failureOf(
            await runDb("postgres", call("SELECT * FROM hidden"), PLAIN),
            "driver_error",
          );
          assertStringIncludes(denied.message, "42501");
          assertStringIncludes(
            denied.message,
            "permission denied for table hidden",
          );
          const missing = failureOf(
            await runDb(
              "postgres",
              call("SELECT 1", { database: `${fx.database}_nope` }),
              PLAIN,
            ),
            "driver_error",
          );
          assertStringIncludes(missing.message, "3D000");
          assertStringIncludes(missing.message, "does not exist");
          const refused = failureOf(
            await runDb(
              "postgres",
              call("SELECT 1", { port: freePort() }),
              PLAIN,
            ),
            "connection_failed",
          );
          assertStringIncludes(refused.message, "ECONNREFUSED");
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
          const started = Date.now();
          const failed = failureOf(
            await runDb(
              "postgres",
              call("SELECT pg_sleep(30)", { timeoutMs: 2000 }),
              PLAIN,
            ),
            "timeout",
          );
          assertStringIncludes(failed.message, "57014");
          assertStringIncludes(failed.message, "statement timeout");
          assert(Date.now() - started < 4000, "the statement was not cut");
        },
      );

      await t.step(
        "verify-full refuses a server without TLS; prefer falls back to clear text",
        async () => {
          const refused = failureOf(
            await runDb("postgres", call("SELECT 1"), {
              sslmode: "verify-full",
            }),
            "tls_failed",
          );
          assertStringIncludes(
            refused.message,
            "The server does not support SSL connections",
          );
          assertStringIncludes(refused.message, "PG_SSLMODE");
          const preferred = resultOf(
            await runDb(
              "postgres",
              call("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"),
              { sslmode: "prefer" },
            ),
          );
          assertEquals(preferred.resultSets[0]!.rows, [["false"]]);
        },
      );
    } finally {
      await fx.drop();
    }
  },
});

Deno.test({
  name: "postgres executor against a SCRAM + TLS cluster of the tests' own",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const tls = createTlsFixtures();
    const server = await startPrivatePostgres({
      cert: tls.serverCertPem,
      key: tls.serverKeyPem,
    });
    const call = (extra: Partial<DbCall> = {}): DbCall => ({
      host: server.host,
      port: server.port,
      username: server.username,
      password: server.password,
      database: server.database,
      query: "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
      ...extra,
    });
    const sslOf = async (
      sslmode: PostgresTls["sslmode"],
      extra: Partial<DbCall> = {},
      ca: string | undefined = tls.caCertPem,
    ): Promise<unknown> =>
      resultOf(
        await runDb(
          "postgres",
          call(extra),
          ca === undefined ? { sslmode } : { sslmode, ca },
        ),
      ).resultSets[0]!.rows[0]![0];
    try {
      await t.step("a wrong password is refused (28P01)", async () => {
        const failed = failureOf(
          await runDb(
            "postgres",
            call({ password: `${server.password}-wrong` }),
            PLAIN,
          ),
          "auth_failed",
        );
        assertStringIncludes(failed.message, "28P01");
        assertStringIncludes(
          failed.message,
          'password authentication failed for user "postgres"',
        );
        assert(!failed.message.includes(server.password));
      });

      await t.step(
        "verify-full with the CA logs in over TLS; disable does not use TLS",
        async () => {
          assertEquals(await sslOf("verify-full"), "true");
          assertEquals(
            await sslOf("verify-full", { host: "localhost" }),
            "true",
          );
          assertEquals(await sslOf("disable"), "false");
        },
      );

      await t.step(
        "verify-full without the CA refuses the certificate; require accepts it unverified",
        async () => {
          const failed = failureOf(
            await runDb("postgres", call(), { sslmode: "verify-full" }),
            "tls_failed",
          );
          assertMatch(failed.message, /certificate/i);
          assertStringIncludes(failed.message, "PG_SSL_CA");
          assertEquals(await sslOf("require", {}, undefined), "true");
        },
      );

      await t.step({
        name:
          "verify-full refuses a host the certificate does not name; verify-ca accepts it",
        ignore: !hasIpv6Loopback(),
        fn: async () => {
          const failed = failureOf(
            await runDb("postgres", call({ host: "::1" }), {
              sslmode: "verify-full",
              ca: tls.caCertPem,
            }),
            "tls_failed",
          );
          assertStringIncludes(failed.message, "::1");
          assertStringIncludes(failed.message, "[::1]:");
          assertEquals(await sslOf("verify-ca", { host: "::1" }), "true");
        },
      });
    } finally {
      await server.stop();
    }
  },
});
