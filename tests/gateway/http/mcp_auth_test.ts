/**
 * mcpAuth(): which credential `MCP_AUTH` accepts, and what a refusal
 * answers: 401 with the RFC 9728 `WWW-Authenticate` pointer an MCP client
 * signs in from, 403 for a missing scope, 503 (nothing accepted) while the
 * issuer is unreachable. The token checks themselves are the verifier's
 * (tests/gateway/oauth/, and end to end against a real OpenID provider in
 * tests/e2e/oauth_test.ts); here a verifier answers per token.
 */
import { Hono } from "hono";
import { apiKeyDigest } from "../../../gateway/config/mod.ts";
import { ApiKeyVerifier } from "../../../gateway/http/api_key_auth.ts";
import type { GatewayEnv } from "../../../gateway/http/gateway_env.ts";
import { challenge, mcpAuth } from "../../../gateway/http/mcp_auth.ts";
import {
  protectedResourceMetadata,
  protectedResourceMetadataUrl,
} from "../../../gateway/http/protected_resource.ts";
import {
  TokenError,
  type TokenVerifier,
  type VerifiedToken,
} from "../../../gateway/oauth/token_verifier.ts";
import { createRateLimits } from "../../../gateway/rate_limits.ts";
import { Secret } from "../../../vault/secret.ts";
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";
import { captureLogLines } from "../../support/log_lines.ts";

const KEY = "k".repeat(40);
const METADATA =
  "https://mcp.corp.example/.well-known/oauth-protected-resource";

/** Answers per token: `good`, `noscope`, `down`, anything else invalid. */
class TableVerifier implements TokenVerifier {
  readonly issuer = "https://idp.corp.example";
  readonly resource = "https://mcp.corp.example";
  readonly requiredScopes = ["mcp:tools"];
  verify(token: string): Promise<VerifiedToken> {
    switch (token) {
      case "good":
        return Promise.resolve({
          principal: "alice@corp.example",
          groups: ["oncall"],
          scopes: ["mcp:tools"],
          clientId: "claude-code",
          tokenId: "jti-1",
        });
      case "noscope":
        return Promise.reject(
          new TokenError(
            "insufficient_scope",
            "The token lacks the scope mcp:tools",
            "mcp:tools",
          ),
        );
      case "down":
        return Promise.reject(
          new TokenError(
            "temporarily_unavailable",
            "The identity provider https://idp.corp.example cannot be reached",
          ),
        );
      default:
        return Promise.reject(
          new TokenError("invalid_token", 'The token\'s "aud" is not "x"'),
        );
    }
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function app(mode: "oauth" | "both"): Hono<GatewayEnv> {
  const rates = createRateLimits({
    authFailures: { limit: 1000, windowSeconds: 60 },
    toolCalls: { limit: 0, windowSeconds: 60 },
  });
  const hono = new Hono<GatewayEnv>();
  hono.use("*", async (c, next): Promise<void> => {
    c.set("clientIp", "10.0.0.9");
    await next();
  });
  hono.use(
    "*",
    mcpAuth({
      ...(mode === "both"
        ? {
          apiKeys: new ApiKeyVerifier([{
            name: "ci-bot",
            sha256: new Secret(apiKeyDigest(KEY)),
          }]),
        }
        : {}),
      oauth: { verifier: new TableVerifier(), resourceMetadataUrl: METADATA },
      failures: rates.authFailures,
    }),
  );
  hono.post("*", (c) => c.json(c.get("principal")));
  return hono;
}

function post(
  hono: Hono<GatewayEnv>,
  headers: Record<string, string>,
): Promise<Response> {
  return Promise.resolve(
    hono.request("/mcp/ssh", { method: "POST", headers }),
  );
}

Deno.test("mcpAuth(): a good bearer token sets an oauth principal with groups, token id and client", async () => {
  const response = await post(app("oauth"), { authorization: "Bearer good" });
  assertEquals(response.status, 200);
  assertEquals(await response.json(), {
    name: "alice@corp.example",
    auth: "oauth",
    groups: ["oncall"],
    tokenId: "jti-1",
    clientId: "claude-code",
  });
});

Deno.test("mcpAuth(): no credential is 401 pointing at the resource metadata, audited as missing and not counted", async () => {
  const lines = await captureLogLines(async () => {
    const response = await post(app("oauth"), {});
    assertEquals(response.status, 401);
    assertEquals(
      response.headers.get("www-authenticate"),
      `Bearer resource_metadata="${METADATA}"`,
    );
    assertStringIncludes((await response.json()).message, "Bearer");
  });
  assert(lines.some((l) => l.reason === "missing_credentials"));
});

Deno.test("mcpAuth(): an invalid token is 401 invalid_token with its description; the token is never logged", async () => {
  const token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
  const lines = await captureLogLines(async () => {
    const response = await post(app("oauth"), {
      authorization: `Bearer ${token}`,
    });
    assertEquals(response.status, 401);
    assertEquals(
      response.headers.get("www-authenticate"),
      `Bearer resource_metadata="${METADATA}", error="invalid_token", error_description="The token's aud is not x"`,
    );
    assertEquals((await response.json()).error, "invalid_token");
  });
  assert(lines.some((l) => l.reason === "invalid_token"));
  assert(!JSON.stringify(lines).includes(token));
});

Deno.test("mcpAuth(): a token without a required scope is 403 insufficient_scope naming the scope", async () => {
  const response = await post(app("oauth"), {
    authorization: "Bearer noscope",
  });
  assertEquals(response.status, 403);
  assertStringIncludes(
    response.headers.get("www-authenticate") ?? "",
    'error="insufficient_scope", error_description="The token lacks the scope mcp:tools", scope="mcp:tools"',
  );
  await response.body?.cancel();
});

Deno.test("mcpAuth(): an unreachable issuer is 503 with Retry-After and accepts nothing", async () => {
  const response = await post(app("both"), {
    authorization: "Bearer down",
    "x-api-key": KEY,
  });
  assertEquals(response.status, 503);
  assertEquals(response.headers.get("retry-after"), "30");
  assertEquals((await response.json()).error, "temporarily_unavailable");
});

Deno.test("mcpAuth(): with MCP_AUTH=both an API key works, and with oauth alone it does not", async () => {
  const both = await post(app("both"), { "x-api-key": KEY });
  assertEquals(both.status, 200);
  assertEquals((await both.json()).auth, "api_key");
  const oauthOnly = await post(app("oauth"), { "x-api-key": KEY });
  assertEquals(oauthOnly.status, 401);
  assertStringIncludes(
    oauthOnly.headers.get("www-authenticate") ?? "",
    'error="invalid_token"',
  );
  await oauthOnly.body?.cancel();
});

Deno.test("challenge() keeps quoted values printable, without quotes or backslashes", () => {
  assertEquals(
    challenge(METADATA, "invalid_token", 'a "quoted"\\ value\nnext'),
    `Bearer resource_metadata="${METADATA}", error="invalid_token", error_description="a quoted valuenext"`,
  );
});

Deno.test("protected resource metadata: the well-known URL per RFC 9728 and the document", () => {
  assertEquals(
    protectedResourceMetadataUrl("https://mcp.corp.example"),
    "https://mcp.corp.example/.well-known/oauth-protected-resource",
  );
  assertEquals(
    protectedResourceMetadataUrl("https://corp.example/mcp-privileged/"),
    "https://corp.example/.well-known/oauth-protected-resource/mcp-privileged",
  );
  assertEquals(
    protectedResourceMetadata({
      resource: "https://mcp.corp.example",
      issuer: "https://idp.corp.example",
      scopes: ["mcp:tools"],
    }),
    {
      resource: "https://mcp.corp.example",
      authorization_servers: ["https://idp.corp.example"],
      scopes_supported: ["mcp:tools"],
      bearer_methods_supported: ["header"],
      resource_name: "mcp-privileged",
    },
  );
});
