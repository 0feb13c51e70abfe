import { SignJWT } from "jose";
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../support/assert.ts";
import { captureLogLines } from "../../support/log_lines.ts";
import {
  createTokenVerifier,
  TokenError,
  type TokenVerifier,
} from "../../../gateway/oauth/mod.ts";
import {
  base64url,
  FakeIssuer,
  oauthConfig,
  RESOURCE,
  type TestKey,
  testKey,
} from "./_fake_issuer.ts";
import { withClock } from "./_clock.ts";

const FAST = {
  retry: { attempts: 1 },
  metadataRetryAfterMs: 0,
};

/** Runs `body` against a fresh issuer with an RS256 and an ES256 key. */
async function withIssuer(
  body: (
    issuer: FakeIssuer,
    keys: { rsa: TestKey; ec: TestKey },
  ) => Promise<void>,
): Promise<void> {
  const rsa = await testKey("RS256", "rsa-1");
  const ec = await testKey("ES256", "ec-1");
  const issuer = FakeIssuer.start([rsa, ec]);
  try {
    await body(issuer, { rsa, ec });
  } finally {
    await issuer.stop();
  }
}

async function refused(
  verifier: TokenVerifier,
  token: string,
  code: string,
  text: string,
): Promise<TokenError> {
  const error = await assertRejects(() => verifier.verify(token), TokenError);
  assertEquals(error.code, code, error.message);
  assertStringIncludes(error.message, text);
  assert(!error.message.includes(token), "the message never holds the token");
  return error;
}

Deno.test("createTokenVerifier() accepts valid RS256 and ES256 tokens and reads the caller", async () => {
  await withIssuer(async (issuer, { rsa, ec }) => {
    const verifier = createTokenVerifier(
      oauthConfig(issuer.issuer, {
        requiredScopes: ["mcp:tools"],
        groupsClaim: "groups",
      }),
      FAST,
    );
    try {
      const rs = await verifier.verify(
        await issuer.sign({ groups: ["ops", "dba"], jti: "tok-1" }, {
          key: rsa,
        }),
      );
      assertEquals(rs.principal, "alice");
      assertEquals(rs.groups, ["ops", "dba"]);
      assertEquals(rs.scopes, ["mcp:tools"]);
      assertEquals(rs.clientId, "claude-code");
      assertEquals(rs.tokenId, "tok-1");
      assert(typeof rs.expiresAt === "number");
      const es = await verifier.verify(
        await issuer.sign({ sub: "bob@example.com" }, {
          key: ec,
          header: { typ: "JWT" },
        }),
      );
      assertEquals(es.principal, "bob@example.com");
      assertEquals(es.groups, []);
      assertEquals(verifier.issuer, issuer.issuer);
      assertEquals(verifier.resource, RESOURCE);
      assertEquals(verifier.requiredScopes, ["mcp:tools"]);
      // One metadata and one JWKS fetch serve both.
      assertEquals(issuer.count(issuer.metadataPath), 1);
      assertEquals(issuer.count("/jwks"), 1);
    } finally {
      await verifier.close();
    }
  });
});

Deno.test("createTokenVerifier() refuses wrong audience, expiry, nbf in the future and a wrong issuer", async () => {
  await withIssuer(async (issuer) => {
    const verifier = createTokenVerifier(oauthConfig(issuer.issuer), FAST);
    const now = Math.floor(Date.now() / 1000);
    try {
      await refused(
        verifier,
        await issuer.sign({ aud: "https://other.example/mcp" }),
        "invalid_token",
        "audience",
      );
      await refused(
        verifier,
        await issuer.sign({ aud: ["a", "b"] }),
        "invalid_token",
        "audience",
      );
      await refused(
        verifier,
        await issuer.sign({ exp: now - 120, iat: now - 600 }),
        "invalid_token",
        "expired",
      );
      await refused(
        verifier,
        await issuer.sign({ nbf: now + 600 }),
        "invalid_token",
        "not valid yet",
      );
      await refused(
        verifier,
        await issuer.sign({ iss: "https://evil.example" }),
        "invalid_token",
        "not issued by",
      );
      await refused(
        verifier,
        await issuer.sign({ exp: undefined }),
        "invalid_token",
        "no expiry",
      );
      // Within the clock tolerance (60 s) is still fine.
      await verifier.verify(
        await issuer.sign({ exp: now - 10, iat: now - 300 }),
      );
      await verifier.verify(await issuer.sign({ nbf: now + 10 }));
      // An audience list naming the resource is fine.
      await verifier.verify(await issuer.sign({ aud: ["other", RESOURCE] }));
    } finally {
      await verifier.close();
    }
  });
});

Deno.test("createTokenVerifier() refuses alg none, HS256 signed with the public key and unknown typ", async () => {
  await withIssuer(async (issuer, { rsa }) => {
    const verifier = createTokenVerifier(oauthConfig(issuer.issuer), FAST);
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: issuer.issuer,
      aud: RESOURCE,
      sub: "mallory",
      exp: now + 300,
    };
    try {
      const none = `${base64url({ alg: "none", typ: "JWT" })}.${
        base64url(claims)
      }.`;
      await refused(verifier, none, "invalid_token", "refused");
      // The classic forgery: HMAC keyed with the issuer's public key.
      const publicBytes = new TextEncoder().encode(
        JSON.stringify(rsa.publicJwk),
      );
      const hs = await new SignJWT(claims)
        .setProtectedHeader({ alg: "HS256", kid: rsa.kid })
        .sign(publicBytes);
      await refused(verifier, hs, "invalid_token", "refused");
      const pem = await new SignJWT(claims)
        .setProtectedHeader({ alg: "HS256" })
        .sign(new TextEncoder().encode(rsa.publicJwk.n!));
      await refused(verifier, pem, "invalid_token", "refused");
      await refused(
        verifier,
        await issuer.sign({}, { header: { typ: "logout+jwt" } }),
        "invalid_token",
        "not an access token",
      );
      // A token signed by a key the issuer does not have, under its kid.
      const stranger = await testKey("RS256", "rsa-1");
      await refused(
        verifier,
        await issuer.sign({}, { key: stranger }),
        "invalid_token",
        "signature",
      );
      await refused(verifier, "not.a.jwt", "invalid_token", "JWT");
    } finally {
      await verifier.close();
    }
  });
});

Deno.test("createTokenVerifier() accepts only the algorithms the issuer announces", async () => {
  await withIssuer(async (issuer, { ec }) => {
    issuer.metadata = { id_token_signing_alg_values_supported: ["RS256"] };
    const verifier = createTokenVerifier(oauthConfig(issuer.issuer), FAST);
    try {
      await refused(
        verifier,
        await issuer.sign({}, { key: ec }),
        "invalid_token",
        "RS256",
      );
      await verifier.verify(await issuer.sign());
    } finally {
      await verifier.close();
    }
  });
});

Deno.test("createTokenVerifier() refreshes the JWKS once for an unknown kid and not for a burst of them", async () => {
  await withIssuer(async (issuer) => {
    await withClock(async (clock) => {
      const verifier = createTokenVerifier(oauthConfig(issuer.issuer), {
        ...FAST,
        jwksCooldownMs: 30_000,
      });
      try {
        await verifier.verify(await issuer.sign());
        assertEquals(issuer.count("/jwks"), 1);
        clock.advance(31_000);
        const unknown = await issuer.sign({}, { kid: "no-such-kid" });
        await refused(verifier, unknown, "invalid_token", '"no-such-kid"');
        assertEquals(
          issuer.count("/jwks"),
          2,
          "one refresh for the unknown kid",
        );
        const burst = await Promise.all(
          Array.from(
            { length: 25 },
            (_, i) => issuer.sign({}, { kid: `forged-${i}` }),
          ),
        );
        const results = await Promise.allSettled(
          burst.map((t) => verifier.verify(t)),
        );
        assert(results.every((r) => r.status === "rejected"));
        assertEquals(
          issuer.count("/jwks"),
          2,
          "no refresh during the cooldown",
        );
        // Known keys still work meanwhile.
        await verifier.verify(await issuer.sign());
      } finally {
        await verifier.close();
      }
    });
  });
});

Deno.test("createTokenVerifier() follows a JWKS rotation", async () => {
  await withIssuer(async (issuer, { rsa }) => {
    await withClock(async (clock) => {
      const verifier = createTokenVerifier(oauthConfig(issuer.issuer), FAST);
      try {
        const old = await issuer.sign({}, { key: rsa });
        await verifier.verify(old);
        const next = await testKey("RS256", "rsa-2");
        issuer.keys = [next];
        clock.advance(31_000);
        const fresh = await issuer.sign({}, { key: next });
        assertEquals((await verifier.verify(fresh)).principal, "alice");
        await refused(verifier, old, "invalid_token", '"rsa-1"');
      } finally {
        await verifier.close();
      }
    });
  });
});

Deno.test("createTokenVerifier() refuses a token without a required scope, naming the scopes", async () => {
  await withIssuer(async (issuer) => {
    const verifier = createTokenVerifier(
      oauthConfig(issuer.issuer, {
        requiredScopes: ["mcp:tools", "mcp:admin"],
      }),
      FAST,
    );
    try {
      const error = await refused(
        verifier,
        await issuer.sign({ scope: "mcp:tools" }),
        "insufficient_scope",
        "mcp:admin",
      );
      assertEquals(error.scope, "mcp:tools mcp:admin");
      // `scp` as an array (Okta) counts too.
      const ok = await verifier.verify(
        await issuer.sign({
          scope: undefined,
          scp: ["mcp:admin", "mcp:tools"],
        }),
      );
      assertEquals(ok.scopes, ["mcp:admin", "mcp:tools"]);
    } finally {
      await verifier.close();
    }
  });
});

Deno.test("createTokenVerifier() names the principal claim when it is missing or malformed", async () => {
  await withIssuer(async (issuer) => {
    const verifier = createTokenVerifier(
      oauthConfig(issuer.issuer, { principalClaim: "preferred_username" }),
      FAST,
    );
    try {
      await refused(
        verifier,
        await issuer.sign(),
        "invalid_token",
        '"preferred_username"',
      );
      await refused(
        verifier,
        await issuer.sign({ preferred_username: "alice smith" }),
        "invalid_token",
        '"preferred_username" claim (OAUTH_PRINCIPAL_CLAIM) is not',
      );
      await refused(
        verifier,
        await issuer.sign({ preferred_username: ["alice"] }),
        "invalid_token",
        "not a principal name",
      );
      await refused(
        verifier,
        await issuer.sign({ preferred_username: "x".repeat(257) }),
        "invalid_token",
        "not a principal name",
      );
      const ok = await verifier.verify(
        await issuer.sign({
          preferred_username: "alice.smith+ops@example.com",
        }),
      );
      assertEquals(ok.principal, "alice.smith+ops@example.com");
    } finally {
      await verifier.close();
    }
  });
});

Deno.test("createTokenVerifier() takes groups from an array or a string and ignores other values", async () => {
  await withIssuer(async (issuer) => {
    const verifier = createTokenVerifier(
      oauthConfig(issuer.issuer, { groupsClaim: "roles" }),
      FAST,
    );
    try {
      const groups = async (roles: unknown): Promise<readonly string[]> =>
        (await verifier.verify(await issuer.sign({ roles }))).groups;
      assertEquals(await groups(["ops", 7, null, { a: 1 }, "dba", "ops"]), [
        "ops",
        "dba",
      ]);
      assertEquals(await groups("ops  dba"), ["ops", "dba"]);
      assertEquals(await groups(42), []);
      assertEquals(await groups(undefined), []);
      assertEquals(
        (await groups(Array.from({ length: 500 }, (_, i) => `g${i}`))).length,
        256,
      );
    } finally {
      await verifier.close();
    }
  });
});

Deno.test("createTokenVerifier() refuses every token while the issuer is down at start and recovers, logging the outage once and no token", async () => {
  await withIssuer(async (issuer) => {
    issuer.down = true;
    const verifier = createTokenVerifier(oauthConfig(issuer.issuer), FAST);
    const token = await issuer.sign();
    const lines = await captureLogLines(async () => {
      try {
        for (let i = 0; i < 3; i++) {
          const error = await refused(
            verifier,
            token,
            "temporarily_unavailable",
            issuer.issuer,
          );
          assertStringIncludes(error.message, "no token is accepted");
        }
        issuer.down = false;
        assertEquals((await verifier.verify(token)).principal, "alice");
        await refused(
          verifier,
          await issuer.sign({ aud: "x" }),
          "invalid_token",
          "audience",
        );
      } finally {
        await verifier.close();
      }
    });
    const outages = lines.filter((l) => l.event === "oauth_issuer_unreachable");
    assertEquals(outages.length, 1, "one error line per outage");
    assertEquals(outages[0]!.level, "error");
    assertEquals(outages[0]!.issuer, issuer.issuer);
    assert(lines.some((l) => l.event === "oauth_issuer_reachable"));
    assert(
      lines.some((l) =>
        l.event === "oauth_token_refused" && l.reason === "claim aud"
      ),
    );
    const text = JSON.stringify(lines);
    assert(!text.includes(token), "no token in the log");
    assert(!text.includes(token.split(".")[2]!), "no signature in the log");
  });
});

Deno.test("createTokenVerifier() refuses tokens while the JWKS cannot be fetched, logging that once", async () => {
  await withIssuer(async (issuer) => {
    issuer.metadata = {
      jwks_uri: `${new URL(issuer.issuer).origin}/no-jwks-here`,
    };
    const verifier = createTokenVerifier(oauthConfig(issuer.issuer), FAST);
    const lines = await captureLogLines(async () => {
      try {
        for (let i = 0; i < 3; i++) {
          await refused(
            verifier,
            await issuer.sign(),
            "temporarily_unavailable",
            "signing keys",
          );
        }
      } finally {
        await verifier.close();
      }
    });
    const outages = lines.filter((l) => l.event === "oauth_jwks_unavailable");
    assertEquals(outages.length, 1, "one error line per outage");
    assertEquals(outages[0]!.kid, "rsa-1");
  });
});

Deno.test("createTokenVerifier() refuses every token when the metadata names another issuer", async () => {
  await withIssuer(async (issuer) => {
    issuer.metadata = { issuer: "https://elsewhere.example" };
    const verifier = createTokenVerifier(oauthConfig(issuer.issuer), FAST);
    try {
      await refused(
        verifier,
        await issuer.sign(),
        "temporarily_unavailable",
        "set OAUTH_ISSUER to exactly",
      );
      assertEquals(issuer.count("/jwks"), 0);
    } finally {
      await verifier.close();
    }
  });
});

Deno.test("createTokenVerifier() with an unreachable issuer refuses with temporarily_unavailable", async () => {
  const rsa = await testKey("RS256", "rsa-1");
  const issuer = FakeIssuer.start([rsa]);
  const token = await issuer.sign();
  await issuer.stop();
  const verifier = createTokenVerifier(oauthConfig(issuer.issuer), FAST);
  try {
    await refused(
      verifier,
      token,
      "temporarily_unavailable",
      `Cannot reach the issuer ${issuer.issuer}`,
    );
  } finally {
    await verifier.close();
  }
});

Deno.test("createTokenVerifier() with OAUTH_AUDIENCE: tokens must name it instead of the resource URL (Entra ID v2)", async () => {
  await withIssuer(async (issuer) => {
    const clientId = "0b6f3c2a-4d5e-4f60-8a7b-9c0d1e2f3a4b";
    const verifier = createTokenVerifier(
      oauthConfig(issuer.issuer, { audience: clientId }),
      FAST,
    );
    try {
      const ok = await verifier.verify(await issuer.sign({ aud: clientId }));
      assertEquals(ok.principal, "alice");
      // The resource URL itself is now the wrong audience.
      await refused(
        verifier,
        await issuer.sign({ aud: RESOURCE }),
        "invalid_token",
        "OAUTH_AUDIENCE",
      );
      // The discovery document still names the resource URL.
      assertEquals(verifier.resource, RESOURCE);
    } finally {
      await verifier.close();
    }
  });
});
