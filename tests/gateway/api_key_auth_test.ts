import { assertEquals, assertMatch, assertThrows } from "../support/assert.ts";
import { ApiKeyAuth } from "../../gateway/api_key_auth.ts";
import { Secret } from "../../vault/secret.ts";

Deno.test("apiKeyAuth.verify() accepts each configured key and nothing else", () => {
  const a = "a".repeat(40);
  const b = "b".repeat(40);
  const auth = new ApiKeyAuth([new Secret(a), new Secret(b)]);
  const idA = auth.verify(a);
  const idB = auth.verify(b);
  assertMatch(idA ?? "", /^[0-9a-f]{8}$/);
  assertMatch(idB ?? "", /^[0-9a-f]{8}$/);
  assertEquals(idA === idB, false);
  for (
    const bad of [undefined, null, "", `${a}x`, a.slice(1), "A".repeat(40)]
  ) {
    assertEquals(auth.verify(bad), undefined);
  }
  assertThrows(() => new ApiKeyAuth([]), RangeError);
});
