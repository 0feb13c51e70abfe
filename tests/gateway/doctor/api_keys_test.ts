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
import {
  config,
  keyConfig,
  statusOf,
  STRONG,
  STRONG_2,
  USER,
} from "./_doctor.ts";

Deno.test("keyStrength() measures without revealing: hex, mixed, repeated", () => {
  assertEquals(keyStrength(STRONG).bits, 256);
  assertEquals(keyStrength(STRONG).repeats, false);
  assert(keyStrength(STRONG_2).bits > 200);
  assertEquals(keyStrength("0123456789abcdef".repeat(2)).repeats, true);
  assertEquals(keyStrength("a".repeat(40)).distinct, 1);
});

Deno.test("checkApiKeys() passes strong keys, warns on weak ones, fails short ones", () => {
  const good = checkApiKeys(keyConfig(STRONG, STRONG_2));
  assertEquals(statusOf(good), "PASS api-keys");
  assertStringIncludes(good.detail, "2 principal(s)");

  const weak = checkApiKeys(
    keyConfig(STRONG, "k".repeat(16) + "0123456789abcdef"),
  );
  assertEquals(statusOf(weak), "WARN api-keys");
  assertStringIncludes(weak.detail, 'key of "key2"');
  assertStringIncludes(weak.fix ?? "", "openssl rand -hex 32");

  assertStringIncludes(
    checkApiKeys(keyConfig("0123456789abcdef".repeat(2))).detail,
    "repeated",
  );

  const short = checkApiKeys(keyConfig("abc123"));
  assertEquals(statusOf(short), "FAIL api-keys");
  assertStringIncludes(short.detail, "6 characters");
  assertEquals(statusOf(checkApiKeys({ principals: [] })), "FAIL api-keys");

  for (const result of [good, weak, short]) {
    const line = formatCheck(result);
    for (const key of [STRONG, STRONG_2, "abc123"]) {
      assert(!line.includes(key), `a key leaked: ${line}`);
    }
  }
});

Deno.test("checkApiKeys() checks MCP_API_KEYS_FILE's mode and owner and says digests cannot be judged", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = `${dir}/api_keys`;
    const digest = "ab".repeat(32);
    Deno.writeTextFileSync(file, `ci-bot:${digest}\n`);
    const keys = config({ MCP_API_KEYS_FILE: file }).apiKeys;
    const facts = (mode: number, uid = USER.uid) => ({
      kind: "file" as const,
      mode,
      uid,
    });

    const good = checkApiKeys(keys, { fileFacts: facts(0o600), user: USER });
    assertEquals(statusOf(good), "PASS api-keys");
    assertStringIncludes(good.detail, "2 principal(s)");
    assertStringIncludes(good.detail, `1 digest(s) from ${file}`);
    assertStringIncludes(good.detail, "cannot be judged from a digest");
    assert(!good.detail.includes(";"), "a PASS detail holds no fix");

    const open = checkApiKeys(keys, { fileFacts: facts(0o644), user: USER });
    assertEquals(statusOf(open), "FAIL api-keys");
    assertStringIncludes(open.detail, "has mode 644");
    assertEquals(open.fix, `chmod 600 ${file}`);

    const foreign = checkApiKeys(keys, {
      fileFacts: facts(0o600, 0),
      user: USER,
    });
    assertEquals(statusOf(foreign), "WARN api-keys");
    assertStringIncludes(foreign.detail, "owned by uid 0");

    const missing = checkApiKeys(keys, {
      fileFacts: { kind: "missing" },
      user: USER,
    });
    assertEquals(statusOf(missing), "FAIL api-keys");

    for (const result of [good, open, foreign, missing]) {
      const line = formatCheck(result);
      assert(!line.includes(digest), `a digest leaked: ${line}`);
      assert(!line.includes(STRONG), `a key leaked: ${line}`);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("checkChangeme() fails on the placeholder in the PFX password", () => {
  assertEquals(statusOf(checkChangeme()), "PASS changeme");
  const inPfx = checkChangeme(new Secret("changeme"));
  assertEquals(statusOf(inPfx), "FAIL changeme");
  assertStringIncludes(inPfx.detail, "CYBERARK_CERT_PFX_PASSWORD");
});
