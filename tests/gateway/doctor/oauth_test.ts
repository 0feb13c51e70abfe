import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";
import { loadConfig, type OAuthConfig } from "../../../gateway/config/mod.ts";
import { checkOAuth, runDoctor } from "../../../gateway/doctor/mod.ts";
import {
  FakeIssuer,
  INTROSPECTION_CLIENT,
  oauthConfig,
  RESOURCE,
  testKey,
} from "../oauth/_fake_issuer.ts";
import { APP, config, statusOf, USER } from "./_doctor.ts";

async function withIssuer(
  body: (issuer: FakeIssuer) => Promise<void>,
): Promise<void> {
  const issuer = FakeIssuer.start([
    await testKey("RS256", "rsa-1"),
    await testKey("ES256", "ec-1"),
  ]);
  try {
    await body(issuer);
  } finally {
    await issuer.stop();
  }
}

Deno.test("checkOAuth() passes when OAuth is off", async () => {
  const result = await checkOAuth(config().oauth);
  assertEquals(statusOf(result), "PASS oauth");
  assertEquals(result.detail, "OAuth off (MCP_AUTH=api_key)");
});

Deno.test("checkOAuth() passes naming the issuer, the keys and the resource", async () => {
  await withIssuer(async (issuer) => {
    const result = await checkOAuth(oauthConfig(issuer.issuer));
    assertEquals(statusOf(result), "PASS oauth", result.detail);
    assertStringIncludes(result.detail, `issuer ${issuer.issuer}`);
    assertStringIncludes(result.detail, "2 signing key(s) (RS256, ES256)");
    assertStringIncludes(
      result.detail,
      "algorithms accepted: RS256, ES256, PS256",
    );
    assertStringIncludes(result.detail, RESOURCE);
  });
});

Deno.test("checkOAuth() fails for an unreachable issuer and a metadata issuer mismatch", async () => {
  await withIssuer(async (issuer) => {
    issuer.metadata = { issuer: "https://elsewhere.example" };
    const mismatch = await checkOAuth(oauthConfig(issuer.issuer));
    assertEquals(statusOf(mismatch), "FAIL oauth");
    assertStringIncludes(mismatch.detail, "https://elsewhere.example");
  });
  const gone = FakeIssuer.start([]);
  await gone.stop();
  const down = await checkOAuth(oauthConfig(gone.issuer));
  assertEquals(statusOf(down), "FAIL oauth");
  assertStringIncludes(down.detail, `Cannot reach the issuer ${gone.issuer}`);
  assertStringIncludes(down.fix ?? "", "OAUTH_CA_BUNDLE");
});

Deno.test("checkOAuth() fails without jwks_uri in JWT mode and without introspection_endpoint in introspection mode", async () => {
  await withIssuer(async (issuer) => {
    issuer.metadata = {
      jwks_uri: undefined,
      introspection_endpoint: undefined,
    };
    const jwt = await checkOAuth(oauthConfig(issuer.issuer));
    assertEquals(statusOf(jwt), "FAIL oauth");
    assertStringIncludes(jwt.detail, "no jwks_uri");
    const introspection: OAuthConfig = oauthConfig(issuer.issuer, {
      tokenMode: "introspection",
      introspection: INTROSPECTION_CLIENT,
    });
    const result = await checkOAuth(introspection);
    assertEquals(statusOf(result), "FAIL oauth");
    assertStringIncludes(result.detail, "no introspection_endpoint");
  });
});

Deno.test("checkOAuth() fails for an empty or symmetric-only JWKS and warns about keys without kid", async () => {
  await withIssuer(async (issuer) => {
    const rsa = issuer.keys[0]!;
    issuer.keys = [];
    const empty = await checkOAuth(oauthConfig(issuer.issuer));
    assertEquals(statusOf(empty), "FAIL oauth");
    assertStringIncludes(empty.detail, "holds no key");
    issuer.keys = [{
      ...rsa,
      publicJwk: { kty: "oct", k: "c2VjcmV0", kid: "hmac" },
    }];
    const symmetric = await checkOAuth(oauthConfig(issuer.issuer));
    assertEquals(statusOf(symmetric), "FAIL oauth");
    assertStringIncludes(symmetric.detail, "only symmetric");
    assert(
      !symmetric.detail.includes("c2VjcmV0"),
      "no key material in the result",
    );
    const { kid: _kid, ...noKid } = rsa.publicJwk;
    issuer.keys = [{ ...rsa, publicJwk: noKid }];
    const warning = await checkOAuth(oauthConfig(issuer.issuer));
    assertEquals(statusOf(warning), "WARN oauth");
    assertStringIncludes(warning.detail, "have no kid");
  });
});

Deno.test("checkOAuth() tries the introspection client", async () => {
  await withIssuer(async (issuer) => {
    const result = await checkOAuth(
      oauthConfig(issuer.issuer, {
        tokenMode: "auto",
        introspection: INTROSPECTION_CLIENT,
      }),
    );
    assertEquals(statusOf(result), "PASS oauth", result.detail);
    assertEquals(issuer.count("/introspect"), 1);
    assert(!JSON.stringify(result).includes("introspection-secret"));
  });
});

Deno.test("runDoctor() with MCP_AUTH=oauth passes the API key check and probes the issuer after it", async () => {
  await withIssuer(async (issuer) => {
    const results = await runDoctor(
      loadConfig({
        env: {
          CYBERARK_CCP_URL:
            "https://cyberark.example.internal/AIMWebService/api/Accounts",
          CYBERARK_APP_ID: APP,
          MCP_AUTH: "oauth",
          OAUTH_ISSUER: issuer.issuer,
          OAUTH_RESOURCE: "http://localhost:8443/mcp",
        },
        home: "/home/mcpuser",
      }),
      {
        envFile: undefined,
        user: USER,
        probeSafe: "TEST",
        probeObject: "TEST-obj",
        hostMemoryMb: 4096,
      },
    );
    assertEquals(results.slice(0, 2).map(statusOf), [
      "PASS api-keys",
      "PASS oauth",
    ]);
    assertEquals(results[0]!.detail, "API keys off (MCP_AUTH=oauth)");
  });
});
