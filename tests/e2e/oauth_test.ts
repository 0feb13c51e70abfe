/**
 * OAuth 2.1 on the MCP endpoints end to end: the real gateway
 * (`deno task start`, MCP_AUTH=oauth) against a real OpenID provider
 * (oidc-provider, tests/support/oidc_provider.ts), the CCP emulator and a
 * real OpenSSH server, through the MCP SDK client with bearer tokens.
 *
 * Every token comes from the provider's endpoints (client credentials, or
 * the authorization-code flow with PKCE signed in by a scripted browser),
 * except the deliberate forgeries: `alg: none`, HS256 keyed with the
 * provider's public key, and a not-yet-valid token signed with its key.
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../support/assert.ts";
import { type CcpFixture, startCcpFixture } from "../support/ccp_fixture.ts";
import { eventually } from "../support/eventually.ts";
import { freePort } from "../support/free_port.ts";
import {
  type GatewayProcess,
  startGateway,
} from "../support/gateway_process.ts";
import { assertNoLeak } from "../support/log_lines.ts";
import {
  callToolText,
  issueHandle,
  postJsonRpc,
} from "../support/mcp_client.ts";
import { authorizationCodeFlow } from "../support/oauth_flow.ts";
import {
  CLI_REDIRECT_URI,
  type OidcProviderFixture,
  serviceAccountName,
  startOidcProvider,
} from "../support/oidc_provider.ts";
import {
  announceSshdSkip,
  sshdAccount,
  type SshdFixture,
  startSshd,
} from "../support/sshd.ts";

const sshdSkip = await announceSshdSkip();

const ENDPOINTS = ["cyberark", "ssh", "powershell", "database"] as const;
const SCOPE = "mcp:tools";

/**
 * Alice's on-call group (an identity-provider group, so its list here is
 * empty) may fetch the Linux account and run commands with it.
 */
const POLICY = `groups:
  oncall: []
rules:
  - name: oncall-ssh
    principals: ["group:oncall"]
    safes: ["PROD-LINUX"]
    tools: [get_credential, ssh_execute]
    effect: allow
  - name: workload-fetches
    principals: ["${serviceAccountName("mcp-workload")}"]
    safes: ["PROD-LINUX"]
    tools: [get_credential]
    effect: allow
`;

/** A gateway that accepts only tokens of one issuer for one resource. */
interface OAuthGateway {
  process: GatewayProcess;
  /** `OAUTH_RESOURCE`: `http://127.0.0.1:PORT/mcp`. */
  resource: string;
  /** Where its 401s point (RFC 9728 metadata of the resource). */
  metadataUrl: string;
  url(endpoint: (typeof ENDPOINTS)[number]): string;
  stop(): Promise<void>;
}

/**
 * Starts the gateway with MCP_AUTH=oauth for `issuer`. The port is chosen
 * first because OAUTH_RESOURCE, the audience tokens must name, contains it.
 */
async function startOAuthGateway(
  issuer: string,
  ccp: CcpFixture,
  env: Record<string, string> = {},
): Promise<OAuthGateway> {
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const resource = `${base}/mcp`;
  const { MCP_API_KEYS: _keys, ...ccpEnv } = ccp.gatewayEnv;
  const dir = await Deno.makeTempDir({ prefix: "mcp-oauth-e2e-" });
  const policyFile = `${dir}/policy.yaml`;
  await Deno.writeTextFile(policyFile, POLICY);
  const process = await startGateway({
    ...ccpEnv,
    PORT: String(port),
    MCP_AUTH: "oauth",
    OAUTH_ISSUER: issuer,
    OAUTH_RESOURCE: resource,
    OAUTH_REQUIRED_SCOPES: SCOPE,
    OAUTH_PRINCIPAL_CLAIM: "preferred_username",
    OAUTH_GROUPS_CLAIM: "groups",
    POLICY_FILE: policyFile,
    // Refused tokens are the point of these tests: do not block the address.
    AUTH_FAILURE_LIMIT: "0",
    ...env,
  });
  return {
    process,
    resource,
    metadataUrl: `${base}/.well-known/oauth-protected-resource/mcp`,
    url: (endpoint) => `${base}/mcp/${endpoint}`,
    stop: async () => {
      await process.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** An MCP SDK client that sends `Authorization: Bearer TOKEN`. */
async function connectBearer(url: string, token: string): Promise<Client> {
  const client = new Client({ name: "mcp-oauth-tests", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

/** Connects with the token, lists the endpoint's tools and closes. */
async function listToolNames(url: string, token: string): Promise<string[]> {
  const client = await connectBearer(url, token);
  try {
    const { tools } = await client.listTools();
    return tools.map((tool: { name: string }) => tool.name);
  } finally {
    await client.close();
  }
}

/** One POST to an MCP endpoint with these headers; the body is read. */
async function post(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Headers; body: string }> {
  const response = await postJsonRpc(url, "tools/list", { headers });
  return {
    status: response.status,
    headers: response.headers,
    body: await response.text(),
  };
}

/** The parameters of a `WWW-Authenticate: Bearer k="v", ...` header. */
function bearerChallenge(header: string | null): Record<string, string> {
  assert(header !== null, "a WWW-Authenticate header");
  assertMatch(header, /^Bearer /);
  const params: Record<string, string> = {};
  for (const match of header.matchAll(/([a-z_]+)="([^"]*)"/g)) {
    params[match[1]!] = match[2]!;
  }
  return params;
}

/**
 * Sends `token` and asserts the refusal: `status`, and a Bearer challenge
 * pointing to the resource metadata with `error`. Returns the challenge.
 */
async function assertRefused(
  gateway: OAuthGateway,
  token: string,
  expected: { status: 401 | 403; error: string; describes?: string },
): Promise<Record<string, string>> {
  const answer = await post(gateway.url("cyberark"), {
    authorization: `Bearer ${token}`,
  });
  assertEquals(answer.status, expected.status, answer.body);
  const challenge = bearerChallenge(answer.headers.get("www-authenticate"));
  assertEquals(challenge.resource_metadata, gateway.metadataUrl);
  assertEquals(challenge.error, expected.error);
  if (expected.describes !== undefined) {
    assertStringIncludes(challenge.error_description ?? "", expected.describes);
  }
  assertEquals(JSON.parse(answer.body).error, expected.error);
  return challenge;
}

function jwtPart(token: string, index: 0 | 1): Record<string, unknown> {
  const part = token.split(".")[index] ?? "";
  const bytes = Uint8Array.from(
    atob(part.replaceAll("-", "+").replaceAll("_", "/")),
    (c) => c.charCodeAt(0),
  );
  return JSON.parse(new TextDecoder().decode(bytes));
}

function base64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-")
    .replaceAll("/", "_").replaceAll("=", "");
}

function base64UrlJson(value: unknown): string {
  return base64Url(new TextEncoder().encode(JSON.stringify(value)));
}

/** Forgery: the claims of a real token, unsigned (`alg: none`). */
function forgeUnsigned(claims: Record<string, unknown>): string {
  return `${base64UrlJson({ alg: "none", typ: "at+jwt" })}.${
    base64UrlJson(claims)
  }.`;
}

/**
 * Forgery: the claims of a real token signed with HS256 whose HMAC key is
 * the provider's public key (PEM), the classic algorithm-confusion attack.
 */
async function forgeHs256WithPublicKey(
  claims: Record<string, unknown>,
  publicJwk: JsonWebKey & { kid?: string },
): Promise<string> {
  const publicKey = await crypto.subtle.importKey(
    "jwk",
    { kty: publicJwk.kty!, n: publicJwk.n!, e: publicJwk.e! },
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    true,
    ["verify"],
  );
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", publicKey));
  const pem = `-----BEGIN PUBLIC KEY-----\n${
    btoa(String.fromCharCode(...spki)).match(/.{1,64}/g)!.join("\n")
  }\n-----END PUBLIC KEY-----\n`;
  const hmac = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(pem),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const input = `${
    base64UrlJson({ alg: "HS256", typ: "at+jwt", kid: publicJwk.kid })
  }.${base64UrlJson(claims)}`;
  const signature = await crypto.subtle.sign(
    "HMAC",
    hmac,
    new TextEncoder().encode(input),
  );
  return `${input}.${base64Url(new Uint8Array(signature))}`;
}

Deno.test({
  name:
    "OAuth end to end: provider tokens work on every endpoint, IdP groups reach the policy, and bad tokens are refused with the right challenge",
  ignore: sshdSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const idp = await startOidcProvider();
    const otherIdp = await startOidcProvider();
    const sshd: SshdFixture = await startSshd();
    const ccp = await startCcpFixture("PROD-LINUX", [
      sshdAccount(sshd, "svc_admin"),
    ]);
    const gateway = await startOAuthGateway(idp.issuer, ccp, {
      SSH_KNOWN_HOSTS: sshd.knownHostsPath,
      // The expired-token step waits for a 2-second token to lapse.
      OAUTH_CLOCK_SKEW_SECONDS: "1",
    });
    const clients: Client[] = [];
    const connect = async (url: string, token: string): Promise<Client> => {
      const client = await connectBearer(url, token);
      clients.push(client);
      return client;
    };
    const tokensSeen: string[] = [];
    const workloadToken = async (
      resource = gateway.resource,
      scope = SCOPE,
      provider: OidcProviderFixture = idp,
    ): Promise<string> => {
      const { clientId, clientSecret } = provider.clients.workload;
      const token = await provider.clientCredentialsToken(
        clientId,
        clientSecret,
        resource,
        scope,
      );
      tokensSeen.push(token);
      return token;
    };
    const signIn = async (username: "alice" | "bob"): Promise<string> => {
      const tokens = await authorizationCodeFlow(idp.issuer, {
        clientId: idp.clients.cli.clientId,
        redirectUri: CLI_REDIRECT_URI,
        resource: gateway.resource,
        scope: `openid ${SCOPE}`,
        username,
        password: idp.accounts[username]!.password,
      });
      tokensSeen.push(tokens.accessToken);
      return tokens.accessToken;
    };
    try {
      await t.step(
        "the protected-resource metadata names the resource and the issuer, at the resource's and each endpoint's well-known URL",
        async () => {
          for (
            const path of [
              "/.well-known/oauth-protected-resource/mcp",
              "/.well-known/oauth-protected-resource/mcp/ssh",
            ]
          ) {
            const response = await fetch(
              new URL(path, gateway.resource).href,
            );
            assertEquals(response.status, 200, path);
            const metadata = await response.json();
            assertEquals(metadata.resource, gateway.resource);
            assertEquals(metadata.authorization_servers, [idp.issuer]);
            assertEquals(metadata.scopes_supported, [SCOPE]);
            assertEquals(metadata.bearer_methods_supported, ["header"]);
          }
        },
      );

      await t.step(
        "a request without a token gets 401 with a challenge that points to the metadata (no error), and an API key is not accepted",
        async () => {
          const bare = await post(gateway.url("ssh"), {});
          assertEquals(bare.status, 401, bare.body);
          const challenge = bearerChallenge(
            bare.headers.get("www-authenticate"),
          );
          assertEquals(challenge, { resource_metadata: gateway.metadataUrl });
          const keyed = await post(gateway.url("ssh"), {
            "x-api-key": ccp.key,
          });
          assertEquals(keyed.status, 401, keyed.body);
          assertEquals(
            bearerChallenge(keyed.headers.get("www-authenticate"))
              .resource_metadata,
            gateway.metadataUrl,
          );
        },
      );

      await t.step(
        "a client-credentials token lists the tools of all four endpoints and fetches a credential; the audit line names the service account, the token and the client",
        async () => {
          const token = await workloadToken();
          const expected = {
            cyberark: ["get_credential"],
            ssh: ["ssh_execute"],
            powershell: ["ps_execute"],
            database: ["db_query"],
          };
          for (const endpoint of ENDPOINTS) {
            assertEquals(
              await listToolNames(gateway.url(endpoint), token),
              expected[endpoint],
            );
          }
          const cyberark = await connect(gateway.url("cyberark"), token);
          await issueHandle(cyberark, {
            safe: "PROD-LINUX",
            object_name: "svc_admin",
          });
          const line = await gateway.process.waitFor((e) =>
            e.event === "credential_fetched" &&
            e.principal === serviceAccountName("mcp-workload")
          );
          assertEquals(line.auth, "oauth");
          assertEquals(line.token_id, jwtPart(token, 1).jti);
          assertEquals(line.client_id, idp.clients.workload.clientId);
          assertEquals(line.object_name, "svc_admin");
          assert(typeof line.handle_id === "string");
        },
      );

      await t.step(
        "alice signs in with the code flow and PKCE: her principal is her preferred_username and group:oncall lets her run ssh_execute",
        async () => {
          const token = await signIn("alice");
          assert(jwtPart(token, 1).sub !== "alice", "sub is an opaque id");
          const cyberark = await connect(gateway.url("cyberark"), token);
          const ssh = await connect(gateway.url("ssh"), token);
          const handle = await issueHandle(cyberark, {
            safe: "PROD-LINUX",
            object_name: "svc_admin",
          });
          const out = await callToolText(ssh, {
            name: "ssh_execute",
            arguments: {
              host: "127.0.0.1",
              port: sshd.port,
              command: "whoami",
              secret_handle: handle,
            },
          });
          assertEquals(out.isError, false, out.text);
          assertStringIncludes(out.text, sshd.username);
          const line = await gateway.process.waitFor((e) =>
            e.event === "ssh_executed" && e.principal === "alice"
          );
          assertEquals(line.auth, "oauth");
          assertEquals(line.client_id, idp.clients.cli.clientId);
          assertEquals(line.token_id, jwtPart(token, 1).jti);
          assertEquals(line.policy_rule, "oncall-ssh");
        },
      );

      await t.step(
        "bob, signed in the same way but outside group oncall, is refused by the policy",
        async () => {
          const token = await signIn("bob");
          const cyberark = await connect(gateway.url("cyberark"), token);
          const out = await callToolText(cyberark, {
            name: "get_credential",
            arguments: { safe: "PROD-LINUX", object_name: "svc_admin" },
          });
          assertEquals(out.isError, true, out.text);
          assertStringIncludes(
            out.text,
            'Refused by policy: no rule allows principal "bob"',
          );
          const line = await gateway.process.waitFor((e) =>
            e.event === "policy_denied" && e.principal === "bob"
          );
          assertEquals(line.auth, "oauth");
        },
      );

      await t.step(
        "a token for another resource is refused: 401 invalid_token naming the audience",
        async () => {
          await assertRefused(
            gateway,
            await workloadToken("https://other.example.test/mcp"),
            { status: 401, error: "invalid_token", describes: "audience" },
          );
        },
      );

      await t.step(
        "a token without the required scope is refused: 403 insufficient_scope naming the scope",
        async () => {
          const challenge = await assertRefused(
            gateway,
            await workloadToken(gateway.resource, "mcp:admin"),
            { status: 403, error: "insufficient_scope" },
          );
          assertEquals(challenge.scope, SCOPE);
        },
      );

      await t.step(
        "forgeries are refused: alg none, HS256 keyed with the public key, and a not-yet-valid token signed with the issuer's key",
        async () => {
          const claims = jwtPart(await workloadToken(), 1);
          await assertRefused(gateway, forgeUnsigned(claims), {
            status: 401,
            error: "invalid_token",
            describes: "algorithm",
          });
          await assertRefused(
            gateway,
            await forgeHs256WithPublicKey(claims, idp.publicJwks().keys[0]!),
            { status: 401, error: "invalid_token", describes: "algorithm" },
          );
          const now = Math.floor(Date.now() / 1000);
          await assertRefused(
            gateway,
            await idp.signWithIssuerKey({
              ...claims,
              jti: crypto.randomUUID(),
              nbf: now + 3600,
              iat: now,
              exp: now + 7200,
            }),
            { status: 401, error: "invalid_token", describes: "not valid yet" },
          );
        },
      );

      await t.step(
        "an expired token is refused: 401 invalid_token once its 2 seconds have passed",
        async () => {
          idp.setAccessTokenTtl(2);
          const token = await workloadToken();
          idp.setAccessTokenTtl(600);
          await eventually(
            () =>
              assertRefused(gateway, token, {
                status: 401,
                error: "invalid_token",
                describes: "expired",
              }),
            { timeoutMs: 30_000, intervalMs: 500 },
          );
        },
      );

      await t.step(
        "a token of another issuer is refused: 401 invalid_token",
        async () => {
          await assertRefused(
            gateway,
            await workloadToken(gateway.resource, SCOPE, otherIdp),
            { status: 401, error: "invalid_token" },
          );
        },
      );

      await t.step(
        "after the provider rotates its keys, tokens of the new key are accepted and tokens of the dropped key refused",
        async () => {
          const before = await workloadToken();
          assertEquals(
            await listToolNames(gateway.url("cyberark"), before),
            ["get_credential"],
          );
          const { kid } = await idp.rotateKeys();
          const after = await workloadToken();
          assertEquals(jwtPart(after, 0).kid, kid);
          // The gateway refetches the JWKS for an unknown kid at most once
          // per cooldown (30 s), so the new key may take that long.
          await eventually(
            async () =>
              assertEquals(
                await listToolNames(gateway.url("cyberark"), after),
                ["get_credential"],
              ),
            { timeoutMs: 60_000, intervalMs: 1000 },
          );
          await assertRefused(gateway, before, {
            status: 401,
            error: "invalid_token",
            describes: "signing keys",
          });
          await assertRefused(
            gateway,
            await idp.signWithIssuerKey(jwtPart(after, 1), {
              kid: "no-such-key",
            }),
            { status: 401, error: "invalid_token", describes: "signing keys" },
          );
        },
      );

      await t.step(
        "with the provider down, a token of a key the gateway has not fetched is never accepted (503 temporarily_unavailable); once it is back the token works",
        async () => {
          await idp.rotateKeys();
          const token = await workloadToken();
          await idp.stop();
          const answer = await eventually(async () => {
            const response = await post(gateway.url("cyberark"), {
              authorization: `Bearer ${token}`,
            });
            assert(response.status !== 200, "nothing is accepted unverified");
            assertEquals(response.status, 503, response.body);
            return response;
          }, { timeoutMs: 60_000, intervalMs: 1000 });
          assertEquals(
            JSON.parse(answer.body).error,
            "temporarily_unavailable",
          );
          assertStringIncludes(answer.body, idp.issuer);
          assertMatch(answer.headers.get("retry-after") ?? "", /^\d+$/);
          await gateway.process.waitFor((e) =>
            e.event === "oauth_jwks_unavailable" && e.issuer === idp.issuer
          );
          await idp.restart();
          await eventually(
            async () =>
              assertEquals(
                await listToolNames(gateway.url("cyberark"), token),
                ["get_credential"],
              ),
            { timeoutMs: 60_000, intervalMs: 1000 },
          );
        },
      );

      await t.step("no log line holds a token", () => {
        assertNoLeak(gateway.process.lines, tokensSeen);
      });
    } finally {
      for (const client of clients) await client.close().catch(() => {});
      await gateway.stop();
      await ccp.close();
      await sshd.stop();
      await otherIdp.stop();
      await idp.stop();
    }
  },
});

Deno.test({
  name:
    "OAuth with opaque tokens: introspection accepts an active token, refuses a revoked one, and answers 503 while the provider is down",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const idp = await startOidcProvider({ accessTokenFormat: "opaque" });
    const ccp = await startCcpFixture("PROD-LINUX", []);
    const gateway = await startOAuthGateway(idp.issuer, ccp, {
      OAUTH_TOKEN_MODE: "introspection",
      OAUTH_INTROSPECTION_CLIENT_ID: idp.clients.introspection.clientId,
      OAUTH_INTROSPECTION_CLIENT_SECRET: idp.clients.introspection.clientSecret,
    });
    const token = async (): Promise<string> => {
      const { clientId, clientSecret } = idp.clients.workload;
      const opaque = await idp.clientCredentialsToken(
        clientId,
        clientSecret,
        gateway.resource,
        SCOPE,
      );
      assertEquals(opaque.split(".").length, 1, "an opaque token");
      return opaque;
    };
    try {
      await t.step("an active opaque token is accepted", async () => {
        assertEquals(
          await listToolNames(gateway.url("cyberark"), await token()),
          ["get_credential"],
        );
      });

      await t.step(
        "a revoked token is refused with 401 invalid_token, at once when the gateway has not seen it and after its answer cache when it has",
        async () => {
          const unseen = await token();
          await idp.revoke(unseen);
          await assertRefused(gateway, unseen, {
            status: 401,
            error: "invalid_token",
          });
          const seen = await token();
          assertEquals(
            await listToolNames(gateway.url("cyberark"), seen),
            ["get_credential"],
          );
          await idp.revoke(seen);
          await eventually(
            () =>
              assertRefused(gateway, seen, {
                status: 401,
                error: "invalid_token",
              }),
            { timeoutMs: 60_000, intervalMs: 1000 },
          );
        },
      );

      await t.step(
        "with the provider down, a token is not accepted (503 temporarily_unavailable with Retry-After); back up, it works",
        async () => {
          const fresh = await token();
          await idp.stop();
          const answer = await post(gateway.url("cyberark"), {
            authorization: `Bearer ${fresh}`,
          });
          assertEquals(answer.status, 503, answer.body);
          assertEquals(
            JSON.parse(answer.body).error,
            "temporarily_unavailable",
          );
          assertMatch(answer.headers.get("retry-after") ?? "", /^\d+$/);
          await idp.restart();
          await eventually(
            async () =>
              assertEquals(
                await listToolNames(gateway.url("cyberark"), fresh),
                ["get_credential"],
              ),
            { timeoutMs: 60_000, intervalMs: 1000 },
          );
        },
      );
    } finally {
      await gateway.stop();
      await ccp.close();
      await idp.stop();
    }
  },
});

Deno.test({
  name:
    "OAuth with the provider down at start-up: the gateway starts, refuses tokens with 503 and logs why, then accepts them once the provider is up",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const idp = await startOidcProvider();
    const ccp = await startCcpFixture("PROD-LINUX", []);
    const port = freePort();
    const resource = `http://127.0.0.1:${port}/mcp`;
    const { clientId, clientSecret } = idp.clients.workload;
    const token = await idp.clientCredentialsToken(
      clientId,
      clientSecret,
      resource,
      SCOPE,
    );
    await idp.stop();
    const { MCP_API_KEYS: _keys, ...ccpEnv } = ccp.gatewayEnv;
    const gateway = await startGateway({
      ...ccpEnv,
      PORT: String(port),
      MCP_AUTH: "oauth",
      OAUTH_ISSUER: idp.issuer,
      OAUTH_RESOURCE: resource,
      AUTH_FAILURE_LIMIT: "0",
    });
    try {
      const url = `http://127.0.0.1:${port}/mcp/cyberark`;
      const answer = await post(url, { authorization: `Bearer ${token}` });
      assertEquals(answer.status, 503, answer.body);
      const body = JSON.parse(answer.body);
      assertEquals(body.error, "temporarily_unavailable");
      assertStringIncludes(body.message, idp.issuer);
      assertStringIncludes(body.message, "no token is accepted");
      await gateway.waitFor((e) =>
        e.level === "error" && JSON.stringify(e).includes(idp.issuer)
      );
      await idp.restart();
      await eventually(
        async () =>
          assertEquals(await listToolNames(url, token), ["get_credential"]),
        { timeoutMs: 60_000, intervalMs: 1000 },
      );
    } finally {
      await gateway.stop();
      await ccp.close();
      await idp.stop();
    }
  },
});
