import { assertEquals, assertMatch } from "../../support/assert.ts";
import {
  acceptedAlgorithms,
  ASYMMETRIC_ALGORITHMS,
  isForbiddenAlgorithm,
  tokenDigest,
  tokenGroups,
  tokenScopes,
} from "../../../gateway/oauth/mod.ts";

Deno.test("tokenScopes() reads scope strings and scp arrays or strings", () => {
  assertEquals(tokenScopes({ scope: "a b  c" }), ["a", "b", "c"]);
  assertEquals(tokenScopes({ scp: ["a", 1, "b"] }), ["a", "b"]);
  assertEquals(tokenScopes({ scp: "a b" }), ["a", "b"]);
  assertEquals(tokenScopes({ scope: "a", scp: ["a", "b"] }), ["a", "b"]);
  assertEquals(tokenScopes({}), []);
});

Deno.test("tokenGroups() drops control characters, empty and over-long values, and caps the count", () => {
  assertEquals(tokenGroups({ g: ["a\nb", "", "x".repeat(300), "ok"] }, "g"), [
    "ok",
  ]);
  assertEquals(tokenGroups({ g: ["a"] }, undefined), []);
});

Deno.test("tokenDigest() is 16 hex digits", () => {
  assertMatch(tokenDigest("abc"), /^[0-9a-f]{16}$/);
});

Deno.test("acceptedAlgorithms() keeps the asymmetric algorithms the issuer announces", () => {
  assertEquals(
    acceptedAlgorithms({ idTokenSigningAlgs: ["RS256", "HS256", "none"] }),
    ["RS256"],
  );
  assertEquals(acceptedAlgorithms({ idTokenSigningAlgs: ["HS256"] }), [
    ...ASYMMETRIC_ALGORITHMS,
  ]);
  assertEquals(acceptedAlgorithms({}), [...ASYMMETRIC_ALGORITHMS]);
});

Deno.test("isForbiddenAlgorithm() refuses none, HS* and non-strings", () => {
  for (const alg of ["none", "NONE", "HS256", "hs512", undefined, 7]) {
    assertEquals(isForbiddenAlgorithm(alg), true, String(alg));
  }
  for (const alg of ["RS256", "ES256", "EdDSA"]) {
    assertEquals(isForbiddenAlgorithm(alg), false, alg);
  }
});
