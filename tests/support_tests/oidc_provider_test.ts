/**
 * The OpenID provider fixture itself: discovery, client-credentials JWTs for
 * a resource, the authorization-code flow with PKCE through the scripted
 * client, key rotation, introspection and revocation with opaque tokens,
 * dynamic registration, the HTTPS variant, and a restart on the same port.
 *
 * @module
 */
import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
} from "../support/assert.ts";
import {
  authorizationCodeFlow,
  discoverAuthorizationServer,
} from "../support/oauth_flow.ts";
import {
  CLI_REDIRECT_URI,
  type OidcProviderFixture,
  serviceAccountName,
  startOidcProvider,
} from "../support/oidc_provider.ts";
import { createTlsFixtures } from "../support/tls_fixtures.ts";

const RESOURCE = "https://mcp.example.test";

function jwtPart(token: string, index: 0 | 1): Record<string, unknown> {
  const part = token.split(".")[index] ?? "";
  const base64 = part.replaceAll("-", "+").replaceAll("_", "/");
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

async function withProvider(
  fn: (idp: OidcProviderFixture) => Promise<void>,
  options: Parameters<typeof startOidcProvider>[0] = {},
): Promise<void> {
  const idp = await startOidcProvider(options);
  try {
    await fn(idp);
  } finally {
    await idp.stop();
  }
}

async function workloadToken(
  idp: OidcProviderFixture,
  resource = RESOURCE,
): Promise<string> {
  const { clientId, clientSecret } = idp.clients.workload;
  return await idp.clientCredentialsToken(
    clientId,
    clientSecret,
    resource,
    "mcp:tools",
  );
}

async function kids(idp: OidcProviderFixture): Promise<string[]> {
  const jwks = await (await fetch(idp.jwksUri)).json();
  return jwks.keys.map((k: { kid: string }) => k.kid);
}

Deno.test("oidcProvider serves discovery metadata naming its endpoints and features", async () => {
  await withProvider(async (idp) => {
    const metadata = await discoverAuthorizationServer(idp.issuer);
    assertEquals(metadata.issuer, idp.issuer);
    assertEquals(metadata.jwks_uri, idp.jwksUri);
    assertEquals(metadata.token_endpoint, idp.tokenEndpoint);
    assertEquals(metadata.introspection_endpoint, idp.introspectionEndpoint);
    assertEquals(metadata.registration_endpoint, idp.registrationEndpoint);
    assertEquals(metadata.code_challenge_methods_supported, ["S256"]);
    const grants = metadata.grant_types_supported as string[];
    assert(grants.includes("client_credentials"), String(grants));
    assert(grants.includes("authorization_code"), String(grants));
    assertEquals(await kids(idp), [idp.currentKid()]);
  });
});

Deno.test("oidcProvider issues a client-credentials JWT whose audience is the resource and whose scope is granted", async () => {
  await withProvider(async (idp) => {
    const token = await workloadToken(idp);
    const header = jwtPart(token, 0);
    assertEquals(header.alg, "RS256");
    assertEquals(header.typ, "at+jwt");
    assertEquals(header.kid, idp.currentKid());
    const claims = jwtPart(token, 1);
    assertEquals(claims.iss, idp.issuer);
    assertEquals(claims.aud, RESOURCE);
    assertEquals(claims.scope, "mcp:tools");
    assertEquals(claims.client_id, idp.clients.workload.clientId);
    assertEquals(claims.sub, idp.clients.workload.clientId);
    assertEquals(
      claims.preferred_username,
      serviceAccountName(idp.clients.workload.clientId),
    );
    assertEquals(claims.groups, undefined);
    assertEquals(typeof claims.jti, "string");
    assertEquals(
      (claims.exp as number) - (claims.iat as number),
      600,
    );
  });
});

Deno.test("oidcProvider refuses a client-credentials request with a wrong secret", async () => {
  await withProvider(async (idp) => {
    const error = await assertRejects(() =>
      idp.clientCredentialsToken(
        idp.clients.workload.clientId,
        "wrong",
        RESOURCE,
        "mcp:tools",
      )
    );
    assertStringIncludes(error.message, "invalid_client");
  });
});

Deno.test("oidcProvider issues short-lived tokens after setAccessTokenTtl()", async () => {
  await withProvider(async (idp) => {
    idp.setAccessTokenTtl(3);
    const claims = jwtPart(await workloadToken(idp), 1);
    assertEquals((claims.exp as number) - (claims.iat as number), 3);
  });
});

Deno.test("authorizationCodeFlow() signs alice in with PKCE and gets a token for the resource carrying her groups", async () => {
  await withProvider(async (idp) => {
    const tokens = await authorizationCodeFlow(idp.issuer, {
      clientId: idp.clients.cli.clientId,
      redirectUri: CLI_REDIRECT_URI,
      resource: RESOURCE,
      scope: "openid mcp:tools",
      username: "alice",
      password: idp.accounts.alice!.password,
    });
    assertEquals(tokens.tokenType, "Bearer");
    assert(tokens.idToken !== undefined, "an ID token for scope openid");
    const claims = jwtPart(tokens.accessToken, 1);
    assertEquals(claims.sub, idp.accounts.alice!.sub);
    assertEquals(claims.preferred_username, "alice");
    assertEquals(claims.groups, ["oncall", "dba"]);
    assertEquals(claims.aud, RESOURCE);
    assertEquals(claims.scope, "mcp:tools");
    assertEquals(claims.client_id, idp.clients.cli.clientId);
  });
});

Deno.test("authorizationCodeFlow() fails with a wrong password, naming the login form", async () => {
  await withProvider(async (idp) => {
    const error = await assertRejects(() =>
      authorizationCodeFlow(idp.issuer, {
        clientId: idp.clients.cli.clientId,
        redirectUri: CLI_REDIRECT_URI,
        resource: RESOURCE,
        scope: "mcp:tools",
        username: "alice",
        password: "not-her-password",
      })
    );
    assertStringIncludes(error.message, "Wrong user name or password");
  });
});

Deno.test("oidcProvider registers a public client dynamically and signs bob in for it", async () => {
  await withProvider(async (idp) => {
    const redirectUri = "http://127.0.0.1:53682/callback";
    const client = await idp.registerClient({
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      client_name: "test client",
    });
    assertEquals(client.clientSecret, undefined);
    const tokens = await authorizationCodeFlow(idp.issuer, {
      clientId: client.clientId,
      redirectUri,
      resource: RESOURCE,
      scope: "mcp:tools",
      username: "bob",
      password: idp.accounts.bob!.password,
    });
    const claims = jwtPart(tokens.accessToken, 1);
    assertEquals(claims.sub, idp.accounts.bob!.sub);
    assertEquals(claims.groups, ["readonly"]);
    assertEquals(claims.client_id, client.clientId);
  });
});

Deno.test("oidcProvider.rotateKeys() publishes a new kid, drops the old one and signs with the new one", async () => {
  await withProvider(async (idp) => {
    const before = jwtPart(await workloadToken(idp), 0);
    const { previousKid, kid } = await idp.rotateKeys();
    assertEquals(before.kid, previousKid);
    assertNotEquals(kid, previousKid);
    assertEquals(await kids(idp), [kid]);
    assertEquals(jwtPart(await workloadToken(idp), 0).kid, kid);
    const graceful = await idp.rotateKeys({ keepPrevious: true });
    assertEquals(await kids(idp), [graceful.kid, kid]);
  });
});

Deno.test("oidcProvider with opaque tokens answers introspection active, then inactive after revocation", async () => {
  await withProvider(async (idp) => {
    const token = await workloadToken(idp);
    assertEquals(token.split(".").length, 1, "an opaque token");
    const active = await idp.introspect(token);
    assertEquals(active.active, true);
    assertEquals(active.aud, RESOURCE);
    assertEquals(active.scope, "mcp:tools");
    assertEquals(active.client_id, idp.clients.workload.clientId);
    assertEquals(active.iss, idp.issuer);
    await idp.revoke(token);
    assertEquals(await idp.introspect(token), { active: false });
  }, { accessTokenFormat: "opaque" });
});

Deno.test("oidcProvider introspection of an opaque code-flow token carries the account's claims", async () => {
  await withProvider(async (idp) => {
    const tokens = await authorizationCodeFlow(idp.issuer, {
      clientId: idp.clients.cli.clientId,
      redirectUri: CLI_REDIRECT_URI,
      resource: RESOURCE,
      scope: "mcp:tools",
      username: "alice",
      password: idp.accounts.alice!.password,
    });
    const answer = await idp.introspect(tokens.accessToken);
    assertEquals(answer.active, true);
    assertEquals(answer.sub, idp.accounts.alice!.sub);
    assertEquals(answer.preferred_username, "alice");
    assertEquals(answer.groups, ["oncall", "dba"]);
  }, { accessTokenFormat: "opaque" });
});

Deno.test("oidcProvider stops (connections refused) and restarts on the same port with its state", async () => {
  await withProvider(async (idp) => {
    const token = await workloadToken(idp);
    await idp.stop();
    assertEquals(idp.running, false);
    await assertRejects(() => fetch(idp.jwksUri));
    await idp.restart();
    assertEquals(idp.running, true);
    assertEquals(new URL(idp.issuer).port, String(idp.port));
    assertEquals((await idp.introspect(token)).active, true);
    const again = await idp.introspect(await workloadToken(idp));
    assertEquals(again.active, true);
    assertEquals(again.iss, idp.issuer);
  }, { accessTokenFormat: "opaque" });
});

Deno.test("oidcProvider over HTTPS serves discovery and tokens trusted through its CA", async () => {
  const tls = createTlsFixtures();
  await withProvider(async (idp) => {
    assert(idp.issuer.startsWith("https://127.0.0.1:"), idp.issuer);
    const metadata = await discoverAuthorizationServer(
      idp.issuer,
      tls.caCertPem,
    );
    assertEquals(metadata.issuer, idp.issuer);
    const claims = jwtPart(await workloadToken(idp), 1);
    assertEquals(claims.iss, idp.issuer);
    const tokens = await authorizationCodeFlow(idp.issuer, {
      clientId: idp.clients.cli.clientId,
      redirectUri: CLI_REDIRECT_URI,
      resource: RESOURCE,
      scope: "mcp:tools",
      username: "alice",
      password: idp.accounts.alice!.password,
      caCertPem: tls.caCertPem,
    });
    assertEquals(
      jwtPart(tokens.accessToken, 1).preferred_username,
      "alice",
    );
  }, {
    tls: {
      certPem: tls.serverCertPem,
      keyPem: tls.serverKeyPem,
      caCertPem: tls.caCertPem,
    },
  });
});

Deno.test("oidcProvider.signWithIssuerKey() makes a JWT the published key verifies", async () => {
  await withProvider(async (idp) => {
    const forged = await idp.signWithIssuerKey({ sub: "x", nbf: 1 });
    const [header, payload, signature] = forged.split(".");
    const jwk = idp.publicJwks().keys[0]!;
    const key = await crypto.subtle.importKey(
      "jwk",
      { kty: jwk.kty!, n: jwk.n!, e: jwk.e! },
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      false,
      ["verify"],
    );
    const bytes = Uint8Array.from(
      atob(signature!.replaceAll("-", "+").replaceAll("_", "/")),
      (c) => c.charCodeAt(0),
    );
    assert(
      await crypto.subtle.verify(
        "RSASSA-PKCS1-v1_5",
        key,
        bytes,
        new TextEncoder().encode(`${header}.${payload}`),
      ),
      "the signature verifies",
    );
    assertEquals(jwtPart(forged, 0).kid, idp.currentKid());
  });
});
