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
import {
  assertHarmless,
  assertWriteRefused,
  type ReadOnlyEngine,
  runReadOnly,
  stateOf,
} from "./_read_only_cases.ts";

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

dbTest({
  name: "mysql executor read-only: MariaDB refuses every write",
  skip,
}, async (t) => {
  await using engine = await openEngine(
    { kind: "mysql", plain: PLAIN },
    createMariadbFixture,
  );
  const fx = engine.fixture;
  // The login may write anything in its database, so each refusal below is
  // the read-only transaction's, not a missing privilege's. The routines are
  // the administrator's (DEFINER root), as in a real database.
  await fx.admin(`
    GRANT ALL ON ${fx.database}.* TO '${fx.username}'@'%';
    CREATE SEQUENCE seq;
    CREATE FUNCTION bump() RETURNS int MODIFIES SQL DATA
      BEGIN INSERT INTO counters VALUES (90, 0); RETURN 1; END;
    CREATE PROCEDURE commit_and_bump()
      BEGIN COMMIT; INSERT INTO counters VALUES (91, 0); END;
    CREATE PROCEDURE reopen_and_bump()
      BEGIN
        COMMIT;
        SET SESSION TRANSACTION READ WRITE;
        START TRANSACTION;
        INSERT INTO counters VALUES (92, 0);
        COMMIT;
      END;
  `);
  const ro: ReadOnlyEngine<"mysql"> = {
    engine,
    stateQuery: `SELECT
      (SELECT GROUP_CONCAT(CONCAT(id, ':', hits) ORDER BY id) FROM counters),
      (SELECT GROUP_CONCAT(table_name ORDER BY table_name)
         FROM information_schema.tables WHERE table_schema = DATABASE()),
      (SELECT next_not_cached_value FROM seq),
      (SELECT COUNT(*) FROM information_schema.routines
         WHERE routine_schema = DATABASE())`,
  };
  const READ_ONLY = [
    "runs read-only",
    "ERROR 1792 (25006): Cannot execute statement in a READ ONLY transaction",
  ];
  const ONE_STATEMENT = [
    "read-only queries run one statement per call",
    "ERROR 1064 (42000)",
  ];

  await t.step("a plain SELECT returns its rows", async () => {
    const result = resultOf(
      await runReadOnly(ro, "SELECT id, name FROM people ORDER BY id"),
    );
    assertEquals(result.resultSets.length, 1);
    assertEquals(result.resultSets[0]!.columns, ["id", "name"]);
    assertEquals(result.resultSets[0]!.rowCount, 3);
  });

  await t.step("the session and its transaction are read-only", async () => {
    const result = resultOf(
      await runReadOnly(ro, "SELECT @@session.tx_read_only"),
    );
    assertEquals(result.resultSets[0]!.rows, [["1"]]);
  });

  await t.step(
    "INSERT, UPDATE, DELETE, REPLACE, TRUNCATE are refused",
    async () => {
      for (
        const query of [
          "INSERT INTO counters VALUES (10, 0)",
          "UPDATE counters SET hits = 5",
          "DELETE FROM counters",
          "REPLACE INTO counters VALUES (1, 5)",
          "TRUNCATE counters",
        ]
      ) {
        await assertWriteRefused(ro, query, READ_ONLY);
      }
    },
  );

  await t.step(
    "DDL is refused although it commits implicitly first",
    async () => {
      for (
        const query of [
          "CREATE TABLE t (a int)",
          "CREATE TABLE t AS SELECT * FROM counters",
          "CREATE OR REPLACE TABLE counters (a int)",
          "DROP TABLE counters",
          "ALTER TABLE counters ADD COLUMN x int",
          "RENAME TABLE counters TO c2",
          "CREATE PROCEDURE p() SELECT 1",
        ]
      ) {
        await assertWriteRefused(ro, query, READ_ONLY);
      }
    },
  );

  await t.step(
    "temporary tables are refused too (MariaDB; MySQL would allow them)",
    async () => {
      await assertWriteRefused(
        ro,
        "CREATE TEMPORARY TABLE t (a int)",
        READ_ONLY,
      );
      await assertWriteRefused(
        ro,
        "CREATE TEMPORARY TABLE t AS SELECT * FROM counters",
        READ_ONLY,
      );
    },
  );

  await t.step("a write hidden in a CTE is refused", async () => {
    await assertWriteRefused(
      ro,
      "INSERT INTO counters WITH x AS (SELECT 11 AS id, 0 AS hits) SELECT * FROM x",
      READ_ONLY,
    );
  });

  await t.step(
    "a stored function that writes is refused, and so is a procedure's write after its own COMMIT",
    async () => {
      await assertWriteRefused(ro, "SELECT bump()", READ_ONLY);
      await assertWriteRefused(ro, "CALL commit_and_bump()", READ_ONLY);
    },
  );

  await t.step("sequences cannot advance", async () => {
    await assertWriteRefused(ro, "SELECT NEXTVAL(seq)", READ_ONLY);
    await assertWriteRefused(ro, "SELECT SETVAL(seq, 100)", READ_ONLY);
  });

  await t.step(
    "multi-statement texts are refused whole, none of their statements runs",
    async () => {
      for (
        const query of [
          "SELECT 1; INSERT INTO counters VALUES (13, 0)",
          "COMMIT; INSERT INTO counters VALUES (13, 0)",
          "SET SESSION TRANSACTION READ WRITE; INSERT INTO counters VALUES (13, 0)",
          "COMMIT; SET SESSION TRANSACTION READ WRITE; START TRANSACTION; INSERT INTO counters VALUES (13, 0); COMMIT",
          "SET SESSION tx_read_only = 0; COMMIT; INSERT INTO counters VALUES (13, 0)",
        ]
      ) {
        await assertWriteRefused(ro, query, ONE_STATEMENT);
      }
    },
  );

  await t.step(
    "the transaction cannot be switched to read-write",
    async () => {
      await assertWriteRefused(ro, "SET TRANSACTION READ WRITE", [
        "runs read-only",
        "ERROR 1568 (25001)",
      ]);
      await assertWriteRefused(
        ro,
        "SET STATEMENT tx_read_only = 0 FOR INSERT INTO counters VALUES (14, 0)",
        READ_ONLY,
      );
    },
  );

  await t.step(
    "statements that end or reconfigure the session on their own change nothing",
    async () => {
      for (
        const query of [
          "COMMIT",
          "ROLLBACK",
          "SET SESSION TRANSACTION READ WRITE",
          "SET SESSION tx_read_only = 0",
        ]
      ) {
        await assertHarmless(ro, query);
      }
    },
  );

  await t.step(
    "known limit: an existing procedure that commits, makes the session read-write and writes is not stopped",
    async () => {
      const before = await stateOf(ro);
      resultOf(await runReadOnly(ro, "CALL reopen_and_bump()"));
      const after = await stateOf(ro);
      assert(after !== before, "the procedure's write did not happen");
      assertEquals(
        await fx.admin("SELECT hits FROM counters WHERE id = 92"),
        [[0]],
      );
      await fx.admin("DELETE FROM counters WHERE id = 92");
    },
  );

  await t.step(
    "readOnly=false still writes and runs several statements",
    async () => {
      const result = resultOf(
        await runReadOnly(
          ro,
          "INSERT INTO counters VALUES (20, 0); SELECT NEXTVAL(seq); DELETE FROM counters WHERE id = 20",
          false,
        ),
      );
      assertEquals(result.resultSets.map((s) => s.affectedRows), [1, null, 1]);
      assertEquals(result.resultSets[1]!.rows, [["1"]]);
    },
  );
});
