import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";
import {
  assertOneLineErrors,
  failure,
  load,
  PEM,
  withTempDir,
} from "./_env.ts";

const ISSUER = "https://login.example.com/realms/corp";
const RESOURCE = "https://mcp.example.com/mcp";
const OAUTH = { OAUTH_ISSUER: ISSUER, OAUTH_RESOURCE: RESOURCE };
const SECRET = "introspection-secret-value-xyz";

Deno.test("loadConfig() turns OAuth on with both credentials when OAUTH_ISSUER is set", () => {
  const config = load(OAUTH);
  assertEquals(config.oauth, {
    mode: "both",
    issuer: ISSUER,
    resource: RESOURCE,
    requiredScopes: [],
    principalClaim: "sub",
    tokenMode: "jwt",
    clockSkewSeconds: 60,
  });
  assertEquals(config.apiKeys.principals.length, 1);
  assertEquals(config.warnings, []);
});

Deno.test("loadConfig() reads every OAuth setting, keeping the issuer exactly as written", () => {
  withTempDir((dir) => {
    Deno.writeTextFileSync(`${dir}/idp-ca.pem`, PEM);
    const config = load({
      MCP_API_KEYS: undefined,
      MCP_AUTH: "OAuth",
      OAUTH_ISSUER: "https://idp.example.com/",
      OAUTH_RESOURCE: RESOURCE,
      OAUTH_REQUIRED_SCOPES: "mcp:tools, mcp:admin mcp:tools",
      OAUTH_PRINCIPAL_CLAIM: "preferred_username",
      OAUTH_GROUPS_CLAIM: "groups",
      OAUTH_TOKEN_MODE: "auto",
      OAUTH_INTROSPECTION_CLIENT_ID: "mcp-gateway",
      OAUTH_INTROSPECTION_CLIENT_SECRET: SECRET,
      OAUTH_CA_BUNDLE: "~/idp-ca.pem",
      OAUTH_CLOCK_SKEW_SECONDS: "30",
    }, dir);
    const oauth = config.oauth;
    assertEquals(oauth.mode, "oauth");
    assertEquals(oauth.issuer, "https://idp.example.com/");
    assertEquals(oauth.requiredScopes, ["mcp:tools", "mcp:admin"]);
    assertEquals(oauth.principalClaim, "preferred_username");
    assertEquals(oauth.groupsClaim, "groups");
    assertEquals(oauth.tokenMode, "auto");
    assertEquals(oauth.introspection?.clientId, "mcp-gateway");
    assertEquals(oauth.introspection?.clientSecret.reveal(), SECRET);
    assertEquals(oauth.caBundlePath, `${dir}/idp-ca.pem`);
    assertEquals(oauth.caPem, PEM);
    assertEquals(oauth.clockSkewSeconds, 30);
    const shown = Deno.inspect(config, { depth: 10 }) + JSON.stringify(config);
    assert(!shown.includes(SECRET), "the introspection secret never shows");
  });
});

Deno.test("loadConfig() refuses contradictory MCP_AUTH settings, naming the fix", () => {
  assertOneLineErrors([
    [
      { MCP_AUTH: "token" },
      "MCP_AUTH",
      "set it to one of api_key, oauth, both",
    ],
    [
      { MCP_AUTH: "oauth", MCP_API_KEYS: undefined },
      "OAUTH_ISSUER",
      "MCP_AUTH=oauth needs it",
    ],
    [{ MCP_AUTH: "both" }, "OAUTH_ISSUER", "or set MCP_AUTH=api_key"],
    [{ OAUTH_ISSUER: ISSUER }, "OAUTH_RESOURCE", "MCP_AUTH=both needs it"],
    [
      { ...OAUTH, MCP_AUTH: "api_key" },
      "MCP_AUTH",
      "set MCP_AUTH=both (or oauth)",
    ],
  ]);
});

Deno.test("loadConfig() refuses introspection without its client, or half a client", () => {
  assertOneLineErrors([
    [
      { ...OAUTH, OAUTH_TOKEN_MODE: "introspection" },
      "OAUTH_TOKEN_MODE",
      "set both",
    ],
    [
      { ...OAUTH, OAUTH_INTROSPECTION_CLIENT_ID: "mcp-gateway" },
      "OAUTH_INTROSPECTION_CLIENT_SECRET",
      "set both",
    ],
    [
      {
        ...OAUTH,
        OAUTH_TOKEN_MODE: "auto",
        OAUTH_INTROSPECTION_CLIENT_SECRET: SECRET,
      },
      "OAUTH_INTROSPECTION_CLIENT_ID",
      "or neither",
    ],
  ]);
  const error = failure({
    ...OAUTH,
    OAUTH_INTROSPECTION_CLIENT_SECRET: SECRET,
  });
  assert(!error.message.includes(SECRET), "the secret is never echoed");
  const config = load({
    ...OAUTH,
    OAUTH_TOKEN_MODE: "introspection",
    OAUTH_INTROSPECTION_CLIENT_ID: "mcp-gateway",
    OAUTH_INTROSPECTION_CLIENT_SECRET: SECRET,
  });
  assertEquals(config.oauth.tokenMode, "introspection");
  const unused = load({
    ...OAUTH,
    OAUTH_INTROSPECTION_CLIENT_ID: "mcp-gateway",
    OAUTH_INTROSPECTION_CLIENT_SECRET: SECRET,
  });
  assertStringIncludes(
    unused.warnings.join("\n"),
    "OAUTH_TOKEN_MODE=jwt never introspects",
  );
});

Deno.test("loadConfig() wants https for the issuer and the resource, tolerating http on loopback with a warning", () => {
  assertOneLineErrors([
    [
      { ...OAUTH, OAUTH_ISSUER: "http://idp.example.com" },
      "OAUTH_ISSUER",
      "use https://",
    ],
    [
      { ...OAUTH, OAUTH_ISSUER: "idp.example.com" },
      "OAUTH_ISSUER",
      "not a URL",
    ],
    [
      { ...OAUTH, OAUTH_ISSUER: "ftp://idp.example.com" },
      "OAUTH_ISSUER",
      "must start with https://",
    ],
    [
      { ...OAUTH, OAUTH_ISSUER: `${ISSUER}?x=1` },
      "OAUTH_ISSUER",
      "query string",
    ],
    [
      { ...OAUTH, OAUTH_ISSUER: "https://u:p@idp.example.com" },
      "OAUTH_ISSUER",
      "user name or password",
    ],
    [
      { ...OAUTH, OAUTH_RESOURCE: "http://mcp.example.com/mcp" },
      "OAUTH_RESOURCE",
      "use https://",
    ],
    [
      { ...OAUTH, OAUTH_RESOURCE: `${RESOURCE}#x` },
      "OAUTH_RESOURCE",
      "fragment",
    ],
  ]);
  const local = load({
    OAUTH_ISSUER: "http://127.0.0.1:9000",
    OAUTH_RESOURCE: "http://localhost:8443/mcp",
  });
  assertEquals(local.oauth.issuer, "http://127.0.0.1:9000");
  assertEquals(local.warnings.length, 2);
  assertStringIncludes(
    local.warnings[0]!,
    "OAUTH_ISSUER uses http://127.0.0.1:9000",
  );
});

Deno.test("loadConfig() checks claim names, scopes, the clock skew and the CA bundle", () => {
  assertOneLineErrors([
    [
      { ...OAUTH, OAUTH_PRINCIPAL_CLAIM: "preferred username" },
      "OAUTH_PRINCIPAL_CLAIM",
      "not a claim name",
    ],
    [
      { ...OAUTH, OAUTH_GROUPS_CLAIM: "groups!" },
      "OAUTH_GROUPS_CLAIM",
      "not a claim name",
    ],
    [
      { ...OAUTH, OAUTH_REQUIRED_SCOPES: 'mcp:"x"' },
      "OAUTH_REQUIRED_SCOPES",
      "not a scope name",
    ],
    [
      { ...OAUTH, OAUTH_CLOCK_SKEW_SECONDS: "301" },
      "OAUTH_CLOCK_SKEW_SECONDS",
      "from 0 to 300",
    ],
    [
      { ...OAUTH, OAUTH_TOKEN_MODE: "opaque" },
      "OAUTH_TOKEN_MODE",
      "jwt, introspection, auto",
    ],
    [
      { ...OAUTH, OAUTH_CA_BUNDLE: "/nonexistent/ca.pem" },
      "OAUTH_CA_BUNDLE",
      "cannot be read",
    ],
  ]);
  assertEquals(
    load({
      ...OAUTH,
      OAUTH_PRINCIPAL_CLAIM: "http://schemas.example.com/claims/upn",
    })
      .oauth.principalClaim,
    "http://schemas.example.com/claims/upn",
  );
});

Deno.test("OAUTH_AUDIENCE: kept as given, refused with whitespace, absent by default", () => {
  assertEquals(load(OAUTH).oauth.audience, undefined);
  assertEquals(
    load({ ...OAUTH, OAUTH_AUDIENCE: " 0b6f3c2a-4d5e-4f60-8a7b-9c0d1e2f3a4b " })
      .oauth.audience,
    "0b6f3c2a-4d5e-4f60-8a7b-9c0d1e2f3a4b",
  );
  assertStringIncludes(
    failure({ ...OAUTH, OAUTH_AUDIENCE: "api://a b" }).message,
    "OAUTH_AUDIENCE holds whitespace",
  );
});
