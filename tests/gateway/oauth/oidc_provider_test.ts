/**
 * The verifier against a real OpenID provider (`oidc-provider`, see
 * tests/support/oidc_provider.ts): its JWT and opaque access tokens, key
 * rotation, revocation, HTTPS with a private CA, and the provider down at
 * start-up.
 */
import {
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../support/assert.ts";
import {
  type OidcProviderFixture,
  serviceAccountName,
  startOidcProvider,
  type StartOidcProviderOptions,
} from "../../support/oidc_provider.ts";
import { createTlsFixtures } from "../../support/tls_fixtures.ts";
import type { OAuthConfig } from "../../../gateway/config/mod.ts";
import { Secret } from "../../../vault/secret.ts";
import {
  createTokenVerifier,
  TokenError,
  type TokenVerifier,
  type TokenVerifierOptions,
} from "../../../gateway/oauth/mod.ts";

const RESOURCE = "https://mcp.example.test/mcp";

async function withProvider(
  body: (idp: OidcProviderFixture) => Promise<void>,
  options: StartOidcProviderOptions = {},
): Promise<void> {
  const idp = await startOidcProvider(options);
  try {
    await body(idp);
  } finally {
    await idp.stop();
  }
}

async function withVerifier(
  config: OAuthConfig,
  options: TokenVerifierOptions,
  body: (verifier: TokenVerifier) => Promise<void>,
): Promise<void> {
  const verifier = createTokenVerifier(config, options);
  try {
    await body(verifier);
  } finally {
    await verifier.close();
  }
}

function config(
  idp: OidcProviderFixture,
  overrides: Partial<OAuthConfig> = {},
): OAuthConfig {
  return {
    mode: "oauth",
    issuer: idp.issuer,
    resource: RESOURCE,
    requiredScopes: ["mcp:tools"],
    principalClaim: "preferred_username",
    groupsClaim: "groups",
    tokenMode: "jwt",
    clockSkewSeconds: 60,
    ...overrides,
  };
}

function workloadToken(
  idp: OidcProviderFixture,
  scope = "mcp:tools",
  resource = RESOURCE,
): Promise<string> {
  const { clientId, clientSecret } = idp.clients.workload;
  return idp.clientCredentialsToken(clientId, clientSecret, resource, scope);
}

const FAST = { retry: { attempts: 1 }, metadataRetryAfterMs: 0 };

Deno.test("createTokenVerifier() accepts the provider's client-credentials JWT and refuses its other tokens", async () => {
  await withProvider(async (idp) => {
    await withVerifier(config(idp), FAST, async (verifier) => {
      const token = await verifier.verify(await workloadToken(idp));
      assertEquals(
        token.principal,
        serviceAccountName(idp.clients.workload.clientId),
      );
      assertEquals(token.clientId, idp.clients.workload.clientId);
      assertEquals(token.scopes.includes("mcp:tools"), true);
      const elsewhere = await workloadToken(
        idp,
        "mcp:tools",
        "https://other.example.test/mcp",
      );
      const wrongAudience = await assertRejects(
        () => verifier.verify(elsewhere),
        TokenError,
      );
      assertStringIncludes(wrongAudience.message, "audience");
      const adminOnly = await workloadToken(idp, "mcp:admin");
      const noScope = await assertRejects(
        () => verifier.verify(adminOnly),
        TokenError,
      );
      assertEquals(noScope.code, "insufficient_scope");
      assertEquals(noScope.scope, "mcp:tools");
    });
  });
});

Deno.test("createTokenVerifier() follows the provider's key rotation", async () => {
  await withProvider(async (idp) => {
    await withVerifier(
      config(idp),
      { ...FAST, jwksCooldownMs: 0 },
      async (verifier) => {
        await verifier.verify(await workloadToken(idp));
        const { previousKid, kid } = await idp.rotateKeys();
        const fresh = await workloadToken(idp);
        assertEquals(
          (await verifier.verify(fresh)).scopes.includes("mcp:tools"),
          true,
        );
        assertEquals(kid !== previousKid, true);
      },
    );
  });
});

Deno.test("introspection mode accepts the provider's opaque token and refuses it once revoked", async () => {
  await withProvider(async (idp) => {
    const client = idp.clients.introspection;
    await withVerifier(
      config(idp, {
        tokenMode: "introspection",
        introspection: {
          clientId: client.clientId,
          clientSecret: new Secret(client.clientSecret),
        },
      }),
      { ...FAST, introspectionCacheMs: 0 },
      async (verifier) => {
        const opaque = await workloadToken(idp);
        assertEquals(opaque.split(".").length, 1, "an opaque token");
        assertEquals(
          (await verifier.verify(opaque)).principal,
          serviceAccountName(idp.clients.workload.clientId),
        );
        await idp.revoke(opaque);
        const error = await assertRejects(
          () => verifier.verify(opaque),
          TokenError,
        );
        assertEquals(error.code, "invalid_token");
        assertStringIncludes(error.message, "not active");
      },
    );
  }, { accessTokenFormat: "opaque" });
});

Deno.test("createTokenVerifier() reaches an HTTPS provider through OAUTH_CA_BUNDLE's CA", async () => {
  const tls = createTlsFixtures();
  await withProvider(async (idp) => {
    await withVerifier(
      config(idp, { caPem: tls.caCertPem }),
      FAST,
      async (verifier) => {
        await verifier.verify(await workloadToken(idp));
      },
    );
    await withVerifier(config(idp), FAST, async (verifier) => {
      const error = await assertRejects(
        async () => verifier.verify(await workloadToken(idp)),
        TokenError,
      );
      assertEquals(error.code, "temporarily_unavailable");
    });
  }, {
    tls: {
      certPem: tls.serverCertPem,
      keyPem: tls.serverKeyPem,
      caCertPem: tls.caCertPem,
    },
  });
});

Deno.test("createTokenVerifier() refuses every token while the provider is down at start and recovers when it is back", async () => {
  await withProvider(async (idp) => {
    const token = await workloadToken(idp);
    await idp.stop();
    await withVerifier(config(idp), FAST, async (verifier) => {
      const error = await assertRejects(
        () => verifier.verify(token),
        TokenError,
      );
      assertEquals(error.code, "temporarily_unavailable");
      assertStringIncludes(error.message, idp.issuer);
      await idp.restart();
      assertEquals(
        (await verifier.verify(token)).principal,
        serviceAccountName(idp.clients.workload.clientId),
      );
    });
  });
});
