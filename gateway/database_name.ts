/**
 * Strict check of the `database` argument of `db_query` before it reaches a
 * driver's start-up packet, handshake or LOGIN7 and the audit log.
 *
 * @module
 */
import { InputError } from "./input_error.ts";

/** The database engines `db_query` speaks to. */
export type DbType = "postgres" | "mysql" | "mssql";

/** Longest database name per engine (PostgreSQL NAMEDATALEN-1, MySQL, sysname). */
export const MAX_DATABASE_NAME_LENGTH: Readonly<Record<DbType, number>> = {
  postgres: 63,
  mysql: 64,
  mssql: 128,
};

const ENGINE_NAMES: Readonly<Record<DbType, string>> = {
  postgres: "PostgreSQL",
  mysql: "MySQL",
  mssql: "SQL Server",
};

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_$-]*$/;
const MAX_ECHOED_CHARS = 40;

/**
 * Returns the database name when it is made of ASCII letters, digits, `_`,
 * `$` and `-` (not first) and fits the engine's limit.
 *
 * @throws {InputError} naming the problem and the rule
 */
export function validateDatabaseName(name: string, dbType: DbType): string {
  const max = MAX_DATABASE_NAME_LENGTH[dbType];
  const rule =
    `use ASCII letters, digits, "_", "$" and "-" (not first), at most ${max} characters for ${
      ENGINE_NAMES[dbType]
    }`;
  if (typeof name !== "string" || name.length === 0) {
    throw new InputError(`Invalid database name: it is empty; ${rule}`);
  }
  if (name.length > max) {
    throw new InputError(
      `Invalid database name ${
        echo(name)
      }: it is ${name.length} characters long; ${rule}`,
    );
  }
  if (!NAME.test(name)) {
    throw new InputError(
      `Invalid database name ${echo(name)}: ${problem(name)}; ${rule}`,
    );
  }
  return name;
}

function problem(name: string): string {
  // deno-lint-ignore no-control-regex -- control characters are what is refused
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) {
    return "it contains a control character";
  }
  if (/\s/.test(name)) return "it contains whitespace";
  if (name.startsWith("-") || name.startsWith("$")) {
    return `it starts with "${name[0]}"`;
  }
  if (/[^ -~]/.test(name)) return "it contains a non-ASCII character";
  const bad = name.match(/[^A-Za-z0-9_$-]/)?.[0] ?? "?";
  return `it contains ${echo(bad)}`;
}

/** A short, escaped, quoted prefix of untrusted input for an error message. */
function echo(value: string): string {
  const chars = Array.from(value);
  let out = "";
  for (const char of chars.slice(0, MAX_ECHOED_CHARS)) {
    const code = char.codePointAt(0) ?? 0;
    out += code >= 0x20 && code <= 0x7e && char !== '"' && char !== "\\"
      ? char
      : `\\u{${code.toString(16)}}`;
  }
  return `"${out}${chars.length > MAX_ECHOED_CHARS ? "..." : ""}"`;
}
