import { assert, assertEquals } from "../support/assert.ts";
import {
  cellText,
  type DbResultTextOptions,
  displayWidth,
  formatDbResult,
  table,
} from "../../gateway/format_db_result.ts";
import type {
  DbResultSet,
  DbResultSetsCut,
} from "../../executors/protocol/mod.ts";

const OPTIONS: DbResultTextOptions = {
  host: "pg.internal",
  database: "orders",
  dbType: "postgres",
  query:
    "SELECT COUNT(*) as orders_24h FROM orders WHERE created_at > NOW() - INTERVAL '24 hours'",
  maxRows: 1000,
  maxRowsLimit: 10000,
  maxCellChars: 2000,
  maxOutputBytes: 1048576,
};

function rows(
  columns: string[],
  data: DbResultSet["rows"],
  extra: Partial<DbResultSet> = {},
): DbResultSet {
  return {
    columns,
    rows: data,
    rowCount: data.length,
    rowsTruncated: null,
    affectedRows: null,
    command: "SELECT",
    ...extra,
  };
}

function statement(
  affectedRows: number | null,
  command: string | null = null,
): DbResultSet {
  return {
    columns: [],
    rows: [],
    rowCount: 0,
    rowsTruncated: null,
    affectedRows,
    command,
  };
}

Deno.test("formatDbResult() prints the manual's Example 3", () => {
  const text = formatDbResult({
    resultSets: [rows(["orders_24h"], [["1247"]])],
    elapsedMs: 8.4,
  }, OPTIONS);
  assertEquals(
    text,
    [
      "Host: pg.internal",
      "Database: orders (postgres)",
      "Query length: 88 chars",
      "Rows returned: 1",
      "Elapsed: 8ms",
      "",
      "orders_24h",
      "----------",
      "1247",
    ].join("\n"),
  );
});

Deno.test("formatDbResult() aligns columns and shows NULL, cut cells and wide characters", () => {
  const text = formatDbResult({
    resultSets: [
      rows(["id", "name", "note"], [
        ["1", "東京", null],
        ["22", "Zoë", { text: "abc", textTruncated: true, chars: 5000 }],
      ]),
    ],
    elapsedMs: 3,
  }, { ...OPTIONS, dbType: "mysql", maxCellChars: 3 });
  assertEquals(
    text.split("\n\n")[1],
    [
      "id  name  note",
      "--  ----  ----",
      "1   東京  NULL",
      "22  Zoë   abc…",
      "[1 cell cut at 3 characters (marked …); select a substring to see the rest]",
    ].join("\n"),
  );
});

Deno.test("formatDbResult() reports rows beyond max_rows and the output cap", () => {
  const capped = formatDbResult({
    resultSets: [
      rows(["n"], [["1"], ["2"]], {
        rowCount: 1500,
        rowsTruncated: "max_rows",
      }),
    ],
    elapsedMs: 1,
  }, { ...OPTIONS, maxRows: 2 });
  assertEquals(capped.split("\n")[3], "Rows returned: 1500 (2 shown)");
  assertEquals(
    capped.split("\n").at(-1),
    "[2 of 1500 rows shown: max_rows is 2; narrow the query (WHERE, LIMIT / TOP) or pass a larger max_rows (at most 10000)]",
  );
  const bytes = formatDbResult({
    resultSets: [
      rows(["n"], [["1"]], { rowCount: 9, rowsTruncated: "max_bytes" }),
    ],
    elapsedMs: 1,
  }, OPTIONS);
  assertEquals(
    bytes.split("\n").at(-1),
    "[1 of 9 rows shown: output truncated at 1048576 bytes; select fewer columns or rows]",
  );
});

Deno.test("formatDbResult() reports affected rows of a statement without rows", () => {
  const mysql = formatDbResult({
    resultSets: [statement(3)],
    elapsedMs: 2,
  }, { ...OPTIONS, dbType: "mysql", query: "UPDATE t SET a = 1" });
  assertEquals(
    mysql,
    [
      "Host: pg.internal",
      "Database: orders (mysql)",
      "Query length: 18 chars",
      "Rows returned: 0",
      "Rows affected: 3",
      "Elapsed: 2ms",
    ].join("\n"),
  );
  const postgres = formatDbResult({
    resultSets: [statement(3, "UPDATE")],
    elapsedMs: 2,
  }, OPTIONS);
  assertEquals(postgres.split("\n\n")[1], "UPDATE: 3 rows affected");
});

Deno.test("formatDbResult() shows every result set of a batch", () => {
  const text = formatDbResult({
    resultSets: [
      statement(1, "UPDATE"),
      rows(["a"], [["1"], ["2"]]),
      rows(["b"], []),
      statement(null, "CREATE TABLE"),
    ],
    elapsedMs: 5,
  }, OPTIONS);
  assertEquals(
    text.split("\n").slice(3).join("\n"),
    [
      "Rows returned: 2",
      "Rows affected: 1",
      "Elapsed: 5ms",
      "",
      "Result 1 of 4: UPDATE: 1 row affected",
      "",
      "Result 2 of 4: 2 rows",
      "a",
      "-",
      "1",
      "2",
      "",
      "Result 3 of 4: 0 rows",
      "b",
      "-",
      "(0 rows)",
      "",
      "Result 4 of 4: CREATE TABLE",
    ].join("\n"),
  );
});

Deno.test("formatDbResult() reports result sets past the result-set cap and the output cap", () => {
  const kept = [rows(["a"], []), rows(["b"], [])];
  const notice = (cut: DbResultSetsCut): string | undefined =>
    formatDbResult({ resultSets: kept, resultSetsCut: cut, elapsedMs: 1 }, {
      ...OPTIONS,
      maxOutputBytes: 2048,
    }).split("\n\n").at(-1);
  assertEquals(
    notice({ reason: "max_result_sets", rest: "drained", dropped: 14000 }),
    "[result sets after the first 2 not shown: a query returns at most 1000 result sets; the query ran to its end and 14000 more were dropped; split the query or make it return fewer result sets]",
  );
  assertEquals(
    notice({
      reason: "max_result_sets",
      rest: "connection_closed",
      dropped: null,
    }),
    "[result sets after the first 2 not shown: a query returns at most 1000 result sets; the connection was closed there, so later statements did not run and an open transaction was rolled back; split the query or make it return fewer result sets]",
  );
  assertEquals(
    notice({ reason: "max_bytes", rest: "cancelled", dropped: null }),
    "[result sets after the first 2 not shown: output truncated at 2048 bytes; the batch was cancelled there, so later statements did not run; split the query or make it return fewer result sets]",
  );
  const none = formatDbResult({ resultSets: [], elapsedMs: 1 }, OPTIONS);
  assert(!none.includes("not shown"), none);
});

Deno.test("formatDbResult() shows an empty result set with its header", () => {
  const text = formatDbResult({
    resultSets: [rows(["id", "name"], [])],
    elapsedMs: 1,
  }, OPTIONS);
  assertEquals(text.split("\n\n")[1], "id  name\n--  ----\n(0 rows)");
});

Deno.test("cellText() keeps a cell on one line", () => {
  assertEquals(cellText("a\nb\tc\r\u0007"), "a\\nb\\tc\\r\\x07");
  assertEquals(cellText(null), "NULL");
  assertEquals(cellText("NULL"), "NULL");
});

Deno.test("table() pads to the widest cell and trims trailing spaces", () => {
  assertEquals(table(["x", "y"], [["100", ""], ["1", "2"]]), [
    "x    y",
    "---  -",
    "100",
    "1    2",
  ]);
});

Deno.test("formatDbResult() names an unnamed column", () => {
  const text = formatDbResult({
    resultSets: [rows([""], [["1"]])],
    elapsedMs: 1,
  }, OPTIONS);
  assertEquals(text.split("\n\n")[1], "(no name)\n---------\n1");
});

Deno.test("displayWidth() counts wide characters twice and combining marks not at all", () => {
  assertEquals(displayWidth("abc"), 3);
  assertEquals(displayWidth("東京"), 4);
  assertEquals(displayWidth("🎉"), 2);
  assertEquals(displayWidth("e\u0301"), 1);
});
