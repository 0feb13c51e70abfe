/**
 * db_query end to end: the real gateway (`deno task start`), the CCP
 * emulator and the MCP SDK client over HTTP, against the machine's
 * PostgreSQL and MariaDB, a SCRAM + TLS PostgreSQL of the tests' own, and
 * the TDS test server standing in for SQL Server.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../support/assert.ts";
import {
  announceDbSkip,
  createMariadbFixture,
  createPostgresFixture,
  mariadbSkipReason,
  NUMBER_ROWS,
  postgresSkipReason,
  type PrivateDbServer,
  randomPassword,
  startPrivatePostgres,
} from "../support/databases.ts";
import { startCcpFixture } from "../support/ccp_fixture.ts";
import { startGateway } from "../support/gateway_process.ts";
import { assertNoLeak, assertTargetAudit } from "../support/log_lines.ts";
import {
  assertListsOneTool,
  assertUsableOnce,
  callToolText,
  connectMcp,
  issueHandle,
  type ToolOutcome,
} from "../support/mcp_client.ts";
import {
  startTdsServer,
  SYNTAX_ERROR,
  type TdsQueryHandler,
  WAITFOR_30S,
  WAITFOR_30S_ANSWER,
} from "../support/tds_server/mod.ts";
import { createTlsFixtures } from "../support/tls_fixtures.ts";

const pgSkip = await announceDbSkip(postgresSkipReason());
const mariadbSkip = await announceDbSkip(mariadbSkipReason());
const SAFE = "DB";

/** The queries of the suite, in each engine's dialect. */
const QUERIES = {
  rows: "SELECT id, name, born FROM people ORDER BY id",
  none: "SELECT n FROM numbers WHERE n < 0",
  update: "UPDATE counters SET hits = hits + 1",
  cap: "SELECT n FROM numbers ORDER BY n",
  notes: "SELECT note FROM notes",
  syntax: "SELEC 1",
} as const;

const ROWS_TABLE = [
  "id  name         born",
  "--  -----------  ----------",
  "1   Zoë 東京 🎉  1990-05-17",
  "2   NULL         NULL",
  "3   long         NULL",
].join("\n");

/** The CyberArk platform of each engine's accounts (their handles are scoped to it). */
const PLATFORMS = {
  postgres: "PostgreSQL",
  mysql: "MySQL",
  mssql: "MSSql",
} as const;

/** Where one engine's data lives, and what differs between engines. */
interface EngineSpec {
  dbType: "postgres" | "mysql" | "mssql";
  host: string;
  port: number;
  database: string;
  username: string;
  password: string;
  /** Where a wrong password is refused (not a server that trusts everyone). */
  wrong: { port: number; database: string; username: string };
  sleep: string;
  /**
   * A query of more empty result sets than db_query keeps, and how the
   * executor ends it (null: covered against the TDS server elsewhere).
   */
  manyResultSets: { sql: string; rest: "drained" | "connection_closed" } | null;
  /** What the texts of failures must hold. */
  expect: { syntax: string; wrongPassword: string; timeout: string };
  /** The `.env` settings that let the gateway reach these servers. */
  env: Record<string, string>;
  /** The warning logged on every connection with those settings. */
  perCallWarning: string;
}

/** Runs the shared end-to-end steps against one engine. */
async function engineSuite(
  t: Deno.TestContext,
  spec: EngineSpec,
): Promise<void> {
  const wrongPassword = `Wrong-${randomPassword()}`;
  const ccp = await startCcpFixture(SAFE, [
    {
      Name: "db",
      Content: spec.password,
      UserName: spec.username,
      Address: spec.host,
      PolicyID: PLATFORMS[spec.dbType],
      Port: String(spec.port),
    },
    {
      Name: "wrong",
      Content: wrongPassword,
      UserName: spec.wrong.username,
      Address: spec.host,
      PolicyID: PLATFORMS[spec.dbType],
      Port: String(spec.wrong.port),
    },
  ]);
  const { key } = ccp;
  const gateway = await startGateway({ ...ccp.gatewayEnv, ...spec.env });
  const handles: string[] = [];
  let cyberark: Client | undefined;
  let database: Client | undefined;
  const handleFor = async (object: string): Promise<string> => {
    const handle = await issueHandle(cyberark!, {
      safe: SAFE,
      object_name: object,
    });
    handles.push(handle);
    return handle;
  };
  const query = async (
    sql: string,
    args: Record<string, unknown> = {},
  ): Promise<ToolOutcome> =>
    callToolText(database!, {
      name: "db_query",
      arguments: {
        host: spec.host,
        port: spec.port,
        database: spec.database,
        db_type: spec.dbType,
        query: sql,
        ...(args.secret_handle === undefined
          ? { secret_handle: await handleFor("db") }
          : {}),
        ...args,
      },
    });
  const header = (sql: string, rows: string): string =>
    [
      `Host: ${spec.host}`,
      `Database: ${spec.database} (${spec.dbType})`,
      `Query length: ${[...sql].length} chars`,
      `Rows returned: ${rows}`,
    ].join("\n");
  try {
    cyberark = await connectMcp(`${gateway.baseUrl}/mcp/cyberark`, key);
    database = await connectMcp(`${gateway.baseUrl}/mcp/database`, key);

    await t.step("db_query is listed with the manual's arguments", async () => {
      await assertListsOneTool(database!, "db_query", [
        "database",
        "db_type",
        "host",
        "max_rows",
        "port",
        "query",
        "secret_handle",
        "timeout_seconds",
      ]);
    });

    await t.step(
      "rows come back as the manual's text table and are audited",
      async () => {
        const { text, isError } = await query(QUERIES.rows);
        assertEquals(isError, false, text);
        assertEquals(
          text.replace(/Elapsed: \d+ms/, "Elapsed: Xms"),
          `${header(QUERIES.rows, "3")}\nElapsed: Xms\n\n${ROWS_TABLE}`,
        );
        const line = await gateway.waitFor((e) =>
          e.event === "db_queried" && e.query === QUERIES.rows
        );
        assertTargetAudit(line, { ...spec, withheld: ["Zoë"] });
        assertEquals(line.database, spec.database);
        assertEquals(line.db_type, spec.dbType);
        assertEquals(line.rows, 3);
        assertEquals(typeof line.elapsed_ms, "number");
      },
    );

    await t.step("a query without rows shows the empty table", async () => {
      const { text, isError } = await query(QUERIES.none);
      assertEquals(isError, false, text);
      assertStringIncludes(text, `${header(QUERIES.none, "0")}\n`);
      assert(text.endsWith("\n\nn\n-\n(0 rows)"), text);
    });

    await t.step("an UPDATE reports the rows it changed", async () => {
      const { text, isError } = await query(QUERIES.update);
      assertEquals(isError, false, text);
      assertStringIncludes(
        text,
        `${header(QUERIES.update, "0")}\nRows affected: 3\nElapsed: `,
      );
    });

    await t.step(
      "rows beyond max_rows are counted and cut with a notice",
      async () => {
        const { text, isError } = await query(QUERIES.cap, { max_rows: 10 });
        assertEquals(isError, false, text);
        assertStringIncludes(
          text,
          `${header(QUERIES.cap, `${NUMBER_ROWS} (10 shown)`)}\n`,
        );
        assertStringIncludes(
          text,
          "\n9\n10\n[10 of 1500 rows shown: max_rows is 10;",
        );
        assert(!text.includes("\n11\n"), "row 11 shown");
      },
    );

    await t.step(
      "a row holding the password comes back as [REDACTED]",
      async () => {
        const { text, isError } = await query(QUERIES.notes);
        assertEquals(isError, false, text);
        assertStringIncludes(text, "\ndb password is [REDACTED]");
        assert(!text.includes(spec.password));
      },
    );

    await t.step(
      "a syntax error is a tool error with the database's own message",
      async () => {
        const { text, isError } = await query(QUERIES.syntax);
        assertEquals(isError, true);
        assertStringIncludes(text, "Query failed: ");
        assertStringIncludes(text, spec.expect.syntax);
        const line = await gateway.waitFor((e) =>
          e.event === "db_queried" && e.query === QUERIES.syntax
        );
        assertEquals(line.error_code, "driver_error");
        assertEquals(line.level, "warning");
      },
    );

    await t.step("a wrong password is refused", async () => {
      const { text, isError } = await callToolText(database!, {
        name: "db_query",
        arguments: {
          host: spec.host,
          port: spec.wrong.port,
          database: spec.wrong.database,
          db_type: spec.dbType,
          query: "SELECT 1",
          secret_handle: await handleFor("wrong"),
        },
      });
      assertEquals(isError, true);
      assertStringIncludes(text, "Login refused: ");
      assertStringIncludes(text, spec.expect.wrongPassword);
      assertStringIncludes(text, "Check the credential in CyberArk");
      assert(!text.includes(wrongPassword));
    });

    await t.step("the timeout stops a long statement", async () => {
      const started = Date.now();
      const { text, isError } = await query(spec.sleep, {
        timeout_seconds: 2,
      });
      assertEquals(isError, true);
      assertStringIncludes(text, "Query timed out after 2 s and was stopped");
      assertStringIncludes(text, spec.expect.timeout);
      // The statement sleeps 30 s: an answer well before that means the
      // timeout stopped it (a loaded machine may add seconds, never 15).
      assert(
        Date.now() - started < 15_000,
        "the statement ran on past its timeout",
      );
    });

    const many = spec.manyResultSets;
    if (many !== null) {
      await t.step(
        "a query of 1500 empty result sets is capped at 1000 with a notice and audited",
        async () => {
          const { text, isError } = await query(many.sql);
          assertEquals(isError, false, text);
          assertStringIncludes(
            text,
            "[result sets after the first 1000 not shown: a query returns at most 1000 result sets;",
          );
          const line = await gateway.waitFor((e) =>
            e.event === "db_queried" && e.result_sets_cut !== null &&
            e.result_sets_cut !== undefined
          );
          assertEquals(line.result_sets_cut, "max_result_sets");
          assertEquals(line.result_sets_rest, many.rest);
          assertEquals(line.result_sets, 1000);
          assertEquals(line.truncated, true);
          if (many.rest === "drained") {
            assertEquals(line.result_sets_dropped, 500);
          }
        },
      );
    }

    await t.step("a handle cannot be used twice", async () => {
      await assertUsableOnce(
        (secret_handle) => query("SELECT 1", { secret_handle }),
        await handleFor("db"),
      );
    });

    await t.step(
      "a malformed host or database name is refused before the handle is used",
      async () => {
        const handle = await handleFor("db");
        for (
          const args of [
            { host: `${spec.host},10.0.0.1` },
            { database: "orders;DROP" },
            { database: "a b" },
          ]
        ) {
          const { text, isError } = await query("SELECT 1", {
            secret_handle: handle,
            ...args,
          });
          assertEquals(isError, true, JSON.stringify(args));
          assert(!text.includes("Handle"), text);
        }
        assertEquals(
          (await query("SELECT 1", { secret_handle: handle })).isError,
          false,
        );
      },
    );

    await t.step(
      "the insecure TLS setting is logged at start-up and on every connection",
      () => {
        const warnings = gateway.events().filter((e) =>
          e.level === "warning" &&
          String(e.event).startsWith(spec.perCallWarning)
        );
        // One at start-up, then one per executed call.
        assert(warnings.length >= 10, `only ${warnings.length} warnings`);
      },
    );
  } finally {
    await cyberark?.close();
    await database?.close();
    await gateway.stop();
    await ccp.close();
  }
  assertNoLeak(gateway.lines, [spec.password, wrongPassword, key, ...handles]);
}

Deno.test({
  name: "db_query end to end against PostgreSQL",
  ignore: pgSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const fx = await createPostgresFixture();
    const tls = createTlsFixtures();
    let scram: PrivateDbServer | undefined;
    try {
      scram = await startPrivatePostgres({
        cert: tls.serverCertPem,
        key: tls.serverKeyPem,
      });
      await engineSuite(t, {
        dbType: "postgres",
        host: fx.host,
        port: fx.port,
        database: fx.database,
        username: fx.username,
        password: fx.password,
        // The machine's PostgreSQL trusts local logins: the cluster of the
        // tests' own checks the password.
        wrong: {
          port: scram.port,
          database: scram.database,
          username: scram.username,
        },
        sleep: "SELECT pg_sleep(30)",
        manyResultSets: {
          sql: "SELECT 1 AS n WHERE false;".repeat(1500),
          rest: "drained",
        },
        expect: {
          syntax: 'ERROR 42601: syntax error at or near "SELEC"',
          wrongPassword:
            'FATAL 28P01: password authentication failed for user "postgres"',
          timeout: "canceling statement due to statement timeout",
        },
        env: { PG_SSLMODE: "disable" },
        perCallWarning: "PG_SSLMODE=disable",
      });

      await t.step(
        "PG_SSLMODE=verify-full with PG_SSL_CA queries over verified TLS without warnings",
        async () => {
          const dir = await Deno.makeTempDir({ prefix: "mcp-db-ca-" });
          await Deno.writeTextFile(`${dir}/ca.pem`, tls.caCertPem);
          const ccp = await startCcpFixture(SAFE, [{
            Name: "scram",
            Content: scram!.password,
            UserName: scram!.username,
            Address: "127.0.0.1",
            PolicyID: "PostgreSQL",
            Port: String(scram!.port),
          }]);
          const { key } = ccp;
          const gateway = await startGateway({
            ...ccp.gatewayEnv,
            PG_SSL_CA: `${dir}/ca.pem`,
          });
          try {
            const cyberark = await connectMcp(
              `${gateway.baseUrl}/mcp/cyberark`,
              key,
            );
            const database = await connectMcp(
              `${gateway.baseUrl}/mcp/database`,
              key,
            );
            const handle = await issueHandle(cyberark, {
              safe: SAFE,
              object_name: "scram",
            });
            const { text, isError } = await callToolText(database, {
              name: "db_query",
              arguments: {
                host: "127.0.0.1",
                port: scram!.port,
                database: "postgres",
                db_type: "postgres",
                query:
                  "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                secret_handle: handle,
              },
            });
            assertEquals(isError, false, text);
            assertMatch(text, /\ntrue {2}TLSv1\.[23]$/);
            await cyberark.close();
            await database.close();
          } finally {
            await gateway.stop();
            await ccp.close();
            await Deno.remove(dir, { recursive: true });
          }
          assertEquals(
            gateway.events().filter((e) =>
              e.level === "warning" && String(e.event).startsWith("PG_")
            ),
            [],
          );
        },
      );
    } finally {
      await scram?.stop();
      await fx.drop();
    }
  },
});

Deno.test({
  name: "db_query end to end against MariaDB",
  ignore: mariadbSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const fx = await createMariadbFixture();
    try {
      await engineSuite(t, {
        dbType: "mysql",
        host: fx.host,
        port: fx.port,
        database: fx.database,
        username: fx.username,
        password: fx.password,
        wrong: { port: fx.port, database: fx.database, username: fx.username },
        sleep: "SELECT SLEEP(30)",
        manyResultSets: {
          sql: "SELECT 1 AS n FROM DUAL WHERE 1=0;".repeat(1500),
          rest: "connection_closed",
        },
        expect: {
          syntax: "ERROR 1064 (42000): You have an error in your SQL syntax",
          wrongPassword: "ERROR 1045 (28000): Access denied for user",
          timeout: "max_statement_time exceeded",
        },
        env: { MYSQL_SSL: "disabled" },
        perCallWarning: "MYSQL_SSL=disabled",
      });
    } finally {
      await fx.drop();
    }
  },
});

Deno.test({
  name: "db_query end to end against SQL Server (TDS test server)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const password = randomPassword();
    const people = {
      columns: [
        { name: "id", type: "int" as const },
        { name: "name", type: "nvarchar" as const },
        { name: "born", type: "date" as const },
      ],
      rows: [
        [1, "Zoë 東京 🎉", new Date("1990-05-17T00:00:00Z")],
        [2, null, null],
        [3, "long", null],
      ],
    };
    const handler: TdsQueryHandler = (sql) => {
      switch (sql) {
        case QUERIES.rows:
          return people;
        case QUERIES.none:
          return { columns: [{ name: "n", type: "int" }], rows: [] };
        case QUERIES.update:
          return { rowsAffected: 3 };
        case QUERIES.cap:
          return {
            columns: [{ name: "n", type: "int" }],
            rows: Array.from({ length: NUMBER_ROWS }, (_, i) => [i + 1]),
          };
        case QUERIES.notes:
          return {
            columns: [{ name: "note", type: "nvarchar" }],
            rows: [[`db password is ${password}`]],
          };
        case QUERIES.syntax:
          return SYNTAX_ERROR;
        case WAITFOR_30S:
          return WAITFOR_30S_ANSWER;
        default:
          return { columns: [{ name: "", type: "int" }], rows: [[1]] };
      }
    };
    const server = await startTdsServer({
      users: { app_user: password },
      databases: ["appdb"],
      onQuery: handler,
    });
    try {
      await engineSuite(t, {
        dbType: "mssql",
        host: server.hostname,
        port: server.port,
        database: "appdb",
        username: "app_user",
        password,
        wrong: { port: server.port, database: "appdb", username: "app_user" },
        sleep: WAITFOR_30S,
        manyResultSets: null,
        expect: {
          syntax:
            "Msg 102, Level 15, State 1, Line 1: Incorrect syntax near '1'.",
          wrongPassword: "Login failed for user 'app_user'.",
          timeout: "ATTENTION",
        },
        env: { MSSQL_ENCRYPT: "false" },
        perCallWarning: "MSSQL_ENCRYPT=false",
      });
    } finally {
      await server.close();
    }
    assertEquals(server.errors, []);
    assert(server.attentions >= 1, "the timeout sent no ATTENTION");
  },
});
