/**
 * A strict `.env` reader: `KEY=value` lines, `#` comments, optional single or
 * double quotes, an optional `export ` prefix. No interpolation, no multi-line
 * values: what you see in the file is what the service gets.
 *
 * @module
 */

const KEY_PATTERN = /^[A-Z_][A-Z0-9_]*$/;

/** A `.env` line that cannot be read. */
export class DotenvError extends Error {
  /** Creates the error for one line of one file. */
  constructor(message: string) {
    super(message);
    this.name = "DotenvError";
  }
}

/**
 * Parses the text of a `.env` file.
 *
 * @throws {DotenvError} on a malformed line (the message names the line, never its value)
 */
export function parseDotenv(
  text: string,
  fileName = ".env",
): Map<string, string> {
  const values = new Map<string, string>();
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const body = line.startsWith("export ") ? line.slice(7).trimStart() : line;
    const eq = body.indexOf("=");
    const where = `${fileName} line ${index + 1}`;
    if (eq <= 0) {
      throw new DotenvError(
        `Cannot read ${where}: expected KEY=value; fix or remove the line`,
      );
    }
    const key = body.slice(0, eq).trim();
    if (!KEY_PATTERN.test(key)) {
      throw new DotenvError(
        `Cannot read ${where}: variable names are upper-case letters, digits and _; fix the name`,
      );
    }
    values.set(key, unquote(body.slice(eq + 1).trim(), where));
  });
  return values;
}

function unquote(value: string, where: string): string {
  const first = value[0];
  if (first === '"' || first === "'") {
    const end = value.indexOf(first, 1);
    if (end < 0) {
      throw new DotenvError(
        `Cannot read ${where}: the value opens a ${first} quote but never closes it`,
      );
    }
    const rest = value.slice(end + 1).trim();
    if (rest !== "" && !rest.startsWith("#")) {
      throw new DotenvError(
        `Cannot read ${where}: unexpected text after the closing quote`,
      );
    }
    return value.slice(1, end);
  }
  // An unquoted value ends at " #" (an inline comment).
  const comment = value.search(/\s#/);
  return (comment >= 0 ? value.slice(0, comment) : value).trim();
}
