/**
 * `mapToolError()` treats a query the CCP client refuses (`CcpQueryError`)
 * as bad input wherever it was caught: the model sees its message, and no
 * ERROR line or internal-error reference is written.
 */
import { assertEquals } from "../support/assert.ts";
import { mapToolError } from "../../gateway/tool_errors.ts";
import { CcpQueryError } from "../../vault/ccp_client.ts";
import { text, withHarness } from "./tools/_harness.ts";

Deno.test("mapToolError(): a CcpQueryError is an input error: its message, no ERROR line, no audit line", async () => {
  await withHarness((h) => {
    const message =
      "Invalid reason: it contains a lone UTF-16 surrogate (not valid Unicode); send it as well-formed Unicode text";
    const result = mapToolError(
      new CcpQueryError("reason", message),
      h.context,
      {
        tool: "get_credential",
        fields: { safe: "S", object_name: "o" },
      },
    );
    assertEquals(result.isError, true);
    assertEquals(text(result), message);
    assertEquals(h.records.filter((r) => r.level === "error"), []);
    assertEquals(h.records.filter((r) => r.category[0] === "audit"), []);
    return Promise.resolve();
  });
});
