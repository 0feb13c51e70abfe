/**
 * A real OAuth 2.1 / OpenID Connect authorization server for the tests: the
 * npm package `oidc-provider` (a certified OpenID provider) running in the
 * test process on a loopback port, configured the way an MCP resource server
 * meets a company IdP: resource indicators (RFC 8707) with JWT access tokens
 * whose audience is the resource (or opaque ones, for introspection),
 * client credentials, open dynamic client registration, introspection
 * (RFC 7662), revocation (RFC 7009), and the authorization-code flow with
 * PKCE signing in fixed accounts through a small HTML login and consent
 * page.
 *
 * The signing keys can be rotated while it runs (a new `kid`, the old key
 * dropped from the JWKS), and it can be stopped and restarted on the same
 * port (IdP down and up) without losing its clients, grants and tokens.
 *
 * No token is minted by hand here: every token comes from the provider's
 * endpoints. {@linkcode OidcProviderFixture.signWithIssuerKey} exists only
 * for deliberate forgeries (claims the provider would never issue).
 *
 * @module
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import Provider from "oidc-provider";

/**
 * A sign-in account of the provider (keyed by its user name): its subject,
 * password and claims.
 */
export interface OidcAccount {
  /**
   * The account's `sub`: an opaque id, as Keycloak, Entra ID and Okta use,
   * so that a principal taken from `preferred_username` differs from it.
   */
  sub: string;
  /** What the login form must be given. */
  password: string;
  /**
   * Claims of the account besides `sub` (e.g. `preferred_username`,
   * `email`, `groups`): put into its ID tokens, userinfo and access tokens.
   */
  claims: Record<string, unknown>;
}

/** A client registered with the provider. */
export interface OidcClient {
  clientId: string;
  /** Absent for a public client (`token_endpoint_auth_method: none`). */
  clientSecret?: string;
}

/** The HTTPS variant: a server certificate and the CA that signed it. */
export interface OidcTlsOptions {
  /** The server certificate, for 127.0.0.1 (e.g. from `createTlsFixtures()`). */
  certPem: string;
  /** Its private key. */
  keyPem: string;
  /** The CA that signed it, so the fixture's own requests trust it. */
  caCertPem: string;
}

/** Options of {@linkcode startOidcProvider}. */
export interface StartOidcProviderOptions {
  /** The loopback port; default a free one chosen by the kernel. */
  port?: number;
  /**
   * Access tokens for resources: `jwt` (RFC 9068, validated with the JWKS)
   * or `opaque` (only introspection can tell what they are); default `jwt`.
   */
  accessTokenFormat?: "jwt" | "opaque";
  /** Lifetime of access tokens; default 600 s. See also `setAccessTokenTtl()`. */
  accessTokenTtlSeconds?: number;
  /** The scopes every resource server offers; default `mcp:tools mcp:admin`. */
  resourceScopes?: string;
  /** Sign-in accounts; default {@linkcode defaultOidcAccounts}. */
  accounts?: Record<string, OidcAccount>;
  /** Serve HTTPS with this certificate instead of plain HTTP. */
  tls?: OidcTlsOptions;
}

/** Options of {@linkcode OidcProviderFixture.rotateKeys}. */
export interface RotateKeysOptions {
  /**
   * Keep publishing the previous key next to the new one (a graceful
   * rotation); default `false`: the old key is dropped at once.
   */
  keepPrevious?: boolean;
}

/** The `kid` values before and after a rotation. */
export interface RotatedKeys {
  previousKid: string;
  kid: string;
}

/** A running provider and its helpers. */
export interface OidcProviderFixture {
  /** `http://127.0.0.1:PORT` (or `https://`). */
  readonly issuer: string;
  readonly port: number;
  /** The discovery document's `jwks_uri`. */
  readonly jwksUri: string;
  readonly tokenEndpoint: string;
  readonly introspectionEndpoint: string;
  readonly registrationEndpoint: string;
  /** The sign-in accounts (name → password and claims). */
  readonly accounts: Readonly<Record<string, OidcAccount>>;
  /**
   * Pre-registered clients: `workload`, a confidential client for the
   * client-credentials grant; `introspection`, the client a resource server
   * authenticates with at the introspection endpoint; `cli`, a public client
   * for the authorization-code flow with PKCE whose redirect URI is
   * {@linkcode CLI_REDIRECT_URI}.
   */
  readonly clients: {
    readonly workload: Required<OidcClient>;
    readonly introspection: Required<OidcClient>;
    readonly cli: OidcClient;
  };
  /** Whether the server is accepting connections (between stop and restart it is not). */
  readonly running: boolean;
  /**
   * Every request received so far, as `METHOD /path` (no query string, so
   * no code or token), for tests that check who discovered what.
   */
  readonly requests: readonly string[];
  /**
   * A client-credentials access token for `resource` with `scope`.
   *
   * @throws {Error} when the provider refuses (the message quotes its answer)
   */
  clientCredentialsToken(
    clientId: string,
    secret: string,
    resource: string,
    scope: string,
  ): Promise<string>;
  /**
   * Registers a client through the dynamic registration endpoint (RFC 7591)
   * with this metadata.
   */
  registerClient(metadata: Record<string, unknown>): Promise<OidcClient>;
  /** The introspection answer (RFC 7662) for a token, asked as the `introspection` client. */
  introspect(token: string): Promise<Record<string, unknown>>;
  /** Revokes a token (RFC 7009), as the `introspection` client. */
  revoke(token: string): Promise<void>;
  /** Signs with a new key (new `kid`); the JWKS drops the old key unless told. */
  rotateKeys(options?: RotateKeysOptions): Promise<RotatedKeys>;
  /** The `kid` of the key that signs now. */
  currentKid(): string;
  /** The published JWKS (public keys only). */
  publicJwks(): { keys: JsonWebKey[] };
  /** Changes the lifetime of access tokens issued from now on. */
  setAccessTokenTtl(seconds: number): void;
  /**
   * Signs these claims as an RS256 JWT with the provider's current private
   * key. For deliberate forgeries only (a token the provider would never
   * issue, e.g. one not valid before next hour); real tokens come from the
   * provider's endpoints.
   */
  signWithIssuerKey(
    claims: Record<string, unknown>,
    header?: Record<string, unknown>,
  ): Promise<string>;
  /** Stops listening and drops open connections (the IdP is down). Idempotent. */
  stop(): Promise<void>;
  /** Listens again on the same port with the same state (the IdP is back). */
  restart(): Promise<void>;
}

/** The redirect URI of the pre-registered public `cli` client (never served). */
export const CLI_REDIRECT_URI = "http://127.0.0.1/oauth/callback";

/**
 * The `preferred_username` of a client's own (client-credentials) tokens,
 * as Keycloak names service accounts: `service-account-CLIENT_ID`.
 */
export function serviceAccountName(clientId: string): string {
  return `service-account-${clientId}`;
}

/** The default scopes of every resource server. */
export const DEFAULT_RESOURCE_SCOPES = "mcp:tools mcp:admin";

/**
 * The default sign-in accounts with fresh passwords: `alice` in groups
 * `oncall` and `dba`, and `bob` in group `readonly`.
 */
export function defaultOidcAccounts(): Record<string, OidcAccount> {
  return {
    alice: {
      sub: crypto.randomUUID(),
      password: `alice-${randomId(12)}`,
      claims: {
        preferred_username: "alice",
        name: "Alice Example",
        email: "alice@example.test",
        email_verified: true,
        groups: ["oncall", "dba"],
      },
    },
    bob: {
      sub: crypto.randomUUID(),
      password: `bob-${randomId(12)}`,
      claims: {
        preferred_username: "bob",
        name: "Bob Example",
        email: "bob@example.test",
        email_verified: true,
        groups: ["readonly"],
      },
    },
  };
}

/** What the fixture keeps across provider instances (rotation swaps them). */
interface ProviderState {
  issuer: string;
  accounts: Record<string, OidcAccount>;
  clients: OidcProviderFixture["clients"];
  resourceScopes: string;
  accessTokenFormat: "jwt" | "opaque";
  accessTokenTtlSeconds: number;
  cookieKeys: string[];
  adapter: AdapterClass;
  /** Published keys, newest first; the first one signs. */
  keys: SigningKey[];
}

interface SigningKey {
  kid: string;
  privateJwk: JsonWebKey & { kid: string };
  publicJwk: JsonWebKey & { kid: string };
  privateKey: CryptoKey;
}

/** The part of an `oidc-provider` instance this fixture uses. */
interface OidcProviderInstance {
  proxy: boolean;
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  interactionDetails(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<InteractionDetails>;
  interactionFinished(
    req: IncomingMessage,
    res: ServerResponse,
    result: Record<string, unknown>,
    options?: { mergeWithLastSubmission?: boolean },
  ): Promise<void>;
  Grant: GrantClass;
}

interface InteractionDetails {
  uid: string;
  prompt: { name: string; details: Record<string, unknown> };
  params: Record<string, unknown>;
  session?: { accountId?: string };
  grantId?: string;
}

interface GrantInstance {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
}

interface GrantClass {
  new (properties: { accountId: string; clientId: string }): GrantInstance;
  find(id: string): Promise<GrantInstance | undefined>;
}

type ProviderConstructor = new (
  issuer: string,
  configuration: Record<string, unknown>,
) => OidcProviderInstance;

/** What `oidc-provider` stores through an adapter. */
type Payload = Record<string, unknown>;

interface Adapter {
  upsert(id: string, payload: Payload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<Payload | undefined>;
  findByUid(uid: string): Promise<Payload | undefined>;
  findByUserCode(userCode: string): Promise<Payload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

type AdapterClass = new (model: string) => Adapter;

/**
 * Starts the provider on a loopback port.
 *
 * @throws {Error} when the port cannot be bound
 */
export async function startOidcProvider(
  options: StartOidcProviderOptions = {},
): Promise<OidcProviderFixture> {
  const tls = options.tls;
  const scheme = tls === undefined ? "http" : "https";
  let server = newServer(tls);
  const port = await listen(server, options.port ?? 0);
  const issuer = `${scheme}://127.0.0.1:${port}`;

  const state: ProviderState = {
    issuer,
    accounts: options.accounts ?? defaultOidcAccounts(),
    clients: {
      workload: { clientId: "mcp-workload", clientSecret: randomId(32) },
      introspection: {
        clientId: "mcp-gateway-introspection",
        clientSecret: randomId(32),
      },
      cli: { clientId: "mcp-cli" },
    },
    resourceScopes: options.resourceScopes ?? DEFAULT_RESOURCE_SCOPES,
    accessTokenFormat: options.accessTokenFormat ?? "jwt",
    accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 600,
    cookieKeys: [randomId(32)],
    adapter: memoryAdapterClass(),
    keys: [await newSigningKey()],
  };

  let provider = newProvider(state);
  let handle = provider.callback();
  const requests: string[] = [];
  const requestListener = (req: IncomingMessage, res: ServerResponse): void => {
    const path = new URL(req.url ?? "/", issuer).pathname;
    requests.push(`${req.method} ${path}`);
    if (path.startsWith("/interaction/")) {
      handleInteraction(provider, state, req, res).catch((error) => {
        if (!res.headersSent) {
          res.statusCode = 400;
          res.setHeader("content-type", "text/plain; charset=utf-8");
        }
        res.end(`Cannot complete the sign-in step: ${String(error)}`);
      });
      return;
    }
    handle(req, res);
  };
  server.on("request", requestListener);
  let running = true;

  const request = async (
    path: string,
    init: RequestInit,
  ): Promise<Response> => {
    if (tls === undefined) return await fetch(`${issuer}${path}`, init);
    const client = Deno.createHttpClient({ caCerts: [tls.caCertPem] });
    try {
      const response = await fetch(`${issuer}${path}`, { ...init, client });
      // Read the body before the client closes.
      const body = await response.arrayBuffer();
      return new Response(body, {
        status: response.status,
        headers: response.headers,
      });
    } finally {
      client.close();
    }
  };
  const basic = (client: Required<OidcClient>): string =>
    "Basic " +
    btoa(
      `${encodeURIComponent(client.clientId)}:${
        encodeURIComponent(client.clientSecret)
      }`,
    );
  const postForm = async (
    path: string,
    client: Required<OidcClient>,
    form: Record<string, string>,
  ): Promise<Response> =>
    await request(path, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        authorization: basic(client),
      },
      body: new URLSearchParams(form),
    });

  return {
    issuer,
    port,
    jwksUri: `${issuer}/jwks`,
    tokenEndpoint: `${issuer}/token`,
    introspectionEndpoint: `${issuer}/token/introspection`,
    registrationEndpoint: `${issuer}/reg`,
    accounts: state.accounts,
    clients: state.clients,
    get running() {
      return running;
    },
    requests,
    async clientCredentialsToken(
      clientId,
      secret,
      resource,
      scope,
    ): Promise<string> {
      const response = await postForm("/token", {
        clientId,
        clientSecret: secret,
      }, { grant_type: "client_credentials", resource, scope });
      const body = await response.json();
      if (response.status !== 200 || typeof body.access_token !== "string") {
        throw new Error(
          `Cannot get a client-credentials token for ${resource}: the provider answered ${response.status} ${
            JSON.stringify(body)
          }`,
        );
      }
      return body.access_token;
    },
    async registerClient(metadata): Promise<OidcClient> {
      const response = await request("/reg", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(metadata),
      });
      const body = await response.json();
      if (response.status !== 201) {
        throw new Error(
          `Cannot register a client: the provider answered ${response.status} ${
            JSON.stringify(body)
          }`,
        );
      }
      return typeof body.client_secret === "string"
        ? { clientId: body.client_id, clientSecret: body.client_secret }
        : { clientId: body.client_id };
    },
    async introspect(token): Promise<Record<string, unknown>> {
      const response = await postForm(
        "/token/introspection",
        state.clients.introspection,
        { token },
      );
      const body = await response.json();
      if (response.status !== 200) {
        throw new Error(
          `Cannot introspect a token: the provider answered ${response.status} ${
            JSON.stringify(body)
          }`,
        );
      }
      return body;
    },
    async revoke(token): Promise<void> {
      const response = await postForm(
        "/token/revocation",
        state.clients.introspection,
        { token },
      );
      const text = await response.text();
      if (response.status !== 200) {
        throw new Error(
          `Cannot revoke a token: the provider answered ${response.status} ${text}`,
        );
      }
    },
    async rotateKeys(rotation = {}): Promise<RotatedKeys> {
      const previousKid = state.keys[0]!.kid;
      const key = await newSigningKey();
      state.keys = rotation.keepPrevious === true
        ? [key, ...state.keys]
        : [key];
      provider = newProvider(state);
      handle = provider.callback();
      return { previousKid, kid: key.kid };
    },
    currentKid: () => state.keys[0]!.kid,
    publicJwks: () => ({ keys: state.keys.map((k) => ({ ...k.publicJwk })) }),
    setAccessTokenTtl(seconds): void {
      if (!Number.isInteger(seconds) || seconds < 1) {
        throw new RangeError(
          `Cannot set an access token lifetime of ${seconds} s; give a whole number of seconds >= 1`,
        );
      }
      state.accessTokenTtlSeconds = seconds;
    },
    async signWithIssuerKey(claims, header = {}): Promise<string> {
      const key = state.keys[0]!;
      const encodedHeader = base64UrlJson({
        alg: "RS256",
        typ: "at+jwt",
        kid: key.kid,
        ...header,
      });
      const signingInput = `${encodedHeader}.${base64UrlJson(claims)}`;
      const signature = await crypto.subtle.sign(
        "RSASSA-PKCS1-v1_5",
        key.privateKey,
        new TextEncoder().encode(signingInput),
      );
      return `${signingInput}.${base64Url(new Uint8Array(signature))}`;
    },
    async stop(): Promise<void> {
      if (!running) return;
      running = false;
      await close(server);
    },
    async restart(): Promise<void> {
      if (running) return;
      server = newServer(tls);
      server.on("request", requestListener);
      await listen(server, port);
      running = true;
    },
  };
}

function newServer(tls: OidcTlsOptions | undefined): Server {
  return tls === undefined
    ? createHttpServer()
    : createHttpsServer({ cert: tls.certPem, key: tls.keyPem }) as Server;
}

async function listen(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === "string") {
    throw new Error("Cannot read the OpenID provider's port");
  }
  return address.port;
}

async function close(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function newProvider(state: ProviderState): OidcProviderInstance {
  const ProviderClass = Provider as unknown as ProviderConstructor;
  const provider = new ProviderClass(state.issuer, configuration(state));
  provider.proxy = false;
  return provider;
}

function configuration(state: ProviderState): Record<string, unknown> {
  const { clients } = state;
  const accountClaims = (
    sub: string,
  ): Record<string, unknown> | undefined =>
    Object.values(state.accounts).find((a) => a.sub === sub)?.claims;
  return {
    adapter: state.adapter,
    clients: [
      {
        client_id: clients.workload.clientId,
        client_secret: clients.workload.clientSecret,
        grant_types: ["client_credentials"],
        response_types: [],
        redirect_uris: [],
      },
      {
        client_id: clients.introspection.clientId,
        client_secret: clients.introspection.clientSecret,
        grant_types: ["client_credentials"],
        response_types: [],
        redirect_uris: [],
      },
      {
        client_id: clients.cli.clientId,
        application_type: "native",
        token_endpoint_auth_method: "none",
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        redirect_uris: [CLI_REDIRECT_URI],
      },
    ],
    jwks: { keys: state.keys.map((k) => ({ ...k.privateJwk })) },
    cookies: { keys: state.cookieKeys },
    claims: {
      openid: ["sub"],
      profile: ["preferred_username", "name"],
      email: ["email", "email_verified"],
      groups: ["groups"],
    },
    // The resource scopes are announced too (scopes_supported), as Keycloak
    // and Okta announce custom scopes: dynamic registration checks a
    // client's `scope` against them (the MCP SDK registers with one).
    scopes: [
      "openid",
      "offline_access",
      "profile",
      "email",
      "groups",
      ...state.resourceScopes.split(" ").filter((s) => s !== ""),
    ],
    findAccount: (_ctx: unknown, sub: string) => {
      const claims = accountClaims(sub);
      if (claims === undefined) return undefined;
      return { accountId: sub, claims: () => ({ sub, ...claims }) };
    },
    // Access tokens of a signed-in account carry its name and groups, as
    // Entra ID, Okta and Keycloak can be configured to do; a client's own
    // (client-credentials) tokens name its service account, as Keycloak's do.
    extraTokenClaims: (
      _ctx: unknown,
      token: { kind: string; accountId?: string; clientId?: string },
    ) =>
      token.accountId !== undefined
        ? accountClaims(token.accountId)
        : token.kind === "ClientCredentials"
        ? { preferred_username: serviceAccountName(token.clientId ?? "") }
        : undefined,
    interactions: {
      url: (_ctx: unknown, interaction: { uid: string }) =>
        `/interaction/${interaction.uid}`,
    },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // The resource server's own client may introspect any token; any
        // other client only its own.
        allowedPolicy: (
          _ctx: unknown,
          client: { clientId: string },
          token: { clientId: string },
        ) =>
          client.clientId === clients.introspection.clientId ||
          client.clientId === token.clientId,
      },
      revocation: {
        enabled: true,
        // The fixture's revoke() acts as the introspection client (the
        // administrator); any other client may revoke only its own tokens.
        allowedPolicy: (
          _ctx: unknown,
          client: { clientId: string },
          token: { clientId: string },
        ) =>
          client.clientId === clients.introspection.clientId ||
          client.clientId === token.clientId,
      },
      registration: { enabled: true, initialAccessToken: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx: unknown, _client: unknown, oneOf?: string) =>
          oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({
          scope: state.resourceScopes,
          audience: resource,
          accessTokenFormat: state.accessTokenFormat,
          accessTokenTTL: state.accessTokenTtlSeconds,
          jwt: { sign: { alg: "RS256" } },
        }),
      },
    },
    ttl: {
      AccessToken: () => state.accessTokenTtlSeconds,
      ClientCredentials: () => state.accessTokenTtlSeconds,
      AuthorizationCode: 60,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
      RefreshToken: 3600,
    },
  };
}

/** The login and consent pages of the authorization-code flow. */
async function handleInteraction(
  provider: OidcProviderInstance,
  state: ProviderState,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = new URL(req.url ?? "/", state.issuer).pathname;
  const match = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/
    .exec(path);
  if (match === null) throw new Error(`no such page ${path}`);
  const action = match[2];
  const details = await provider.interactionDetails(req, res);
  res.setHeader("cache-control", "no-store");
  if (req.method === "GET" && action === undefined) {
    sendPage(res, 200, interactionPage(details));
    return;
  }
  if (req.method !== "POST") throw new Error(`${req.method} not allowed`);
  const form = new URLSearchParams(await readBody(req));
  if (action === "abort") {
    await provider.interactionFinished(req, res, {
      error: "access_denied",
      error_description: "End-User aborted interaction",
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (action === "login" && details.prompt.name === "login") {
    const username = form.get("username") ?? "";
    const account = state.accounts[username];
    if (account === undefined || account.password !== form.get("password")) {
      sendPage(
        res,
        200,
        interactionPage(details, "Wrong user name or password"),
      );
      return;
    }
    await provider.interactionFinished(req, res, {
      login: { accountId: account.sub },
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (action === "confirm" && details.prompt.name === "consent") {
    await provider.interactionFinished(req, res, {
      consent: { grantId: await grantConsent(provider, details) },
    }, { mergeWithLastSubmission: true });
    return;
  }
  throw new Error(`${action} does not answer the ${details.prompt.name} step`);
}

/** Grants what the consent prompt asks for, as a user clicking "Allow". */
async function grantConsent(
  provider: OidcProviderInstance,
  details: InteractionDetails,
): Promise<string> {
  const { prompt, params, session } = details;
  const grant = details.grantId === undefined
    ? undefined
    : await provider.Grant.find(details.grantId);
  const target = grant ?? new provider.Grant({
    accountId: session?.accountId ?? "",
    clientId: String(params.client_id),
  });
  const missingScope = prompt.details.missingOIDCScope;
  if (Array.isArray(missingScope)) target.addOIDCScope(missingScope.join(" "));
  const missingClaims = prompt.details.missingOIDCClaims;
  if (Array.isArray(missingClaims)) target.addOIDCClaims(missingClaims);
  const missingResourceScopes = prompt.details.missingResourceScopes;
  if (typeof missingResourceScopes === "object" && missingResourceScopes) {
    for (
      const [resource, scopes] of Object.entries(missingResourceScopes)
    ) {
      target.addResourceScope(resource, (scopes as string[]).join(" "));
    }
  }
  return await target.save();
}

function interactionPage(
  details: InteractionDetails,
  problem?: string,
): string {
  const uid = escapeHtml(details.uid);
  const client = escapeHtml(String(details.params.client_id ?? ""));
  const notice = problem === undefined
    ? ""
    : `<p role="alert">${escapeHtml(problem)}</p>`;
  if (details.prompt.name === "login") {
    return `<!doctype html><title>Sign in</title><h1>Sign in to ${client}</h1>${notice}
<form method="post" action="/interaction/${uid}/login">
<label>User name <input name="username" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel</button></form>`;
  }
  const scope = escapeHtml(String(details.params.scope ?? ""));
  const resource = escapeHtml(String(details.params.resource ?? ""));
  return `<!doctype html><title>Authorize</title><h1>Allow ${client}?</h1>${notice}
<p>Scopes: ${scope}</p><p>Resource: ${resource}</p>
<form method="post" action="/interaction/${uid}/confirm"><button type="submit">Allow</button></form>
<form method="post" action="/interaction/${uid}/abort"><button type="submit">Deny</button></form>`;
}

function sendPage(res: ServerResponse, status: number, html: string): void {
  res.statusCode = status;
  res.setHeader("content-type", "text/html; charset=utf-8");
  res.end(html);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of req) {
    chunks.push(
      typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk,
    );
  }
  return new TextDecoder().decode(concat(chunks));
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;").replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/**
 * An in-memory store of the provider's models, one per fixture (the
 * package's own quick-start adapter shares one store per process), kept
 * across provider instances so a key rotation loses no session or token.
 */
function memoryAdapterClass(): AdapterClass {
  const entries = new Map<string, { payload: Payload; expiresAt: number }>();
  const grants = new Map<string, Set<string>>();
  const read = (key: string): Payload | undefined => {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry.payload;
  };
  return class MemoryAdapter implements Adapter {
    readonly #model: string;
    constructor(model: string) {
      this.#model = model;
    }
    #key(id: string): string {
      return `${this.#model}:${id}`;
    }
    upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
      const expiresAt = typeof expiresIn === "number"
        ? Date.now() + expiresIn * 1000
        : Infinity;
      const key = this.#key(id);
      entries.set(key, { payload, expiresAt });
      if (this.#model === "Session" && typeof payload.uid === "string") {
        entries.set(`sessionUid:${payload.uid}`, {
          payload: { id },
          expiresAt,
        });
      }
      if (typeof payload.userCode === "string") {
        entries.set(`userCode:${payload.userCode}`, {
          payload: { id },
          expiresAt,
        });
      }
      if (typeof payload.grantId === "string") {
        const members = grants.get(payload.grantId) ?? new Set<string>();
        members.add(key);
        grants.set(payload.grantId, members);
      }
      return Promise.resolve();
    }
    find(id: string): Promise<Payload | undefined> {
      return Promise.resolve(read(this.#key(id)));
    }
    findByUid(uid: string): Promise<Payload | undefined> {
      const index = read(`sessionUid:${uid}`);
      return this.find(String(index?.id));
    }
    findByUserCode(userCode: string): Promise<Payload | undefined> {
      const index = read(`userCode:${userCode}`);
      return this.find(String(index?.id));
    }
    consume(id: string): Promise<void> {
      const payload = read(this.#key(id));
      if (payload !== undefined) {
        payload.consumed = Math.floor(Date.now() / 1000);
      }
      return Promise.resolve();
    }
    destroy(id: string): Promise<void> {
      entries.delete(this.#key(id));
      return Promise.resolve();
    }
    revokeByGrantId(grantId: string): Promise<void> {
      for (const key of grants.get(grantId) ?? []) entries.delete(key);
      grants.delete(grantId);
      return Promise.resolve();
    }
  };
}

async function newSigningKey(): Promise<SigningKey> {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const exported = await crypto.subtle.exportKey("jwk", pair.privateKey);
  const kid = `k-${randomId(12)}`;
  const { kty, n, e, d, p, q, dp, dq, qi } = exported;
  const common = { kid, alg: "RS256", use: "sig" };
  return {
    kid,
    privateJwk: { kty, n, e, d, p, q, dp, dq, qi, ...common } as
      & JsonWebKey
      & { kid: string },
    publicJwk: { kty, n, e, ...common } as JsonWebKey & { kid: string },
    privateKey: pair.privateKey,
  };
}

function randomId(bytes: number): string {
  return base64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-")
    .replaceAll("/", "_").replaceAll("=", "");
}

function base64UrlJson(value: unknown): string {
  return base64Url(new TextEncoder().encode(JSON.stringify(value)));
}
