import { formatConsole, formatJson } from "../../gateway/logging.ts";
import { redactHandles } from "../../gateway/redact_handles.ts";
import { handleIdOf } from "../../vault/handle_vault.ts";
import { assert, assertEquals } from "../support/assert.ts";

const HANDLE = `secret://${"A1b2_-".repeat(7)}Z`;
const OTHER = `secret://${"q".repeat(43)}`;

Deno.test("redactHandles() turns every live handle into its id and leaves the rest", () => {
  assertEquals(HANDLE.length, "secret://".length + 43);
  assertEquals(
    redactHandles(`psql -c "select 1" # ${HANDLE} and ${OTHER}.`),
    `psql -c "select 1" # secret-id:${handleIdOf(HANDLE)} and secret-id:${
      handleIdOf(OTHER)
    }.`,
  );
  assertEquals(
    redactHandles("secret://short and plain text"),
    "secret://short and plain text",
  );
});

Deno.test("redactHandles() removes the redeemable part of a handle glued to more text", () => {
  const out = redactHandles(`${HANDLE}EXTRA`);
  assertEquals(out, `secret-id:${handleIdOf(HANDLE)}EXTRA`);
});

Deno.test("the JSON and console log formats never carry a live handle", () => {
  const record = {
    category: ["audit"],
    level: "info" as const,
    message: ["db_queried"],
    rawMessage: "db_queried",
    timestamp: Date.now(),
    properties: { query: `SELECT '${HANDLE}'`, nested: { again: HANDLE } },
  };
  for (const line of [formatJson(record), formatConsole(record)]) {
    assert(!line.includes(HANDLE), line);
    assert(line.includes(`secret-id:${handleIdOf(HANDLE)}`), line);
  }
  JSON.parse(formatJson(record));
});
