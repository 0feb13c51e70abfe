/**
 * The SQL Server executor, spawned by the real spawner with its production
 * flags (`--allow-net=HOST:PORT --allow-env`, no `--allow-sys`), against the
 * wire-level TDS test server.
 */
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import {
  type DbCall,
  failureOf,
  resultOf,
  runDb,
} from "../../support/db_executor.ts";
import {
  answerTransactionState,
  type RunningTdsServer,
  startTdsServer,
  SYNTAX_ERROR,
  type TdsQueryHandler,
  type TdsRequestRecord,
  TRANSACTION_STATE_QUERY,
  WAITFOR_30S,
  WAITFOR_30S_ANSWER,
} from "../../support/tds_server/mod.ts";
import { createTlsFixtures } from "../../support/tls_fixtures.ts";
import type { MssqlTls } from "../../../executors/protocol/mod.ts";
import { freePort } from "../../support/free_port.ts";
import {
  assertNoteRedacted,
  assertResultSetsCut,
  longName,
} from "./_db_cases.ts";

const USER = "app_reader";
const PASSWORD = "Tds-S3cret-pässword";
const PLAIN: MssqlTls = { encrypt: false, trustServerCertificate: false };
const ENCRYPT: MssqlTls = { encrypt: true, trustServerCertificate: false };

/** A loop of empty SELECTs, as in the security review's repro. */
const EMPTY_SELECT_LOOP =
  `DECLARE @i int = 0; WHILE @i < 3000000 BEGIN SELECT 1 AS ${
    longName("a")
  }, 2 AS ${longName("b")} WHERE 1 = 0; SET @i += 1; END`;
/** How many empty result sets the test server answers the loop with. */
const EMPTY_SETS = 5000;

/** Batches that end the transaction they run in, as SQL Server answers them. */
const COMMIT_THEN_WRITE = "COMMIT; INSERT INTO counters VALUES (13, 0)";
const ROLLBACK_THEN_WRITE = "ROLLBACK; INSERT INTO counters VALUES (13, 0)";
const COMMIT_WRITE_BEGIN =
  "COMMIT; INSERT INTO counters VALUES (13, 0); BEGIN TRANSACTION";
const COMMIT_THEN_FAIL =
  "COMMIT; INSERT INTO counters VALUES (13, 0); SELECT 1 / 0";
const DIVIDE_BY_ZERO = {
  error: {
    number: 8134,
    state: 1,
    class: 16,
    message: "Divide by zero error encountered.",
  },
} as const;

const handler: TdsQueryHandler = (sql, ctx) => {
  switch (sql) {
    case TRANSACTION_STATE_QUERY:
      return answerTransactionState(ctx);
    case "UPDATE counters SET hits = hits + 1":
      return { rowsAffected: 3 };
    case COMMIT_THEN_WRITE:
      return [{ transaction: "commit" }, { rowsAffected: 1 }];
    case ROLLBACK_THEN_WRITE:
      return [{ transaction: "rollback" }, { rowsAffected: 1 }];
    case COMMIT_WRITE_BEGIN:
      return [
        { transaction: "commit" },
        { rowsAffected: 1 },
        { transaction: "begin" },
      ];
    case COMMIT_THEN_FAIL:
      return [{ transaction: "commit" }, { rowsAffected: 1 }, DIVIDE_BY_ZERO];
    case "SELECT * FROM people":
      return {
        columns: [
          { name: "id", type: "int", nullable: false },
          { name: "name", type: "nvarchar", length: 100 },
          { name: "at", type: "datetime2" },
          { name: "day", type: "date" },
          { name: "photo", type: "varbinary", length: 16 },
          { name: "flag", type: "bit" },
          { name: "price", type: "decimal", precision: 10, scale: 2 },
          { name: "big", type: "bigint" },
          { name: "note", type: "nvarchar", length: "max" },
        ],
        rows: [
          [
            1,
            "Zoë 東京 🎉",
            new Date("2024-02-29T13:45:56.789Z"),
            new Date("1990-05-17T00:00:00Z"),
            new Uint8Array([0, 255, 16]),
            true,
            "12345.67",
            "9007199254740993",
            "x".repeat(5000),
          ],
          [2, null, null, null, null, null, null, null, null],
        ],
      };
    case "UPDATE counters SET hits = hits + 1; SELECT n FROM numbers":
      return [
        { rowsAffected: 3 },
        {
          columns: [{ name: "n", type: "int" }],
          rows: Array.from({ length: 1500 }, (_, i) => [i + 1]),
        },
      ];
    case "SELECT note FROM notes":
      return {
        columns: [{ name: "note", type: "nvarchar" }],
        rows: [[`db password is ${PASSWORD}`]],
      };
    case "SELEC 1":
      return SYNTAX_ERROR;
    case WAITFOR_30S:
      return WAITFOR_30S_ANSWER;
    case EMPTY_SELECT_LOOP: {
      const empty = {
        columns: [
          { name: longName("a"), type: "int" },
          { name: longName("b"), type: "int" },
        ],
        rows: [],
      } as const;
      return Array.from({ length: EMPTY_SETS }, () => empty);
    }
    default:
      return { columns: [{ name: "ok", type: "int" }], rows: [[1]] };
  }
};

async function withServer(
  options: { encryption?: "on"; tls?: { cert: string; key: string } },
  body: (
    server: RunningTdsServer,
    call: (extra: Partial<DbCall>) => DbCall,
  ) => Promise<void>,
): Promise<void> {
  const server = await startTdsServer({
    users: { [USER]: PASSWORD },
    databases: ["appdb"],
    onQuery: handler,
    ...options,
  });
  const call = (extra: Partial<DbCall>): DbCall => ({
    host: server.hostname,
    port: server.port,
    username: USER,
    password: PASSWORD,
    database: "appdb",
    query: "SELECT 1 AS ok",
    ...extra,
  });
  try {
    await body(server, call);
  } finally {
    await server.close();
  }
  assertEquals(server.errors, [], "the TDS server dropped a connection");
}

Deno.test({
  name: "mssql executor against the TDS test server",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await withServer({}, async (server, call) => {
      await t.step(
        "cells come back as text: NULL, ISO dates, binary as hex, unicode, cut long cells",
        async () => {
          const result = resultOf(
            await runDb(
              "mssql",
              call({ query: "SELECT * FROM people", maxCellChars: 100 }),
              PLAIN,
            ),
          );
          assertEquals(result.kind, "mssql");
          const [set] = result.resultSets;
          assertEquals(set!.rows[0]!.slice(0, 8), [
            "1",
            "Zoë 東京 🎉",
            "2024-02-29T13:45:56.789",
            "1990-05-17",
            "0x00ff10",
            "true",
            "12345.67",
            "9007199254740993",
          ]);
          assertEquals(set!.rows[0]![8], {
            text: "x".repeat(100),
            textTruncated: true,
            chars: 5000,
          });
          assertEquals(set!.rows[1], [
            "2",
            null,
            null,
            null,
            null,
            null,
            null,
            null,
            null,
          ]);
        },
      );

      await t.step(
        "the query goes out as one SQL batch and logs in as workstation mcp-privileged",
        () => {
          const request = server.requests.find((r) =>
            r.sql === "SELECT * FROM people"
          );
          assertEquals(request?.kind, "sql_batch");
          assert(server.logins.length > 0);
          for (const login of server.logins) {
            assertEquals(login.hostName, "mcp-privileged");
            assertEquals(login.appName, "mcp-privileged");
            assertEquals(login.database, "appdb");
          }
        },
      );

      await t.step(
        "a row count and a capped result set come back in order",
        async () => {
          const result = resultOf(
            await runDb(
              "mssql",
              call({
                query:
                  "UPDATE counters SET hits = hits + 1; SELECT n FROM numbers",
                maxRows: 10,
              }),
              PLAIN,
            ),
          );
          const [update, select] = result.resultSets;
          assertEquals(update!.columns, []);
          assertEquals(update!.affectedRows, 3);
          assertEquals(select!.rows.length, 10);
          assertEquals(select!.rowCount, 1500);
          assertEquals(select!.rowsTruncated, "max_rows");
        },
      );

      await t.step(
        "a batch of 5000 empty result sets is cut at the result-set cap by closing the connection, within the memory limit",
        async () => {
          assertResultSetsCut(
            await runDb(
              "mssql",
              call({ query: EMPTY_SELECT_LOOP, timeoutMs: 20_000 }),
              PLAIN,
            ),
            "connection_closed",
          );
        },
      );

      await t.step("a cell holding the password is redacted", async () => {
        assertNoteRedacted(
          await runDb(
            "mssql",
            call({ query: "SELECT note FROM notes" }),
            PLAIN,
          ),
        );
      });

      await t.step(
        "the server's errors come back: syntax, login failed, unknown database, refused connection",
        async () => {
          failureOf(
            await runDb("mssql", call({ query: "SELEC 1" }), PLAIN),
            "driver_error",
            ["Msg 102, Level 15, State 1, Line 1: Incorrect syntax near '1'."],
          );
          failureOf(
            await runDb(
              "mssql",
              call({ password: `${PASSWORD}-wrong` }),
              PLAIN,
            ),
            "auth_failed",
            [`Login failed for user '${USER}'`],
          );
          failureOf(
            await runDb("mssql", call({ database: "nope" }), PLAIN),
            "driver_error",
            ['Cannot open database "nope"'],
          );
          failureOf(
            await runDb("mssql", call({ port: freePort() }), PLAIN),
            "connection_failed",
            ["ECONNREFUSED"],
          );
        },
      );

      await t.step(
        "the batch is cancelled on the server (ATTENTION) at the time limit",
        async () => {
          const before = server.attentions;
          const started = Date.now();
          failureOf(
            await runDb(
              "mssql",
              call({ query: WAITFOR_30S, timeoutMs: 2500 }),
              PLAIN,
            ),
            "timeout",
            ["ATTENTION"],
          );
          // WAITFOR waits 30 s: an answer in half that means it was cut,
          // with room for a loaded machine.
          assert(Date.now() - started < 15_000, "the batch was not cut");
          assertEquals(server.attentions, before + 1);
          const waited = server.requests.find((r) => r.sql === WAITFOR_30S);
          assertEquals(waited?.canceled, true);
        },
      );

      await t.step(
        "MSSQL_ENCRYPT=true refuses a server that does not encrypt",
        async () => {
          failureOf(
            await runDb("mssql", call({}), ENCRYPT),
            "tls_failed",
            ["did not negotiate encryption", "MSSQL_ENCRYPT=false"],
          );
        },
      );
    });
  },
});

Deno.test({
  name: "mssql executor verifies the certificate of a TDS server with TLS",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const tls = createTlsFixtures();
    await withServer({
      encryption: "on",
      tls: { cert: tls.serverCertPem, key: tls.serverKeyPem },
    }, async (server, call) => {
      await t.step("encrypt with the CA logs in over TLS", async () => {
        resultOf(
          await runDb("mssql", call({}), { ...ENCRYPT, ca: tls.caCertPem }),
        );
        assert(server.logins.length > 0);
        assert(server.logins.every((l) => l.encrypted && l.passwordOk));
      });

      await t.step(
        "without the CA the certificate is refused; trust-server-certificate accepts it",
        async () => {
          const failed = failureOf(
            await runDb("mssql", call({}), ENCRYPT),
            "tls_failed",
            ["MSSQL_SSL_CA"],
          );
          assertMatch(failed.message, /certificate/i);
          resultOf(
            await runDb("mssql", call({}), {
              ...ENCRYPT,
              trustServerCertificate: true,
            }),
          );
        },
      );

      await t.step(
        "a server that requires encryption refuses MSSQL_ENCRYPT=false",
        async () => {
          failureOf(await runDb("mssql", call({}), PLAIN), "tls_failed", [
            "Server requires encryption",
          ]);
        },
      );
    });
  },
});

/** The requests of one call: those after the last login's first request. */
function requestsSince(
  server: RunningTdsServer,
  start: number,
): { kind: string; sql: string; descriptor: bigint }[] {
  return server.requests.slice(start).map((r: TdsRequestRecord) => ({
    kind: r.kind,
    sql: r.sql,
    descriptor: r.transactionDescriptor,
  }));
}

Deno.test({
  name: "mssql executor read-only against the TDS test server",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await withServer({}, async (server, call) => {
      const readOnly = (query: string, extra: Partial<DbCall> = {}): DbCall =>
        call({ query, readOnly: true, ...extra });
      const ENDED = [
        "ran a read-only query",
        "the batch ended the transaction the executor runs it in",
        "give read-only rules a login with read-only grants",
      ];

      await t.step(
        "the login declares ReadOnlyIntent; readOnly=false does not",
        async () => {
          const before = server.logins.length;
          resultOf(await runDb("mssql", readOnly("SELECT 1 AS ok"), PLAIN));
          const readOnlyLogins = server.logins.slice(before);
          assert(readOnlyLogins.length > 0);
          assert(readOnlyLogins.every((l) => l.readOnlyIntent));
          const between = server.logins.length;
          resultOf(await runDb("mssql", call({}), PLAIN));
          assert(server.logins.slice(between).every((l) => !l.readOnlyIntent));
        },
      );

      await t.step(
        "the batch runs inside a transaction checked before and after, then rolled back",
        async () => {
          const start = server.requests.length;
          const result = resultOf(
            await runDb(
              "mssql",
              readOnly("UPDATE counters SET hits = hits + 1"),
              PLAIN,
            ),
          );
          assertEquals(result.resultSets.length, 1);
          assertEquals(result.resultSets[0]!.affectedRows, 3);
          const requests = requestsSince(server, start);
          const begun = requests.find((r) => r.kind === "transaction");
          assertEquals(begun?.sql, "begin transaction");
          // The descriptor of the transaction the server began.
          const inside = requests.find((r) =>
            r.sql === "UPDATE counters SET hits = hits + 1"
          )!.descriptor;
          assert(inside > 0n, "the batch was not sent inside a transaction");
          assertEquals(
            requests.filter((r) =>
              r.descriptor === inside
            ).map((r) => r.sql),
            [
              TRANSACTION_STATE_QUERY,
              "UPDATE counters SET hits = hits + 1",
              TRANSACTION_STATE_QUERY,
              "rollback transaction",
            ],
          );
          assert(!requests.some((r) => r.sql === "commit transaction"));
        },
      );

      await t.step(
        "readOnly=false sends the batch alone, outside a transaction",
        async () => {
          const start = server.requests.length;
          resultOf(
            await runDb(
              "mssql",
              call({ query: "UPDATE counters SET hits = hits + 1" }),
              PLAIN,
            ),
          );
          const requests = requestsSince(server, start).filter((r) =>
            r.kind !== "sql_batch" || !/^SET /i.test(r.sql)
          );
          assertEquals(
            requests.filter((r) => r.sql !== "SELECT 1"),
            [{
              kind: "sql_batch",
              sql: "UPDATE counters SET hits = hits + 1",
              descriptor: 0n,
            }],
          );
        },
      );

      await t.step(
        "a batch that COMMITs and writes is reported as failed, with the reason",
        async () => {
          failureOf(
            await runDb("mssql", readOnly(COMMIT_THEN_WRITE), PLAIN),
            "driver_error",
            ENDED,
          );
        },
      );

      await t.step(
        "a batch that ROLLBACKs and writes is reported as failed",
        async () => {
          failureOf(
            await runDb("mssql", readOnly(ROLLBACK_THEN_WRITE), PLAIN),
            "driver_error",
            ENDED,
          );
        },
      );

      await t.step(
        "a batch that COMMITs, writes and begins a new transaction is caught by the transaction id",
        async () => {
          failureOf(
            await runDb("mssql", readOnly(COMMIT_WRITE_BEGIN), PLAIN),
            "driver_error",
            ENDED,
          );
        },
      );

      await t.step(
        "a batch that COMMITs, writes and fails reports both",
        async () => {
          failureOf(
            await runDb("mssql", readOnly(COMMIT_THEN_FAIL), PLAIN),
            "driver_error",
            [...ENDED, "the batch also failed", "Msg 8134"],
          );
        },
      );

      await t.step(
        "a failing batch that leaves the transaction open reports its own error and is rolled back",
        async () => {
          const start = server.requests.length;
          failureOf(
            await runDb("mssql", readOnly("SELEC 1"), PLAIN),
            "driver_error",
            ["Msg 102, Level 15, State 1, Line 1: Incorrect syntax near '1'."],
          );
          assert(
            requestsSince(server, start).some((r) =>
              r.sql === "rollback transaction"
            ),
          );
        },
      );

      await t.step(
        "a batch cut at the result-set cap cannot be checked and is reported as failed",
        async () => {
          failureOf(
            await runDb(
              "mssql",
              readOnly(EMPTY_SELECT_LOOP, { timeoutMs: 20_000 }),
              PLAIN,
            ),
            "driver_error",
            ["more result sets than the cap", "could check"],
          );
        },
      );
    });
  },
});
