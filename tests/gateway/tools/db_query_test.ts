/** db_query without a database: its failure texts (each names the engine's fix) and its audit fields. */
import type { ExecutorFailure } from "../../../executors/protocol/mod.ts";
import { loadConfig } from "../../../gateway/config/mod.ts";
import { dbFailureText, dbTool } from "../../../gateway/tools/db_query.ts";
import { runTargetOperation } from "../../../gateway/tools/_operation.ts";
import { audits, TIMING, withHarness } from "./_harness.ts";
import { assertEquals, assertStringIncludes } from "../../support/assert.ts";

const CONFIG = loadConfig({
  env: {
    MCP_API_KEYS: "d".repeat(8) + "0123456789abcdef0123456789abcdef",
    CYBERARK_CCP_URL:
      "https://cyberark.example.internal/AIMWebService/api/Accounts",
    CYBERARK_APP_ID: "MCP-Privileged-Service",
  },
  home: "/nonexistent",
});

const context = { limitMs: 12_000, config: CONFIG };

/**
 * The text for a failure with `code` and `message` from `dbType` (PostgreSQL
 * unless given) at `target` (db01:5432 unless given), with a 12 s limit.
 */
function textFor(
  code: ExecutorFailure["code"],
  message: string,
  dbType: Parameters<typeof dbFailureText>[1] = "postgres",
  target = { host: "db01", port: 5432 },
): string {
  return dbFailureText({ code, message }, dbType, target, context);
}

Deno.test("dbFailureText() names each engine's login rules for a refused login", () => {
  const cases = [
    ["postgres", "pg_hba.conf"],
    ["mysql", "'user'@'host'"],
    ["mssql", "SQL Server authentication enabled"],
  ] as const;
  for (const [dbType, rule] of cases) {
    const text = textFor(
      "auth_failed",
      "password authentication failed",
      dbType,
    );
    assertStringIncludes(text, "Login refused: password authentication failed");
    assertStringIncludes(text, rule);
  }
});

Deno.test("dbFailureText() gives the timeout in seconds and the configured maximum", () => {
  const text = textFor(
    "timeout",
    "canceling statement due to statement timeout",
  );
  assertStringIncludes(text, "Query timed out after 12 s");
  assertStringIncludes(
    text,
    `at most ${CONFIG.executors.maxTimeoutSeconds}`,
  );
});

Deno.test("dbFailureText() writes an IPv6 target in brackets", () => {
  assertEquals(
    textFor("connection_failed", "connection refused (ECONNREFUSED)", "mysql", {
      host: "::1",
      port: 3306,
    }),
    "Cannot connect to MySQL at [::1]:3306: connection refused (ECONNREFUSED)",
  );
});

Deno.test("dbFailureText() passes the database's own error through", () => {
  assertEquals(
    textFor("driver_error", 'relation "nope" does not exist'),
    'Query failed: relation "nope" does not exist',
  );
});

Deno.test("db_query audits a result cut at the result-set cap: why, how the query ended, what was dropped", async () => {
  await withHarness(
    async (h) => {
      const result = await runTargetOperation(
        dbTool(
          { database: "app", db_type: "postgres", query: "CALL p()" },
          h.context,
        ),
        {
          host: h.bound.host,
          port: h.bound.port,
          secretHandle: h.handle,
          timeoutSeconds: 5,
          args: {},
        },
        h.context,
      );
      assertEquals(result.isError, undefined);
      const [line] = audits(h.records);
      assertEquals(line?.properties.result_sets, 1);
      assertEquals(line?.properties.result_sets_cut, "max_result_sets");
      assertEquals(line?.properties.result_sets_rest, "drained");
      assertEquals(line?.properties.result_sets_dropped, 2999);
      assertEquals(line?.properties.truncated, true);
    },
    () =>
      Promise.resolve({
        ok: true,
        result: {
          kind: "postgres",
          resultSets: [{
            columns: ["n"],
            rows: [],
            rowCount: 0,
            rowsTruncated: null,
            affectedRows: null,
            command: "SELECT",
          }],
          resultSetsCut: {
            reason: "max_result_sets",
            rest: "drained",
            dropped: 2999,
          },
          elapsedMs: 3,
        },
        timing: TIMING,
      }),
    { policyId: "PostgreSQL", port: 5432, protocol: "postgres" },
  );
});
