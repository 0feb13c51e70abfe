/**
 * The character rules every string argument of every tool obeys, in one
 * place, checked before anything else looks at the value (after the call
 * is counted against `TOOL_CALL_LIMIT`). They come on top of each tool's
 * schema (lengths, enums) and of the finer checks further in (the CCP's
 * naming rules, host names, database names), which stay as they are.
 *
 * Two rules:
 *
 * - `line`: a name or one line of plain text. Well-formed Unicode, and no
 *   control character at all (C0 U+0000-U+001F, DEL U+007F, C1
 *   U+0080-U+009F): none belongs in a name, and each would reach a URL, a
 *   protocol handshake or an audit line as something other than text.
 * - `text`: a command, script or query as a person writes it. Well-formed
 *   Unicode, and no NUL: newlines, tabs and the like are part of scripts,
 *   but no target takes a NUL faithfully (shells and PostgreSQL's protocol
 *   end strings at it, WinRM's XML cannot carry it).
 *
 * Well-formed means no lone UTF-16 surrogate (a JSON `\ud800` escape
 * without its pair): such a string is not text, cannot be percent-encoded,
 * encoded as UTF-8 for a target, or logged as it was sent.
 *
 * | Tool           | Argument        | Rule   | What it becomes                       |
 * | -------------- | --------------- | ------ | ------------------------------------- |
 * | get_credential | `safe`          | `line` | a CCP query parameter, audit field    |
 * | get_credential | `object_name`   | `line` | a CCP query parameter, audit field    |
 * | get_credential | `folder`        | `line` | a CCP query parameter                 |
 * | get_credential | `reason`        | `line` | a CCP query parameter (CyberArk audit)|
 * | target tools   | `host`          | `line` | the sandbox's `--allow-net`, audit    |
 * | target tools   | `secret_handle` | `line` | a handle id lookup                    |
 * | ssh_execute    | `command`       | `text` | the SSH exec request, audit field     |
 * | ps_execute     | `script`        | `text` | the WinRM command                     |
 * | db_query       | `database`      | `line` | the driver's start-up packet, audit   |
 * | db_query       | `query`         | `text` | the SQL text, audit field             |
 *
 * No tool takes a user name: it comes from CyberArk with the account.
 * `db_type` is an enum its schema already restricts.
 *
 * @module
 */
import type { PolicyTool } from "../policy/policy.ts";
import { InputError } from "../input_error.ts";

/** How strictly an argument's characters are checked (see the module's table). */
export type StringRule = "line" | "text";

/** The rule of every string argument, by tool (the module's table). */
export const STRING_ARGUMENT_RULES: Readonly<
  Record<PolicyTool, Readonly<Record<string, StringRule>>>
> = {
  get_credential: {
    safe: "line",
    object_name: "line",
    folder: "line",
    reason: "line",
  },
  ssh_execute: { host: "line", command: "text", secret_handle: "line" },
  ps_execute: { host: "line", script: "text", secret_handle: "line" },
  db_query: {
    host: "line",
    database: "line",
    query: "text",
    secret_handle: "line",
  },
};

/** What each rule refuses besides lone surrogates. */
const REFUSED: Readonly<Record<StringRule, RegExp>> = {
  // deno-lint-ignore no-control-regex -- control characters are what is refused
  line: /[\u0000-\u001f\u007f-\u009f]/,
  // deno-lint-ignore no-control-regex -- NUL is what is refused
  text: /\u0000/,
};

/**
 * Checks every string argument of a call of `tool` against its rule.
 * Arguments the table does not name, and values that are not strings,
 * are left to the tool's schema.
 *
 * @throws {InputError} naming the first argument that breaks its rule, the
 * character (as a code point) and where it is
 */
export function checkStringArguments(
  tool: PolicyTool,
  args: Readonly<Record<string, unknown>>,
): void {
  for (const [name, rule] of Object.entries(STRING_ARGUMENT_RULES[tool])) {
    const value = args[name];
    if (typeof value === "string") checkString(name, value, rule);
  }
}

/**
 * Checks one value against `rule`.
 *
 * @throws {InputError} naming `argument`, the character and where it is
 */
export function checkString(
  argument: string,
  value: string,
  rule: StringRule,
): void {
  if (!value.isWellFormed()) {
    throw new InputError(
      `Invalid ${argument}: it contains a lone UTF-16 surrogate (not valid Unicode) at character ${
        loneSurrogateAt(value)
      }; send it as well-formed Unicode text`,
    );
  }
  const refused = REFUSED[rule];
  if (!refused.test(value)) return;
  const chars = Array.from(value);
  const index = chars.findIndex((char) => refused.test(char));
  const code = chars[index]!.codePointAt(0)!;
  throw new InputError(
    `Invalid ${argument}: it contains a control character (${
      codePoint(code)
    }) at character ${index + 1}; remove it (${
      rule === "line"
        ? `${argument} is a name or one line of plain text`
        : `no target takes a NUL in a ${argument}`
    })`,
  );
}

/** `U+0000` notation. */
function codePoint(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** The 1-based position, in characters (code points), of the first lone surrogate. */
function loneSurrogateAt(value: string): number {
  let position = 0;
  for (const char of value) {
    position++;
    const code = char.codePointAt(0)!;
    if (code >= 0xd800 && code <= 0xdfff) return position;
  }
  return position;
}
