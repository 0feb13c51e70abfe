import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";
import {
  checkApiKeys,
  checkChangeme,
  formatCheck,
  keyStrength,
} from "../../../gateway/doctor/mod.ts";
import { Secret } from "../../../vault/secret.ts";
import { secrets, statusOf, STRONG, STRONG_2 } from "./_doctor.ts";

Deno.test("keyStrength() measures without revealing: hex, mixed, repeated", () => {
  assertEquals(keyStrength(STRONG).bits, 256);
  assertEquals(keyStrength(STRONG).repeats, false);
  assert(keyStrength(STRONG_2).bits > 200);
  assertEquals(keyStrength("0123456789abcdef".repeat(2)).repeats, true);
  assertEquals(keyStrength("a".repeat(40)).distinct, 1);
});

Deno.test("checkApiKeys() passes strong keys, warns on weak or duplicate ones, fails short ones", () => {
  const good = checkApiKeys(secrets(STRONG, STRONG_2));
  assertEquals(statusOf(good), "PASS api-keys");
  assertStringIncludes(good.detail, "2 key(s)");

  const weak = checkApiKeys(
    secrets(STRONG, "k".repeat(16) + "0123456789abcdef"),
  );
  assertEquals(statusOf(weak), "WARN api-keys");
  assertStringIncludes(weak.detail, "key 2 of 2");
  assertStringIncludes(weak.fix ?? "", "openssl rand -hex 32");

  assertStringIncludes(
    checkApiKeys(secrets("0123456789abcdef".repeat(2))).detail,
    "repeated",
  );
  assertStringIncludes(
    checkApiKeys(secrets(STRONG, STRONG)).detail,
    "keys 1 and 2 are equal",
  );

  const short = checkApiKeys(secrets("abc123"));
  assertEquals(statusOf(short), "FAIL api-keys");
  assertStringIncludes(short.detail, "6 characters");
  assertEquals(statusOf(checkApiKeys([])), "FAIL api-keys");

  for (const result of [good, weak, short]) {
    const line = formatCheck(result);
    for (const key of [STRONG, STRONG_2, "abc123"]) {
      assert(!line.includes(key), `a key leaked: ${line}`);
    }
  }
});

Deno.test("checkChangeme() fails on the placeholder in the keys or the PFX password", () => {
  assertEquals(statusOf(checkChangeme(secrets(STRONG))), "PASS changeme");
  const inKeys = checkChangeme(secrets(STRONG, "x".repeat(30) + "CHANGEME"));
  assertEquals(statusOf(inKeys), "FAIL changeme");
  assertStringIncludes(inKeys.detail, "MCP_API_KEYS");
  const inPfx = checkChangeme(secrets(STRONG), new Secret("changeme"));
  assertEquals(statusOf(inPfx), "FAIL changeme");
  assertStringIncludes(inPfx.detail, "CYBERARK_CERT_PFX_PASSWORD");
});
