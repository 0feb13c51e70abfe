/**
 * The character rules of tool string arguments (`_string_rules.ts`): the
 * table names every string argument of every tool's schema, and each rule
 * refuses what it says, naming the argument and the code point.
 */
import { z } from "zod";
import { assertEquals, assertThrows } from "../../support/assert.ts";
import { InputError } from "../../../gateway/input_error.ts";
import { POLICY_TOOLS } from "../../../gateway/policy/policy.ts";
import {
  checkString,
  checkStringArguments,
  STRING_ARGUMENT_RULES,
} from "../../../gateway/tools/_string_rules.ts";
import { DbQueryArguments } from "../../../gateway/tools/db_query.ts";
import { GetCredentialArguments } from "../../../gateway/tools/get_credential.ts";
import { PsExecuteArguments } from "../../../gateway/tools/ps_execute.ts";
import { SshExecuteArguments } from "../../../gateway/tools/ssh_execute.ts";

const SCHEMAS: Record<string, z.ZodObject> = {
  get_credential: GetCredentialArguments,
  ssh_execute: SshExecuteArguments,
  ps_execute: PsExecuteArguments,
  db_query: DbQueryArguments,
};

/** The names of an object schema's string members (optional ones too). */
function stringMembers(schema: z.ZodObject): string[] {
  return Object.entries(schema.shape).filter(([, member]) => {
    const inner = member instanceof z.ZodOptional ? member.unwrap() : member;
    return inner instanceof z.ZodString;
  }).map(([name]) => name).sort();
}

Deno.test("STRING_ARGUMENT_RULES names exactly the string arguments of every tool", () => {
  assertEquals(
    Object.keys(STRING_ARGUMENT_RULES).sort(),
    [...POLICY_TOOLS].sort(),
  );
  for (const tool of POLICY_TOOLS) {
    assertEquals(
      Object.keys(STRING_ARGUMENT_RULES[tool]).sort(),
      stringMembers(SCHEMAS[tool]!),
      tool,
    );
  }
});

Deno.test("checkString(): both rules refuse lone surrogates, naming the argument and the position", () => {
  for (const rule of ["line", "text"] as const) {
    for (
      const [value, at] of [["\ud800", 1], ["ab\udfff", 3], [
        "\u{1f512}x\udbff",
        3,
      ]] as const
    ) {
      const error = assertThrows(
        () => checkString("reason", value, rule),
        InputError,
      );
      assertEquals(
        error.message,
        `Invalid reason: it contains a lone UTF-16 surrogate (not valid Unicode) at character ${at}; send it as well-formed Unicode text`,
      );
    }
    // A surrogate pair is one well-formed character.
    checkString("reason", "lock \u{1f512} \ud83d\udd12", rule);
  }
});

Deno.test("checkString(): line refuses C0, DEL and C1 controls; text refuses only NUL", () => {
  for (
    const code of [
      0x00,
      0x01,
      0x09,
      0x0a,
      0x0d,
      0x1b,
      0x1f,
      0x7f,
      0x80,
      0x85,
      0x9f,
    ]
  ) {
    const char = String.fromCodePoint(code);
    const hex = code.toString(16).toUpperCase().padStart(4, "0");
    const error = assertThrows(
      () => checkString("host", `db\u00e9${char}`, "line"),
      InputError,
    );
    assertEquals(
      error.message,
      `Invalid host: it contains a control character (U+${hex}) at character 4; remove it (host is a name or one line of plain text)`,
    );
    if (code !== 0) checkString("query", `select${char}1`, "text");
  }
  assertThrows(
    () => checkString("query", "select 1\u0000", "text"),
    InputError,
    "Invalid query: it contains a control character (U+0000) at character 9; remove it (no target takes a NUL in a query)",
  );
  // Printable characters beyond C1 are no controls.
  checkString("host", "h\u00a0\u2028\ufeff\u{10ffff}", "line");
});

Deno.test("checkStringArguments(): checks the table's arguments of the tool and leaves other values to the schema", () => {
  assertThrows(
    () =>
      checkStringArguments("db_query", {
        host: "h",
        database: "app",
        query: "select 1",
        secret_handle: "secret://x\u0000",
      }),
    InputError,
    "Invalid secret_handle: it contains a control character (U+0000) at character 11",
  );
  // Not strings, or not named: the schema's business.
  checkStringArguments("ssh_execute", {
    host: 5,
    command: null,
    extra: "\ud800",
  });
  checkStringArguments("get_credential", { safe: "S", object_name: "o" });
});
