import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../support/assert.ts";
import {
  fetchIssuerMetadata,
  IssuerError,
  type IssuerFetchFunction,
  metadataUrls,
} from "../../../gateway/oauth/mod.ts";

Deno.test("metadataUrls() inserts the issuer's path after the well-known prefix (RFC 8414), then appends (OIDC)", () => {
  assertEquals(metadataUrls("https://idp.example.com").map(String), [
    "https://idp.example.com/.well-known/oauth-authorization-server",
    "https://idp.example.com/.well-known/openid-configuration",
  ]);
  assertEquals(metadataUrls("https://idp.example.com/").map(String), [
    "https://idp.example.com/.well-known/oauth-authorization-server",
    "https://idp.example.com/.well-known/openid-configuration",
  ]);
  assertEquals(
    metadataUrls("https://login.example.com/tenant-1/v2.0").map(String),
    [
      "https://login.example.com/.well-known/oauth-authorization-server/tenant-1/v2.0",
      "https://login.example.com/.well-known/openid-configuration/tenant-1/v2.0",
      "https://login.example.com/tenant-1/v2.0/.well-known/openid-configuration",
    ],
  );
});

/** A fetch that answers from a table of URL -> response factories and counts calls. */
function fakeFetch(
  routes: Record<string, () => Response | Promise<Response>>,
): { fetch: IssuerFetchFunction; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    fetch: (url) => {
      const href = String(url);
      calls.push(href);
      const route = routes[href];
      return Promise.resolve(
        route === undefined ? new Response("", { status: 404 }) : route(),
      );
    },
  };
}

const ISSUER = "https://idp.example.com/realms/corp";

Deno.test("fetchIssuerMetadata() falls back to openid-configuration and reads the fields it uses", async () => {
  const { fetch, calls } = fakeFetch({
    "https://idp.example.com/realms/corp/.well-known/openid-configuration":
      () =>
        Response.json({
          issuer: ISSUER,
          jwks_uri: `${ISSUER}/certs`,
          introspection_endpoint: `${ISSUER}/introspect`,
          introspection_endpoint_auth_methods_supported: ["client_secret_post"],
          id_token_signing_alg_values_supported: ["RS256", "none"],
          scopes_supported: 7,
        }),
  });
  const metadata = await fetchIssuerMetadata(ISSUER, { fetch });
  assertEquals(calls.length, 3);
  assertEquals(metadata.jwksUri, `${ISSUER}/certs`);
  assertEquals(metadata.introspectionEndpoint, `${ISSUER}/introspect`);
  assertEquals(metadata.introspectionAuthMethods, ["client_secret_post"]);
  assertEquals(metadata.idTokenSigningAlgs, ["RS256", "none"]);
  assertEquals(metadata.scopesSupported, undefined);
  assertEquals(metadata.source, calls[2]);
});

Deno.test("fetchIssuerMetadata() refuses metadata naming another issuer, even by a trailing slash", async () => {
  const { fetch } = fakeFetch({
    "https://idp.example.com/.well-known/oauth-authorization-server/realms/corp":
      () =>
        Response.json({ issuer: `${ISSUER}/`, jwks_uri: `${ISSUER}/certs` }),
  });
  const error = await assertRejects(
    () => fetchIssuerMetadata(ISSUER, { fetch }),
    IssuerError,
  );
  assertStringIncludes(
    error.message,
    "set OAUTH_ISSUER to exactly the issuer the metadata names",
  );
  assertEquals(error.retryable, false);
});

Deno.test("fetchIssuerMetadata() retries a 5xx with backoff a bounded number of times", async () => {
  let calls = 0;
  const fetch: IssuerFetchFunction = () => {
    calls++;
    return Promise.resolve(new Response("busy", { status: 503 }));
  };
  const error = await assertRejects(
    () => fetchIssuerMetadata(ISSUER, { fetch, attempts: 3, backoffMs: 1 }),
    IssuerError,
  );
  assertEquals(calls, 3);
  assertStringIncludes(error.message, "HTTP 503");
  assert(error.retryable);
});

Deno.test("fetchIssuerMetadata() names every URL tried when none has metadata, without retrying", async () => {
  const { fetch, calls } = fakeFetch({});
  const error = await assertRejects(
    () => fetchIssuerMetadata(ISSUER, { fetch, attempts: 3, backoffMs: 1 }),
    IssuerError,
  );
  assertEquals(calls.length, 3, "no retry of a configuration error");
  assertStringIncludes(error.message, "publishes no metadata");
  assertStringIncludes(error.message, "/.well-known/openid-configuration");
});

Deno.test("fetchIssuerMetadata() refuses a jwks_uri that is not an http(s) URL", async () => {
  const { fetch } = fakeFetch({
    "https://idp.example.com/.well-known/oauth-authorization-server/realms/corp":
      () => Response.json({ issuer: ISSUER, jwks_uri: "file:///etc/passwd" }),
  });
  const error = await assertRejects(
    () => fetchIssuerMetadata(ISSUER, { fetch }),
    IssuerError,
  );
  assertStringIncludes(error.message, "jwks_uri");
});
