/**
 * The text `db_query` returns, as the operations manual's Example 3 shows it:
 * a header (`Host:`, `Database:`, `Query length:`, `Rows returned:`,
 * `Elapsed:`), a blank line, then an aligned text table per result set, with
 * a visible notice wherever rows, cells or whole result sets were cut.
 *
 * @module
 */
import {
  type DbCell,
  type DbResult,
  type DbResultSet,
  type DbResultSetsCut,
  MAX_RESULT_SETS,
} from "../executors/protocol/mod.ts";

/** What the text says besides the result itself. */
export interface DbResultTextOptions {
  /** The host as validated (canonical form). */
  host: string;
  database: string;
  dbType: "postgres" | "mysql" | "mssql";
  /** The SQL text the model sent. */
  query: string;
  /** The row cap of this call. */
  maxRows: number;
  /** The largest `max_rows` a call may ask for. */
  maxRowsLimit: number;
  /** The cell cap of this call, in characters. */
  maxCellChars: number;
  /** The output cap of this call, in bytes. */
  maxOutputBytes: number;
}

/** Shown for SQL NULL. */
export const NULL_TEXT = "NULL";
/** Marks a cell cut at the cell cap. */
export const CUT_MARK = "…";
const COLUMN_GAP = "  ";

/** Renders a query result as the manual's text. */
export function formatDbResult(
  result: Pick<DbResult, "resultSets" | "resultSetsCut" | "elapsedMs">,
  options: DbResultTextOptions,
): string {
  const sets = result.resultSets;
  const withRows = sets.filter((s) => s.columns.length > 0);
  const returned = withRows.reduce((sum, s) => sum + s.rowCount, 0);
  const shown = withRows.reduce((sum, s) => sum + s.rows.length, 0);
  const counted = sets.filter((s) =>
    s.columns.length === 0 && s.affectedRows !== null
  );
  const header = [
    `Host: ${options.host}`,
    `Database: ${options.database} (${options.dbType})`,
    `Query length: ${[...options.query].length} chars`,
    `Rows returned: ${returned}${shown < returned ? ` (${shown} shown)` : ""}`,
  ];
  if (counted.length > 0) {
    header.push(
      `Rows affected: ${
        counted.reduce((sum, s) => sum + (s.affectedRows ?? 0), 0)
      }`,
    );
  }
  header.push(`Elapsed: ${Math.round(result.elapsedMs)}ms`);

  const blocks: string[] = [];
  if (sets.length === 1 && sets[0]!.columns.length > 0) {
    blocks.push(resultSetText(sets[0]!, options));
  } else if (sets.length > 1) {
    sets.forEach((set, i) => {
      const title = `Result ${i + 1} of ${sets.length}: ${summary(set)}`;
      blocks.push(
        set.columns.length === 0
          ? title
          : `${title}\n${resultSetText(set, options)}`,
      );
    });
  } else if (sets.length === 1 && sets[0]!.command !== null) {
    blocks.push(summary(sets[0]!));
  }
  if (result.resultSetsCut !== undefined) {
    blocks.push(resultSetsNotice(result.resultSetsCut, sets.length, options));
  }
  return [header.join("\n"), ...blocks].join("\n\n");
}

/** The notice of result sets not kept, and what became of the rest. */
function resultSetsNotice(
  cut: DbResultSetsCut,
  kept: number,
  options: DbResultTextOptions,
): string {
  const limit = cut.reason === "max_result_sets"
    ? `a query returns at most ${MAX_RESULT_SETS} result sets`
    : `output truncated at ${options.maxOutputBytes} bytes`;
  const rest = cut.rest === "drained"
    ? `the query ran to its end and ${cut.dropped ?? 0} more were dropped`
    : cut.rest === "cancelled"
    ? "the batch was cancelled there, so later statements did not run"
    : "the connection was closed there, so later statements did not run and an open transaction was rolled back";
  return `[result sets after the first ${kept} not shown: ${limit}; ${rest}; split the query or make it return fewer result sets]`;
}

/** One line about one statement: `2 rows`, `UPDATE: 3 rows affected`, `CREATE TABLE`. */
function summary(set: DbResultSet): string {
  if (set.columns.length > 0) {
    return set.rows.length < set.rowCount
      ? `${plural(set.rowCount, "row")} (${set.rows.length} shown)`
      : plural(set.rowCount, "row");
  }
  const parts: string[] = [];
  if (set.command !== null) parts.push(set.command);
  if (set.affectedRows !== null) {
    parts.push(`${plural(set.affectedRows, "row")} affected`);
  }
  return parts.length === 0 ? "OK" : parts.join(": ");
}

/** The aligned table of one result set, with its notices. */
function resultSetText(
  set: DbResultSet,
  options: DbResultTextOptions,
): string {
  const lines = table(
    set.columns.map((name) => name === "" ? "(no name)" : cellLine(name)),
    set.rows.map((row) => row.map(cellText)),
  );
  if (set.rowCount === 0) lines.push("(0 rows)");
  const cut = set.rows.reduce(
    (sum, row) =>
      sum +
      row.filter((c) => c !== null && typeof c === "object").length,
    0,
  );
  if (cut > 0) {
    lines.push(
      `[${
        plural(cut, "cell")
      } cut at ${options.maxCellChars} characters (marked ${CUT_MARK}); select a substring to see the rest]`,
    );
  }
  if (set.rowsTruncated === "max_rows") {
    lines.push(
      `[${set.rows.length} of ${set.rowCount} rows shown: max_rows is ${options.maxRows}; narrow the query (WHERE, LIMIT / TOP) or pass a larger max_rows (at most ${options.maxRowsLimit})]`,
    );
  } else if (set.rowsTruncated === "max_bytes") {
    lines.push(
      `[${set.rows.length} of ${set.rowCount} rows shown: output truncated at ${options.maxOutputBytes} bytes; select fewer columns or rows]`,
    );
  }
  return lines.join("\n");
}

/** Header, dashes and rows, left-aligned in columns two spaces apart. */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string[] {
  const widths = header.map((name, i) =>
    Math.max(
      displayWidth(name),
      ...rows.map((row) => displayWidth(row[i] ?? "")),
    )
  );
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) =>
      cell + " ".repeat(Math.max(0, (widths[i] ?? 0) - displayWidth(cell)))
    ).join(COLUMN_GAP).trimEnd();
  return [
    line(header),
    line(widths.map((w) => "-".repeat(Math.max(1, w)))),
    ...rows.map(line),
  ];
}

/** A cell as one line of table text. */
export function cellText(cell: DbCell): string {
  if (cell === null) return NULL_TEXT;
  if (typeof cell === "string") return cellLine(cell);
  return `${cellLine(cell.text)}${CUT_MARK}`;
}

/** Escapes line breaks, tabs and other control characters so a cell stays on one line. */
function cellLine(text: string): string {
  // deno-lint-ignore no-control-regex -- control characters are what is escaped
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => {
    switch (c) {
      case "\n":
        return "\\n";
      case "\r":
        return "\\r";
      case "\t":
        return "\\t";
      default:
        return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
    }
  });
}

/**
 * Columns a string takes in a monospaced terminal: two for East Asian wide
 * and fullwidth characters and emoji, none for combining marks, one otherwise.
 */
export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (
      (code >= 0x0300 && code <= 0x036f) ||
      (code >= 0x200b && code <= 0x200f) ||
      (code >= 0xfe00 && code <= 0xfe0f)
    ) {
      continue;
    }
    width += isWide(code) ? 2 : 1;
  }
  return width;
}

function isWide(code: number): boolean {
  return (code >= 0x1100 && code <= 0x115f) ||
    (code >= 0x2e80 && code <= 0xa4cf && code !== 0x303f) ||
    (code >= 0xac00 && code <= 0xd7a3) ||
    (code >= 0xf900 && code <= 0xfaff) ||
    (code >= 0xfe30 && code <= 0xfe4f) ||
    (code >= 0xff00 && code <= 0xff60) ||
    (code >= 0xffe0 && code <= 0xffe6) ||
    (code >= 0x1f300 && code <= 0x1f64f) ||
    (code >= 0x1f900 && code <= 0x1f9ff) ||
    (code >= 0x20000 && code <= 0x3fffd);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
