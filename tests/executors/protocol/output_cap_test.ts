import {
  capText,
  truncationNotice,
} from "../../../executors/protocol/output_cap.ts";
import { assert, assertEquals, assertThrows } from "../../support/assert.ts";

Deno.test("capText() leaves text within the cap unchanged", () => {
  assertEquals(capText("hello", 5), { text: "hello", truncated: false });
  assertEquals(capText("", 1), { text: "", truncated: false });
});

Deno.test("capText() cuts at the byte cap and appends a visible notice", () => {
  const capped = capText("x".repeat(2_000_000), 1_048_576);
  assert(capped.truncated);
  assertEquals(
    capped.text,
    `${"x".repeat(1_048_576)}\n[output truncated at 1048576 bytes]`,
  );
  assertEquals(
    truncationNotice(1_048_576),
    "[output truncated at 1048576 bytes]",
  );
});

Deno.test("capText() never splits a UTF-8 character", () => {
  // "é" is 2 bytes, "€" 3, "😀" 4: a cut inside any of them steps back.
  assertEquals(capText("aé", 2).text, "a\n[output truncated at 2 bytes]");
  assertEquals(capText("€€", 4).text, "€\n[output truncated at 4 bytes]");
  assertEquals(capText("😀😀", 7).text, "😀\n[output truncated at 7 bytes]");
  assertEquals(capText("😀", 3).text, "\n[output truncated at 3 bytes]");
});

Deno.test("capText() refuses a cap that is not a positive integer", () => {
  assertThrows(() => capText("x", 0), RangeError, "positive integer");
  assertThrows(() => capText("x", 1.5), RangeError, "positive integer");
});
