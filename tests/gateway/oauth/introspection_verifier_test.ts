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
  FakeIssuer,
  INTROSPECTION_CLIENT,
  oauthConfig,
  RESOURCE,
  testKey,
} from "./_fake_issuer.ts";
import { withClock } from "./_clock.ts";

const FAST = { retry: { attempts: 1 }, metadataRetryAfterMs: 0 };
const OPAQUE = "opaque-token-7f3a9c2e4b1d8f6a0e5c3b9d7a1f4e2c";

async function withIssuer(
  body: (issuer: FakeIssuer) => Promise<void>,
): Promise<void> {
  const issuer = FakeIssuer.start([await testKey("RS256", "rsa-1")]);
  try {
    await body(issuer);
  } finally {
    await issuer.stop();
  }
}

function active(
  issuer: FakeIssuer,
  claims: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    active: true,
    iss: issuer.issuer,
    aud: RESOURCE,
    sub: "alice",
    scope: "mcp:tools",
    client_id: "claude-code",
    exp: Math.floor(Date.now() / 1000) + 300,
    ...claims,
  };
}

async function refused(
  verifier: TokenVerifier,
  token: string,
  code: string,
  text: string,
): Promise<void> {
  const error = await assertRejects(() => verifier.verify(token), TokenError);
  assertEquals(error.code, code, error.message);
  assertStringIncludes(error.message, text);
  assert(!error.message.includes(token));
}

Deno.test("introspection mode accepts an active token and caches it briefly, keyed by its hash", async () => {
  await withIssuer(async (issuer) => {
    issuer.introspection.set(OPAQUE, active(issuer, { groups: ["ops"] }));
    const verifier = createTokenVerifier(
      oauthConfig(issuer.issuer, {
        tokenMode: "introspection",
        introspection: INTROSPECTION_CLIENT,
        groupsClaim: "groups",
        requiredScopes: ["mcp:tools"],
      }),
      FAST,
    );
    await withClock(async (clock) => {
      try {
        const token = await verifier.verify(OPAQUE);
        assertEquals(token.principal, "alice");
        assertEquals(token.groups, ["ops"]);
        assertEquals(token.clientId, "claude-code");
        assertEquals(token.tokenId.length, 16, "a hash prefix without jti");
        await verifier.verify(OPAQUE);
        assertEquals(issuer.count("/introspect"), 1, "cached");
        assertEquals(
          issuer.introspectionAuth[0],
          `Basic ${btoa("mcp-gateway:introspection-secret-for-tests")}`,
        );
        clock.advance(31_000);
        issuer.introspection.set(OPAQUE, { active: false });
        await refused(verifier, OPAQUE, "invalid_token", "not active");
        assertEquals(issuer.count("/introspect"), 2, "asked again after 30 s");
      } finally {
        await verifier.close();
      }
    });
  });
});

Deno.test("introspection mode refuses inactive, wrong audience, wrong issuer, expired and under-scoped tokens", async () => {
  await withIssuer(async (issuer) => {
    const verifier = createTokenVerifier(
      oauthConfig(issuer.issuer, {
        tokenMode: "introspection",
        introspection: INTROSPECTION_CLIENT,
        requiredScopes: ["mcp:tools"],
      }),
      FAST,
    );
    const now = Math.floor(Date.now() / 1000);
    const cases: [Record<string, unknown>, string, string][] = [
      [{ active: false }, "invalid_token", "not active"],
      [active(issuer, { active: "true" }), "invalid_token", "not active"],
      [
        active(issuer, { aud: "https://other.example" }),
        "invalid_token",
        "audience",
      ],
      [active(issuer, { aud: undefined }), "invalid_token", "audience"],
      [
        active(issuer, { iss: "https://evil.example" }),
        "invalid_token",
        "not issued by",
      ],
      [active(issuer, { exp: now - 120 }), "invalid_token", "expired"],
      [active(issuer, { nbf: now + 600 }), "invalid_token", "not valid yet"],
      [active(issuer, { scope: "other" }), "insufficient_scope", "mcp:tools"],
      [active(issuer, { sub: undefined }), "invalid_token", '"sub"'],
    ];
    try {
      for (const [index, [answer, code, text]] of cases.entries()) {
        const token = `${OPAQUE}-${index}`;
        issuer.introspection.set(token, answer);
        await refused(verifier, token, code, text);
      }
    } finally {
      await verifier.close();
    }
  });
});

Deno.test("introspection mode refuses with temporarily_unavailable while the endpoint is down, never accepting", async () => {
  await withIssuer(async (issuer) => {
    issuer.introspection.set(OPAQUE, active(issuer));
    const verifier = createTokenVerifier(
      oauthConfig(issuer.issuer, {
        tokenMode: "introspection",
        introspection: INTROSPECTION_CLIENT,
      }),
      FAST,
    );
    try {
      const lines = await captureLogLines(async () => {
        await verifier.verify("warm-up-token-for-the-metadata").catch(() => {});
        issuer.down = true;
        await refused(
          verifier,
          OPAQUE,
          "temporarily_unavailable",
          issuer.issuer,
        );
      });
      assert(!JSON.stringify(lines).includes(OPAQUE), "no token in the log");
      assert(
        !JSON.stringify(lines).includes("introspection-secret"),
        "no secret in the log",
      );
      issuer.down = false;
      assertEquals((await verifier.verify(OPAQUE)).principal, "alice");
    } finally {
      await verifier.close();
    }
  });
});

Deno.test("auto mode checks JWTs locally and introspects opaque tokens", async () => {
  await withIssuer(async (issuer) => {
    issuer.introspection.set(OPAQUE, active(issuer, { sub: "robot" }));
    const verifier = createTokenVerifier(
      oauthConfig(issuer.issuer, {
        tokenMode: "auto",
        introspection: INTROSPECTION_CLIENT,
      }),
      FAST,
    );
    try {
      assertEquals(
        (await verifier.verify(await issuer.sign())).principal,
        "alice",
      );
      assertEquals(issuer.count("/introspect"), 0);
      assertEquals((await verifier.verify(OPAQUE)).principal, "robot");
      assertEquals(issuer.count("/introspect"), 1);
    } finally {
      await verifier.close();
    }
  });
});

Deno.test("auto mode refuses an opaque token when the issuer announces no introspection endpoint", async () => {
  await withIssuer(async (issuer) => {
    issuer.metadata = { introspection_endpoint: undefined };
    issuer.introspection.set(OPAQUE, active(issuer));
    const verifier = createTokenVerifier(
      oauthConfig(issuer.issuer, {
        tokenMode: "auto",
        introspection: INTROSPECTION_CLIENT,
      }),
      FAST,
    );
    try {
      await refused(
        verifier,
        OPAQUE,
        "invalid_token",
        "no introspection endpoint",
      );
      assertEquals(issuer.count("/introspect"), 0);
    } finally {
      await verifier.close();
    }
  });
});

Deno.test("a blank, huge or binary bearer value is refused unread", async () => {
  await withIssuer(async (issuer) => {
    const verifier = createTokenVerifier(oauthConfig(issuer.issuer), FAST);
    try {
      for (const token of ["", "a".repeat(20_000), "abc def", "tok\u00e9n"]) {
        await assertRejects(() => verifier.verify(token), TokenError);
      }
      assertEquals(issuer.count(issuer.metadataPath), 0);
    } finally {
      await verifier.close();
    }
  });
});
