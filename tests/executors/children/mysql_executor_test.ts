/**
 * The MySQL executor, spawned by the real spawner with its production flags
 * (`--allow-net=HOST:PORT` only), against the machine's MariaDB and against
 * a TLS MariaDB of the tests' own.
 */
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import {
  announceDbSkip,
  createMariadbFixture,
  mariadbSkipReason,
  startPrivateMariadb,
} from "../../support/databases.ts";
import {
  callsFor,
  type DbCall,
  failureOf,
  firstCell,
  resultOf,
  runDb,
} from "../../support/db_executor.ts";
import type { MysqlTls } from "../../../executors/protocol/mod.ts";
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

const skip = await announceDbSkip(mariadbSkipReason());
const PLAIN: MysqlTls = { mode: "disabled" };
const SSL_VERSION = "SHOW SESSION STATUS LIKE 'Ssl_version'";

dbTest(
  { name: "mysql executor against the machine's MariaDB", skip },
  async (t) => {
    await using engine = await openEngine(
      { kind: "mysql", plain: PLAIN },
      createMariadbFixture,
    );
    const fx = engine.fixture;
    const call = callsFor(fx);
    await t.step(
      "cells come back as text: NULL, ISO dates, binary as hex, unicode, cut long cells",
      async () => {
        await assertPeopleAsText(engine);
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
      await assertRowCap(engine);
    });

    await t.step(
      "a procedure looping over empty SELECTs is cut at the result-set cap by closing the connection, within the memory limit",
      async () => {
        // The security review's repro: 3 million empty result sets of two
        // long-named columns grew the executor to 4.6 GB.
        await fx.admin(
          `GRANT CREATE ROUTINE, EXECUTE ON ${fx.database}.* TO '${fx.username}'@'%'`,
        );
        const select = `SELECT 1 AS ${longName("a")}, 2 AS ${
          longName("b")
        } FROM DUAL WHERE 1=0`;
        const outcome = await runDb(
          "mysql",
          call(
            `CREATE PROCEDURE p() BEGIN DECLARE i INT DEFAULT 0; WHILE i < 3000000 DO ${select}; SET i=i+1; END WHILE; END; CALL p();`,
            { timeoutMs: 20_000 },
          ),
          PLAIN,
        );
        const cut = assertResultSetsCut(outcome, "connection_closed");
        assertEquals(cut.dropped, null);
      },
    );

    await t.step("a cell holding the password is redacted", async () => {
      await assertPasswordRedacted(engine);
    });

    await t.step(
      "the database's own errors come back: syntax, permission, unknown database, wrong password, refused connection",
      async () => {
        await assertServerErrors(engine, {
          syntax: ["ERROR 1064 (42000)", "near 'SELEC 1'"],
          denied: ["ERROR 1142", "SELECT command denied"],
          missing: ["ERROR 1044"],
        });
        const wrong = failureOf(
          await runDb(
            "mysql",
            call("SELECT 1", { password: `${fx.password}-wrong` }),
            PLAIN,
          ),
          "auth_failed",
          ["ERROR 1045 (28000)", "Access denied for user"],
        );
        assert(!wrong.message.includes(fx.password));
      },
    );

    await t.step(
      "the server stops a statement at the time limit (max_statement_time)",
      async () => {
        await assertStatementCut(engine, {
          query: "SELECT SLEEP(30)",
          says: ["max_statement_time"],
        });
      },
    );

    await t.step(
      "verify_identity refuses a server without TLS; preferred falls back to clear text",
      async () => {
        await assertClearTextFallback(engine, {
          strict: { mode: "verify_identity" },
          refusal: ["Server does not support secure connection", "MYSQL_SSL"],
          preferred: { mode: "preferred" },
          query: SSL_VERSION,
          rows: [["Ssl_version", ""]],
        });
      },
    );
  },
);

dbTest(
  { name: "mysql executor against a TLS MariaDB of the tests' own", skip },
  async (t) => {
    await using tlsServer = await startTlsServer((tls) =>
      startPrivateMariadb({
        cert: tls.serverCertPem,
        key: tls.serverKeyPem,
        ca: tls.caCertPem,
      })
    );
    const { server, ca } = tlsServer;
    const call = callsFor(server);
    const tlsVersion = async (
      settings: MysqlTls,
      extra: Partial<DbCall> = {},
    ): Promise<string> =>
      String(
        firstCell(await runDb("mysql", call(SSL_VERSION, extra), settings), 1),
      );
    await t.step(
      "verify_identity with the CA logs in over TLS",
      async () => {
        assertMatch(
          await tlsVersion({ mode: "verify_identity", ca }),
          /^TLSv1\.[23]$/,
        );
        assertEquals(await tlsVersion({ mode: "disabled", ca }), "");
      },
    );

    await t.step(
      "verify_identity refuses an IP address the certificate does not name; verify_ca accepts it",
      async () => {
        // 127.0.0.2 reaches the same server, but the certificate names only
        // 127.0.0.1 and localhost.
        failureOf(
          await runDb("mysql", call(SSL_VERSION, { host: "127.0.0.2" }), {
            mode: "verify_identity",
            ca,
          }),
          "tls_failed",
          ["127.0.0.2", "MYSQL_SSL_CA"],
        );
        assertMatch(
          await tlsVersion({ mode: "verify_ca", ca }, { host: "127.0.0.2" }),
          /^TLSv1/,
        );
      },
    );

    await t.step(
      "verify_identity without the CA refuses the certificate; required accepts it unverified",
      async () => {
        const failed = failureOf(
          await runDb("mysql", call(SSL_VERSION), {
            mode: "verify_identity",
          }),
          "tls_failed",
        );
        assertMatch(failed.message, /certificate/i);
        assertMatch(await tlsVersion({ mode: "required" }), /^TLSv1/);
      },
    );
  },
);
