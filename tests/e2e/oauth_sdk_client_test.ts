/**
 * The MCP SDK's own client authorization (`@modelcontextprotocol/sdk/client/auth.js`)
 * against the real gateway and a real OpenID provider: the discovery chain
 * Claude Code follows. The first connect gets a 401; the SDK reads the
 * protected-resource metadata it points to, discovers the authorization
 * server, registers a client dynamically and sends the user to sign in
 * (here the scripted browser of tests/support/oauth_flow.ts); the test
 * hands the code to `transport.finishAuth()`, reconnects, and calls a tool.
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  type OAuthClientProvider,
  UnauthorizedError,
} from "@modelcontextprotocol/sdk/client/auth.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from "@modelcontextprotocol/sdk/shared/auth.js";
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../support/assert.ts";
import { startCcpFixture } from "../support/ccp_fixture.ts";
import { freePort } from "../support/free_port.ts";
import { startGateway } from "../support/gateway_process.ts";
import { callToolText } from "../support/mcp_client.ts";
import { signIn } from "../support/oauth_flow.ts";
import { startOidcProvider } from "../support/oidc_provider.ts";

/**
 * An MCP client's OAuth state kept in memory, as a CLI keeps it in its
 * config: the registered client, the PKCE verifier, the tokens. "Sending
 * the user to the browser" signs in with the scripted browser and keeps
 * the code the authorization server sent back.
 */
class InMemoryOAuthProvider implements OAuthClientProvider {
  readonly #redirectUrl: string;
  readonly #username: string;
  readonly #password: string;
  #client: OAuthClientInformationMixed | undefined;
  #tokens: OAuthTokens | undefined;
  #verifier: string | undefined;
  #state: string | undefined;
  /** The code of the last sign-in, for `transport.finishAuth()`. */
  authorizationCode: string | undefined;
  /** The authorize URLs the SDK built. */
  readonly authorizationUrls: URL[] = [];

  constructor(redirectUrl: string, username: string, password: string) {
    this.#redirectUrl = redirectUrl;
    this.#username = username;
    this.#password = password;
  }

  get redirectUrl(): string {
    return this.#redirectUrl;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: "mcp-privileged SDK test",
      redirect_uris: [this.#redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }

  state(): string {
    this.#state = crypto.randomUUID();
    return this.#state;
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.#client;
  }

  saveClientInformation(info: OAuthClientInformationMixed): void {
    this.#client = info;
  }

  tokens(): OAuthTokens | undefined {
    return this.#tokens;
  }

  saveTokens(tokens: OAuthTokens): void {
    this.#tokens = tokens;
  }

  async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    this.authorizationUrls.push(authorizationUrl);
    const answer = await signIn(authorizationUrl, {
      redirectUri: this.#redirectUrl,
      username: this.#username,
      password: this.#password,
    });
    if (answer.state !== this.#state) {
      throw new Error(
        "Cannot accept the authorization response: its state is not the one sent",
      );
    }
    this.authorizationCode = answer.code;
  }

  saveCodeVerifier(codeVerifier: string): void {
    this.#verifier = codeVerifier;
  }

  codeVerifier(): string {
    if (this.#verifier === undefined) {
      throw new Error("No PKCE verifier saved before the code exchange");
    }
    return this.#verifier;
  }
}

Deno.test({
  name:
    "the MCP SDK's OAuth client discovers the provider from the gateway's 401, registers, signs alice in with PKCE and calls a tool with her token",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const idp = await startOidcProvider();
    const ccp = await startCcpFixture("PROD-LINUX", [
      {
        Name: "svc_admin",
        Content: "not-used-here",
        UserName: "svc_admin",
        Address: "127.0.0.1",
        PolicyID: "UnixSSH",
      },
    ]);
    const port = freePort();
    const base = `http://127.0.0.1:${port}`;
    const { MCP_API_KEYS: _keys, ...ccpEnv } = ccp.gatewayEnv;
    // The service's canonical URL as operators write it: no path. The SDK
    // must send it verbatim as the resource (no added "/").
    const gateway = await startGateway({
      ...ccpEnv,
      PORT: String(port),
      MCP_AUTH: "oauth",
      OAUTH_ISSUER: idp.issuer,
      OAUTH_RESOURCE: base,
      OAUTH_REQUIRED_SCOPES: "mcp:tools",
      OAUTH_PRINCIPAL_CLAIM: "preferred_username",
      OAUTH_GROUPS_CLAIM: "groups",
    });
    const requests: string[] = [];
    const recordingFetch = (
      input: string | URL | Request,
      init?: RequestInit,
    ): Promise<Response> => {
      const url = new URL(input instanceof Request ? input.url : input);
      const method = init?.method ??
        (input instanceof Request ? input.method : "GET");
      return fetch(input, init).then((response) => {
        requests.push(
          `${method} ${url.origin}${url.pathname} ${response.status}`,
        );
        return response;
      });
    };
    const provider = new InMemoryOAuthProvider(
      `http://127.0.0.1:${freePort()}/callback`,
      "alice",
      idp.accounts.alice!.password,
    );
    const url = new URL(`${base}/mcp/cyberark`);
    const transportOptions = { authProvider: provider, fetch: recordingFetch };
    const first = new StreamableHTTPClientTransport(url, transportOptions);
    let client: Client | undefined;
    try {
      await assertRejects(
        () =>
          new Client({ name: "sdk-auth-test", version: "1.0.0" }).connect(
            first,
          ),
        UnauthorizedError,
      );
      assert(
        provider.authorizationCode !== undefined,
        "the SDK sent the user to sign in",
      );
      const authorize = provider.authorizationUrls[0]!;
      assertEquals(authorize.origin, idp.issuer);
      assertEquals(authorize.searchParams.get("resource"), base);
      assertEquals(authorize.searchParams.get("code_challenge_method"), "S256");
      assertEquals(authorize.searchParams.get("scope"), "mcp:tools");
      assert(provider.clientInformation() !== undefined, "registered");

      await first.finishAuth(provider.authorizationCode);
      const tokens = provider.tokens();
      assert(tokens !== undefined, "tokens saved");
      await first.close();

      client = new Client({ name: "sdk-auth-test", version: "1.0.0" });
      await client.connect(
        new StreamableHTTPClientTransport(url, transportOptions),
      );
      const out = await callToolText(client, {
        name: "get_credential",
        arguments: { safe: "PROD-LINUX", object_name: "svc_admin" },
      });
      assertEquals(out.isError, false, out.text);
      assertStringIncludes(out.text, "Handle: secret://");
      const line = await gateway.waitFor((e) =>
        e.event === "credential_fetched" && e.principal === "alice"
      );
      assertEquals(line.auth, "oauth");
      assertEquals(line.client_id, provider.clientInformation()!.client_id);

      // The discovery chain, in order: the 401, the resource metadata it
      // names, the authorization server's metadata, registration, the code
      // exchange, and the MCP request with the token.
      const issuer = idp.issuer;
      const chain = [
        `POST ${base}/mcp/cyberark 401`,
        `GET ${base}/.well-known/oauth-protected-resource 200`,
        `POST ${issuer}/reg 201`,
        `POST ${issuer}/token 200`,
        `POST ${base}/mcp/cyberark 200`,
      ];
      let at = 0;
      for (const request of requests) {
        if (request === chain[at]) at++;
      }
      assertEquals(
        at,
        chain.length,
        `requests in order:\n${requests.join("\n")}`,
      );
      assert(
        requests.some((r) =>
          r.startsWith(`GET ${issuer}/.well-known/`) && r.endsWith(" 200")
        ),
        `the authorization server metadata was read:\n${requests.join("\n")}`,
      );
    } finally {
      await client?.close().catch(() => {});
      await first.close().catch(() => {});
      await gateway.stop();
      await ccp.close();
      await idp.stop();
    }
  },
});
