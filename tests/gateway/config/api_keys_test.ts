import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../../support/assert.ts";
import { apiKeyDigest, unnamedKeyName } from "../../../gateway/config/mod.ts";
import {
  assertOneLineErrors,
  failure,
  KEY,
  load,
  withTempDir,
} from "./_env.ts";

const KEY_2 = "m".repeat(16) + "fedcba9876543210fedc";
const DIGEST = apiKeyDigest(KEY_2);

Deno.test("loadConfig() names NAME:KEY principals and keeps only digests of their keys", () => {
  const config = load({ MCP_API_KEYS: `ci-bot:${KEY},ops.team_2:${KEY_2}` });
  const principals = config.apiKeys.principals;
  assertEquals(principals.map((p) => p.name), ["ci-bot", "ops.team_2"]);
  assertEquals(principals[0]!.sha256.reveal(), apiKeyDigest(KEY));
  assertEquals(principals[0]!.source, "MCP_API_KEYS");
  assertEquals(principals[0]!.strength?.length, KEY.length);
  assertEquals(config.apiKeys.file, undefined);
  const shown = Deno.inspect(config, { depth: 10 }) + JSON.stringify(config);
  for (const secret of [KEY, KEY_2, DIGEST]) {
    assert(!shown.includes(secret), "no key or digest shows");
  }
});

Deno.test("loadConfig() names a key without a name after its hash, as the old key id", () => {
  const config = load({ MCP_API_KEYS: `${KEY},named:${KEY_2}` });
  const [unnamed, named] = config.apiKeys.principals;
  assertMatch(unnamed!.name, /^[0-9a-f]{8}$/);
  assertEquals(unnamed!.name, unnamedKeyName(KEY));
  assertEquals(load({}).apiKeys.principals[0]!.name, unnamed!.name, "stable");
  assertEquals(named!.name, "named");
});

Deno.test("loadConfig() refuses bad principal names and repeated names or keys in one line", () => {
  assertOneLineErrors([
    [{ MCP_API_KEYS: `bad name:${KEY}` }, "MCP_API_KEYS", "has a name that"],
    [{ MCP_API_KEYS: `:${KEY}` }, "MCP_API_KEYS", "has a name that"],
    [
      { MCP_API_KEYS: `${"n".repeat(65)}:${KEY}` },
      "MCP_API_KEYS",
      "the key has a name that is not 1 to 64 letters",
    ],
    [
      { MCP_API_KEYS: `a:${KEY},a:${KEY_2}` },
      "MCP_API_KEYS",
      'names the principal "a" twice',
    ],
    [
      { MCP_API_KEYS: `a:${KEY},b:${KEY}` },
      "MCP_API_KEYS",
      '"a" and "b" the same key',
    ],
    [
      { MCP_API_KEYS: `${KEY},${KEY}` },
      "MCP_API_KEYS",
      "the same key; give each principal its own key",
    ],
    [{ MCP_API_KEYS: "ci:short" }, "MCP_API_KEYS", "is 5 characters long"],
    [
      { MCP_API_KEYS: `ci:changeme${KEY}` },
      "MCP_API_KEYS",
      'placeholder "changeme"',
    ],
  ]);
  for (
    const keys of [
      `a:${KEY},b:${KEY}`,
      `bad name:${KEY}`,
      `a:${KEY},a:${KEY_2}`,
    ]
  ) {
    const error = failure({ MCP_API_KEYS: keys });
    assert(!error.message.includes(KEY), "no key in the error");
    assert(!error.message.includes(KEY_2), "no key in the error");
  }
});

Deno.test("loadConfig() reads MCP_API_KEYS_FILE once: NAME:SHA256HEX lines, comments and blanks", () => {
  withTempDir((dir) => {
    const file = `${dir}/api_keys`;
    Deno.writeTextFileSync(
      file,
      `# principals\n\nreporting:${DIGEST}\r\n  # indented comment\nbackup-1 : ${
        "0".repeat(64)
      }\n`,
    );
    const config = load({ MCP_API_KEYS: undefined, MCP_API_KEYS_FILE: file });
    assertEquals(config.apiKeys.file, file);
    assertEquals(
      config.apiKeys.principals.map((p) => [p.name, p.source, p.strength]),
      [
        ["reporting", "MCP_API_KEYS_FILE", undefined],
        ["backup-1", "MCP_API_KEYS_FILE", undefined],
      ],
    );
    assertEquals(config.apiKeys.principals[0]!.sha256.reveal(), DIGEST);

    const both = load({ MCP_API_KEYS: `ci:${KEY}`, MCP_API_KEYS_FILE: file });
    assertEquals(both.apiKeys.principals.map((p) => p.name), [
      "ci",
      "reporting",
      "backup-1",
    ]);
    Deno.removeSync(file);
    assertEquals(config.apiKeys.principals.length, 2, "read at load only");
  });
});

Deno.test("loadConfig() names the file, the line and the fix for a bad MCP_API_KEYS_FILE", () => {
  withTempDir((dir) => {
    const file = `${dir}/api_keys`;
    const cases: [string, string][] = [
      [`ok:${DIGEST}\nno colon here\n`, `"${file}" line 2 has no valid name`],
      [`bad name:${DIGEST}\n`, `"${file}" line 1 has no valid name`],
      [
        `# c\nci:${DIGEST.toUpperCase()}\n`,
        `"${file}" line 2 (ci) has no SHA-256 digest of 64 lowercase hex`,
      ],
      [`ci:${DIGEST.slice(1)}\n`, "has no SHA-256 digest"],
      [`ci:${KEY}\n`, "has no SHA-256 digest"],
    ];
    for (const [text, expected] of cases) {
      Deno.writeTextFileSync(file, text);
      const error = failure({ MCP_API_KEYS_FILE: file });
      assertEquals(error.variable, "MCP_API_KEYS_FILE");
      assertStringIncludes(error.message, expected);
      assertStringIncludes(error.message, 'printf %s "$KEY" | sha256sum');
      assert(!error.message.includes("\n"), "one line");
      assert(!error.message.includes(KEY), "no key in the error");
    }

    Deno.writeTextFileSync(file, `ci:${DIGEST}\n`);
    const twice = failure({
      MCP_API_KEYS: `ci:${KEY}`,
      MCP_API_KEYS_FILE: file,
    });
    assertStringIncludes(
      twice.message,
      'names the principal "ci" twice (in MCP_API_KEYS and MCP_API_KEYS_FILE)',
    );
    const sameKey = failure({
      MCP_API_KEYS: `env:${KEY_2}`,
      MCP_API_KEYS_FILE: file,
    });
    assertEquals(sameKey.variable, "MCP_API_KEYS_FILE");
    assertStringIncludes(sameKey.message, '"env" and "ci" the same key');
    assert(!sameKey.message.includes(DIGEST), "no digest in the error");

    Deno.writeTextFileSync(file, "# nobody yet\n");
    const empty = failure({ MCP_API_KEYS: undefined, MCP_API_KEYS_FILE: file });
    assertEquals(empty.variable, "MCP_API_KEYS");
    assertStringIncludes(empty.message, "MCP_API_KEYS_FILE names no key");
  });
});

Deno.test("loadConfig() names a missing or unreadable MCP_API_KEYS_FILE", () => {
  withTempDir((dir) => {
    const missing = failure({ MCP_API_KEYS_FILE: `${dir}/nope` });
    assertEquals(missing.variable, "MCP_API_KEYS_FILE");
    assertStringIncludes(
      missing.message,
      `"${dir}/nope" cannot be read (not found)`,
    );
    const home = failure({ MCP_API_KEYS_FILE: "~/keys" }, dir);
    assertStringIncludes(home.message, `"${dir}/keys"`);

    if (Deno.uid() !== 0) {
      const file = `${dir}/locked`;
      Deno.writeTextFileSync(file, `ci:${DIGEST}\n`);
      Deno.chmodSync(file, 0o000);
      const locked = failure({ MCP_API_KEYS_FILE: file });
      assertStringIncludes(locked.message, "(permission denied)");
    }
  });
});

Deno.test("loadConfig() without MCP_API_KEYS or MCP_API_KEYS_FILE names both", () => {
  const error = failure({ MCP_API_KEYS: undefined });
  assertEquals(error.variable, "MCP_API_KEYS");
  assertStringIncludes(error.message, "is not set");
  assertStringIncludes(error.message, "MCP_API_KEYS_FILE");
  assertStringIncludes(error.message, "openssl rand -hex 32");
});

Deno.test("loadConfig() with MCP_AUTH=oauth needs no API key and keeps no principal", () => {
  const config = load({
    MCP_API_KEYS: undefined,
    MCP_AUTH: "oauth",
    OAUTH_ISSUER: "https://idp.example.com",
    OAUTH_RESOURCE: "https://mcp.example.com/mcp",
  });
  assertEquals(config.apiKeys.principals, []);
  assertEquals(config.oauth.mode, "oauth");
});

Deno.test("loadConfig() with MCP_AUTH=oauth refuses API keys that would never be accepted", () => {
  const oauth = {
    MCP_AUTH: "oauth",
    OAUTH_ISSUER: "https://idp.example.com",
    OAUTH_RESOURCE: "https://mcp.example.com/mcp",
  };
  assertOneLineErrors([
    [oauth, "MCP_API_KEYS", "MCP_AUTH=oauth accepts no API key"],
    [
      { ...oauth, MCP_API_KEYS: undefined, MCP_API_KEYS_FILE: "/etc/keys" },
      "MCP_API_KEYS_FILE",
      "set MCP_AUTH=both",
    ],
  ]);
  const error = failure(oauth);
  assert(!error.message.includes(KEY), "the key is not echoed");
});

Deno.test("loadConfig() with MCP_AUTH=both still needs an API key, and says how to go without", () => {
  const error = failure({
    MCP_API_KEYS: undefined,
    OAUTH_ISSUER: "https://idp.example.com",
    OAUTH_RESOURCE: "https://mcp.example.com/mcp",
  });
  assertEquals(error.variable, "MCP_API_KEYS");
  assertStringIncludes(error.message, "set MCP_AUTH=oauth for tokens only");
  assertMatch(error.message, /is not set/);
});
