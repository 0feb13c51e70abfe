import {
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../support/assert.ts";
import {
  MAX_DATABASE_NAME_LENGTH,
  validateDatabaseName,
} from "../../gateway/database_name.ts";
import { InputError } from "../../gateway/input_error.ts";

Deno.test("validateDatabaseName() accepts ordinary names", () => {
  for (
    const name of ["orders", "Orders_2024", "app-db", "db$1", "_tmp", "1db"]
  ) {
    assertEquals(validateDatabaseName(name, "postgres"), name);
  }
  assertEquals(validateDatabaseName("d".repeat(128), "mssql").length, 128);
});

Deno.test("validateDatabaseName() refuses what could reach a connection string, naming the rule", () => {
  const cases: [string, string][] = [
    ["", "it is empty"],
    ["orders;drop", 'it contains ";"'],
    ["a b", "it contains whitespace"],
    ["db\u0000x", "it contains a control character"],
    ["-db", 'it starts with "-"'],
    ["base=evil", 'it contains "="'],
    ["my.db", 'it contains "."'],
    ["o'rders", `it contains "'"`],
    ["dätabase", "it contains a non-ASCII character"],
    ['x"y', 'it contains "\\u{22}"'],
  ];
  for (const [name, problem] of cases) {
    const error = assertThrows(
      () => validateDatabaseName(name, "mysql"),
      InputError,
    );
    assertStringIncludes(error.message, problem);
    assertStringIncludes(
      error.message,
      'use ASCII letters, digits, "_", "$" and "-" (not first), at most 64 characters for MySQL',
    );
  }
});

Deno.test("validateDatabaseName() applies each engine's length limit", () => {
  for (const [engine, max] of Object.entries(MAX_DATABASE_NAME_LENGTH)) {
    const type = engine as keyof typeof MAX_DATABASE_NAME_LENGTH;
    assertEquals(validateDatabaseName("a".repeat(max), type).length, max);
    const error = assertThrows(
      () => validateDatabaseName("a".repeat(max + 1), type),
      InputError,
    );
    assertStringIncludes(error.message, `it is ${max + 1} characters long`);
  }
});
