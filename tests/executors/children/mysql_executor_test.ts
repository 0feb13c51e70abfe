/**
 * The MySQL executor, spawned by the real spawner with its production flags
 * (`--allow-net=HOST:PORT` only), against the machine's MariaDB and against
 * a TLS MariaDB of the tests' own.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../../support/assert.ts";
import {
  announceDbSkip,
  createMariadbFixture,
  mariadbSkipReason,
  NUMBER_ROWS,
  PEOPLE,
  startPrivateMariadb,
} from "../../support/databases.ts";
import {
  callsFor,
  type DbCall,
  failureOf,
  resultOf,
  runDb,
} from "../../support/db_executor.ts";
import { createTlsFixtures } from "../../support/tls_fixtures.ts";
import type { MysqlTls } from "../../../executors/protocol/mod.ts";
import { freePort } from "../../support/free_port.ts";

const skip = await announceDbSkip(mariadbSkipReason());
const PLAIN: MysqlTls = { mode: "disabled" };

Deno.test({
  name: "mysql executor against the machine's MariaDB",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const fx = await createMariadbFixture();
    const call = callsFor(fx);
    try {
      await t.step(
        "cells come back as text: NULL, ISO dates, binary as hex, unicode, cut long cells",
        async () => {
          const result = resultOf(
            await runDb(
              "mysql",
              call("SELECT * FROM people ORDER BY id", { maxCellChars: 100 }),
              PLAIN,
            ),
          );
          assertEquals(result.kind, "mysql");
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
        },
      );

      await t.step(
        "big integers, decimals and JSON keep their text",
        async () => {
          const result = resultOf(
            await runDb(
              "mysql",
              call(
                "SELECT 18446744073709551615 AS big, CAST(1.10 AS DECIMAL(30,2)) AS dec2, JSON_OBJECT('a', 1) AS doc",
              ),
              PLAIN,
            ),
          );
          assertEquals(result.resultSets[0]!.rows[0], [
            "18446744073709551615",
            "1.10",
            '{"a": 1}',
          ]);
        },
      );

      await t.step(
        "every statement of a multi-statement query is reported, with changed rows",
        async () => {
          const result = resultOf(
            await runDb(
              "mysql",
              call(
                "UPDATE counters SET hits = hits + 1; SELECT COUNT(*) AS n FROM counters WHERE hits > 0; " +
                  "UPDATE counters SET hits = hits WHERE id = 1; SELECT n FROM numbers WHERE n < 0",
              ),
              PLAIN,
            ),
          );
          assertEquals(
            result.resultSets.map((s) => [s.columns, s.rows, s.affectedRows]),
            [
              [[], [], 3],
              [["n"], [["3"]], null],
              [[], [], 0],
              [["n"], [], null],
            ],
          );
        },
      );

      await t.step("rows past max_rows are counted, not kept", async () => {
        const [set] = resultOf(
          await runDb(
            "mysql",
            call("SELECT n FROM numbers ORDER BY n", { maxRows: 10 }),
            PLAIN,
          ),
        ).resultSets;
        assertEquals(set!.rows.length, 10);
        assertEquals(set!.rowCount, NUMBER_ROWS);
        assertEquals(set!.rowsTruncated, "max_rows");
      });

      await t.step("a cell holding the password is redacted", async () => {
        const outcome = await runDb(
          "mysql",
          call("SELECT note FROM notes"),
          PLAIN,
        );
        assertEquals(resultOf(outcome).resultSets[0]!.rows, [[
          "db password is [REDACTED]",
        ]]);
      });

      await t.step(
        "the database's own errors come back: syntax, permission, unknown database, wrong password, refused connection",
        async () => {
          const syntax = failureOf(
            await runDb("mysql", call("SELEC 1"), PLAIN),
            "driver_error",
          );
          assertStringIncludes(syntax.message, "ERROR 1064 (42000)");
          assertStringIncludes(syntax.message, "near 'SELEC 1'");
          const denied = failureOf(
            await runDb("mysql", call("SELECT * FROM hidden"), PLAIN),
            "driver_error",
          );
          assertStringIncludes(denied.message, "ERROR 1142");
          assertStringIncludes(denied.message, "SELECT command denied");
          const missing = failureOf(
            await runDb(
              "mysql",
              call("SELECT 1", { database: `${fx.database}_nope` }),
              PLAIN,
            ),
            "driver_error",
          );
          assertStringIncludes(missing.message, "ERROR 1044");
          const wrong = failureOf(
            await runDb(
              "mysql",
              call("SELECT 1", { password: `${fx.password}-wrong` }),
              PLAIN,
            ),
            "auth_failed",
          );
          assertStringIncludes(wrong.message, "ERROR 1045 (28000)");
          assertStringIncludes(wrong.message, "Access denied for user");
          assert(!wrong.message.includes(fx.password));
          const refused = failureOf(
            await runDb(
              "mysql",
              call("SELECT 1", { port: freePort() }),
              PLAIN,
            ),
            "connection_failed",
          );
          assertStringIncludes(refused.message, "ECONNREFUSED");
        },
      );

      await t.step(
        "the server stops a statement at the time limit (max_statement_time)",
        async () => {
          const started = Date.now();
          const failed = failureOf(
            await runDb(
              "mysql",
              call("SELECT SLEEP(30)", { timeoutMs: 2000 }),
              PLAIN,
            ),
            "timeout",
          );
          assertStringIncludes(failed.message, "max_statement_time");
          assert(Date.now() - started < 4000, "the statement was not cut");
        },
      );

      await t.step(
        "verify_identity refuses a server without TLS; preferred falls back to clear text",
        async () => {
          const refused = failureOf(
            await runDb("mysql", call("SELECT 1"), { mode: "verify_identity" }),
            "tls_failed",
          );
          assertStringIncludes(
            refused.message,
            "Server does not support secure connection",
          );
          assertStringIncludes(refused.message, "MYSQL_SSL");
          const preferred = resultOf(
            await runDb(
              "mysql",
              call("SHOW SESSION STATUS LIKE 'Ssl_version'"),
              { mode: "preferred" },
            ),
          );
          assertEquals(preferred.resultSets[0]!.rows, [["Ssl_version", ""]]);
        },
      );
    } finally {
      await fx.drop();
    }
  },
});

Deno.test({
  name: "mysql executor against a TLS MariaDB of the tests' own",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const tls = createTlsFixtures();
    const server = await startPrivateMariadb({
      cert: tls.serverCertPem,
      key: tls.serverKeyPem,
      ca: tls.caCertPem,
    });
    const call = (extra: Partial<DbCall> = {}): DbCall => ({
      host: server.host,
      port: server.port,
      username: server.username,
      password: server.password,
      database: server.database,
      query: "SHOW SESSION STATUS LIKE 'Ssl_version'",
      ...extra,
    });
    const tlsVersion = async (
      mode: MysqlTls["mode"],
      extra: Partial<DbCall> = {},
      ca: string | undefined = tls.caCertPem,
    ): Promise<unknown> =>
      resultOf(
        await runDb(
          "mysql",
          call(extra),
          ca === undefined ? { mode } : { mode, ca },
        ),
      ).resultSets[0]!.rows[0]![1];
    try {
      await t.step(
        "verify_identity with the CA logs in over TLS",
        async () => {
          assertMatch(
            String(await tlsVersion("verify_identity")),
            /^TLSv1\.[23]$/,
          );
          assertEquals(await tlsVersion("disabled"), "");
        },
      );

      await t.step(
        "verify_identity refuses an IP address the certificate does not name; verify_ca accepts it",
        async () => {
          // 127.0.0.2 reaches the same server, but the certificate names only
          // 127.0.0.1 and localhost.
          const failed = failureOf(
            await runDb("mysql", call({ host: "127.0.0.2" }), {
              mode: "verify_identity",
              ca: tls.caCertPem,
            }),
            "tls_failed",
          );
          assertStringIncludes(failed.message, "127.0.0.2");
          assertStringIncludes(failed.message, "MYSQL_SSL_CA");
          assertMatch(
            String(await tlsVersion("verify_ca", { host: "127.0.0.2" })),
            /^TLSv1/,
          );
        },
      );

      await t.step(
        "verify_identity without the CA refuses the certificate; required accepts it unverified",
        async () => {
          const failed = failureOf(
            await runDb("mysql", call(), { mode: "verify_identity" }),
            "tls_failed",
          );
          assertMatch(failed.message, /certificate/i);
          assertMatch(
            String(await tlsVersion("required", {}, undefined)),
            /^TLSv1/,
          );
        },
      );
    } finally {
      await server.stop();
    }
  },
});
