/**
 * A scripted OAuth 2.1 client for the authorization-code flow with PKCE, as
 * a person in a browser would go through it: the authorize URL (S256
 * challenge, `state`, RFC 8707 `resource`), the redirects followed over HTTP
 * with a cookie jar, the login and consent forms filled and submitted, the
 * redirect to the client's `redirect_uri` caught (never served), and the
 * code exchanged with the verifier for an access token.
 *
 * @module
 */

/** Where a sign-in starts and who signs in. */
export interface SignInOptions {
  /** The client's redirect URI: the redirect there ends the sign-in. */
  redirectUri: string;
  username: string;
  password: string;
  /** Trust this CA for an HTTPS authorization server. */
  caCertPem?: string;
}

/** What the authorization server sent to the redirect URI. */
export interface AuthorizationResponse {
  code: string;
  state: string | null;
  /** The `iss` parameter (RFC 9207), when the server sends it. */
  iss: string | null;
}

/** Options of {@linkcode authorizationCodeFlow}. */
export interface AuthorizationCodeFlowOptions {
  clientId: string;
  /** For a confidential client (HTTP Basic at the token endpoint). */
  clientSecret?: string;
  redirectUri: string;
  /** The protected resource the token is for (RFC 8707). */
  resource: string;
  /** Space-separated scopes, e.g. `openid mcp:tools`. */
  scope: string;
  username: string;
  password: string;
  /** Trust this CA for an HTTPS authorization server. */
  caCertPem?: string;
}

/** The token endpoint's answer. */
export interface TokenResponse {
  accessToken: string;
  tokenType: string;
  expiresIn?: number;
  scope?: string;
  idToken?: string;
  refreshToken?: string;
}

/** A PKCE verifier and its S256 challenge (RFC 7636). */
export interface PkcePair {
  verifier: string;
  challenge: string;
}

/** The authorization server's metadata this client uses. */
export interface AuthorizationServerMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  [name: string]: unknown;
}

/** A fresh PKCE verifier (43 characters) and its S256 challenge. */
export async function pkcePair(): Promise<PkcePair> {
  const verifier = base64Url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(verifier),
  );
  return { verifier, challenge: base64Url(new Uint8Array(digest)) };
}

/**
 * The authorization server's metadata, from
 * `/.well-known/oauth-authorization-server` or else
 * `/.well-known/openid-configuration`.
 *
 * @throws {Error} when neither answers with metadata for this issuer
 */
export async function discoverAuthorizationServer(
  issuer: string,
  caCertPem?: string,
): Promise<AuthorizationServerMetadata> {
  const problems: string[] = [];
  for (
    const suffix of [
      "/.well-known/oauth-authorization-server",
      "/.well-known/openid-configuration",
    ]
  ) {
    const url = `${issuer.replace(/\/$/, "")}${suffix}`;
    const response = await httpRequest(url, {}, caCertPem);
    if (response.status !== 200) {
      problems.push(`${url}: ${response.status}`);
      await response.body?.cancel();
      continue;
    }
    const metadata = await response.json() as AuthorizationServerMetadata;
    if (metadata.issuer !== issuer) {
      throw new Error(
        `Cannot use the metadata at ${url}: it names issuer ${metadata.issuer}, not ${issuer}`,
      );
    }
    return metadata;
  }
  throw new Error(
    `Cannot discover the authorization server ${issuer}: ${
      problems.join("; ")
    }`,
  );
}

/**
 * Runs the whole authorization-code flow with PKCE and returns the tokens.
 *
 * @throws {Error} when a step fails (the message names the step and what
 *   the server answered)
 */
export async function authorizationCodeFlow(
  issuer: string,
  options: AuthorizationCodeFlowOptions,
): Promise<TokenResponse> {
  const metadata = await discoverAuthorizationServer(
    issuer,
    options.caCertPem,
  );
  const pkce = await pkcePair();
  const state = base64Url(crypto.getRandomValues(new Uint8Array(16)));
  const authorizeUrl = new URL(metadata.authorization_endpoint);
  authorizeUrl.search = new URLSearchParams({
    response_type: "code",
    client_id: options.clientId,
    redirect_uri: options.redirectUri,
    scope: options.scope,
    state,
    code_challenge: pkce.challenge,
    code_challenge_method: "S256",
    resource: options.resource,
  }).toString();
  const answer = await signIn(authorizeUrl, {
    redirectUri: options.redirectUri,
    username: options.username,
    password: options.password,
    ...(options.caCertPem === undefined
      ? {}
      : { caCertPem: options.caCertPem }),
  });
  if (answer.state !== state) {
    throw new Error(
      "Cannot accept the authorization response: its state does not match the request's",
    );
  }
  if (answer.iss !== null && answer.iss !== issuer) {
    throw new Error(
      `Cannot accept the authorization response: it comes from issuer ${answer.iss}, not ${issuer}`,
    );
  }
  return await exchangeCode(metadata.token_endpoint, {
    code: answer.code,
    verifier: pkce.verifier,
    clientId: options.clientId,
    ...(options.clientSecret === undefined
      ? {}
      : { clientSecret: options.clientSecret }),
    redirectUri: options.redirectUri,
    resource: options.resource,
    ...(options.caCertPem === undefined
      ? {}
      : { caCertPem: options.caCertPem }),
  });
}

/** Options of {@linkcode exchangeCode}. */
export interface ExchangeCodeOptions {
  code: string;
  verifier: string;
  clientId: string;
  clientSecret?: string;
  redirectUri: string;
  resource: string;
  caCertPem?: string;
}

/**
 * Exchanges an authorization code with its PKCE verifier at the token
 * endpoint.
 *
 * @throws {Error} when the token endpoint refuses
 */
export async function exchangeCode(
  tokenEndpoint: string,
  options: ExchangeCodeOptions,
): Promise<TokenResponse> {
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
  };
  const form: Record<string, string> = {
    grant_type: "authorization_code",
    code: options.code,
    code_verifier: options.verifier,
    redirect_uri: options.redirectUri,
    resource: options.resource,
  };
  if (options.clientSecret === undefined) {
    form.client_id = options.clientId;
  } else {
    headers.authorization = "Basic " +
      btoa(
        `${encodeURIComponent(options.clientId)}:${
          encodeURIComponent(options.clientSecret)
        }`,
      );
  }
  const response = await httpRequest(tokenEndpoint, {
    method: "POST",
    headers,
    body: new URLSearchParams(form).toString(),
  }, options.caCertPem);
  const body = await response.json();
  if (response.status !== 200 || typeof body.access_token !== "string") {
    throw new Error(
      `Cannot exchange the authorization code: the token endpoint answered ${response.status} ${
        JSON.stringify(body)
      }`,
    );
  }
  return {
    accessToken: body.access_token,
    tokenType: body.token_type,
    ...(typeof body.expires_in === "number"
      ? { expiresIn: body.expires_in }
      : {}),
    ...(typeof body.scope === "string" ? { scope: body.scope } : {}),
    ...(typeof body.id_token === "string" ? { idToken: body.id_token } : {}),
    ...(typeof body.refresh_token === "string"
      ? { refreshToken: body.refresh_token }
      : {}),
  };
}

/**
 * Opens `authorizeUrl` as a browser would, signs in on the login form,
 * allows on the consent form, and returns what the server sends to the
 * redirect URI. The redirect URI is never requested.
 *
 * @throws {Error} when the sign-in is refused, the server answers an
 *   error to the redirect URI, or a page has no form to go on with
 */
export async function signIn(
  authorizeUrl: URL | string,
  options: SignInOptions,
): Promise<AuthorizationResponse> {
  const jar = new CookieJar();
  const redirect = new URL(options.redirectUri);
  let next: { url: URL; method: string; body?: string } = {
    url: new URL(authorizeUrl),
    method: "GET",
  };
  let loginsSubmitted = 0;
  for (let step = 0; step < 30; step++) {
    const headers: Record<string, string> = { accept: "text/html" };
    const cookie = jar.header(next.url);
    if (cookie !== "") headers.cookie = cookie;
    if (next.body !== undefined) {
      headers["content-type"] = "application/x-www-form-urlencoded";
    }
    const response = await httpRequest(next.url, {
      method: next.method,
      headers,
      redirect: "manual",
      ...(next.body === undefined ? {} : { body: next.body }),
    }, options.caCertPem);
    jar.store(next.url, response.headers.getSetCookie());
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      const target = new URL(location, next.url);
      if (
        target.origin === redirect.origin &&
        target.pathname === redirect.pathname
      ) {
        return authorizationResponse(target);
      }
      next = { url: target, method: "GET" };
      continue;
    }
    const text = await response.text();
    if (response.status !== 200) {
      throw new Error(
        `Cannot sign in: ${next.method} ${next.url.pathname} answered ${response.status}: ${
          pageText(text)
        }`,
      );
    }
    const form = firstForm(text, next.url);
    if (form === undefined) {
      throw new Error(
        `Cannot sign in: the page at ${next.url.pathname} has no form: ${
          pageText(text)
        }`,
      );
    }
    const fields = new URLSearchParams();
    let isLogin = false;
    for (const input of form.inputs) {
      if (input.type === "password") {
        fields.set(input.name, options.password);
        isLogin = true;
      } else if (/^(username|login|user|email)$/i.test(input.name)) {
        fields.set(input.name, options.username);
      } else {
        fields.set(input.name, input.value);
      }
    }
    if (isLogin && ++loginsSubmitted > 1) {
      throw new Error(
        `Cannot sign in as ${options.username}: the login form came back: ${
          pageText(text)
        }`,
      );
    }
    next = { url: form.action, method: form.method, body: fields.toString() };
  }
  throw new Error("Cannot sign in: more than 30 redirects and pages");
}

function authorizationResponse(target: URL): AuthorizationResponse {
  const params = target.searchParams;
  const error = params.get("error");
  if (error !== null) {
    throw new Error(
      `Cannot sign in: the authorization server answered ${error}: ${
        params.get("error_description") ?? ""
      }`,
    );
  }
  const code = params.get("code");
  if (code === null) {
    throw new Error(
      "Cannot sign in: the redirect to the client carries no code",
    );
  }
  return { code, state: params.get("state"), iss: params.get("iss") };
}

interface HtmlForm {
  action: URL;
  method: string;
  inputs: { name: string; type: string; value: string }[];
}

/** The first form of a page (login or consent); the last form is Cancel/Deny. */
function firstForm(html: string, base: URL): HtmlForm | undefined {
  const match = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (match === null) return undefined;
  const attributes = match[1] ?? "";
  const inputs = [...(match[2] ?? "").matchAll(/<input\b([^>]*)>/gi)].map((
    m,
  ) => ({
    name: attribute(m[1] ?? "", "name") ?? "",
    type: (attribute(m[1] ?? "", "type") ?? "text").toLowerCase(),
    value: attribute(m[1] ?? "", "value") ?? "",
  })).filter((input) => input.name !== "");
  return {
    action: new URL(attribute(attributes, "action") ?? base.href, base),
    method: (attribute(attributes, "method") ?? "GET").toUpperCase(),
    inputs,
  };
}

function attribute(attributes: string, name: string): string | undefined {
  const match = new RegExp(`\\b${name}\\s*=\\s*("([^"]*)"|'([^']*)')`, "i")
    .exec(attributes);
  if (match === null) return undefined;
  return decodeEntities(match[2] ?? match[3] ?? "");
}

function decodeEntities(text: string): string {
  return text.replaceAll("&quot;", '"').replaceAll("&#39;", "'")
    .replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
}

function pageText(html: string): string {
  return html.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim().slice(
    0,
    300,
  );
}

/** Cookies by origin, honouring `Path`, `Max-Age=0` and `Expires` in the past. */
export class CookieJar {
  readonly #cookies = new Map<
    string,
    { origin: string; path: string; name: string; value: string }
  >();

  /** Stores the `Set-Cookie` lines of a response from `url`. */
  store(url: URL, setCookies: readonly string[]): void {
    for (const line of setCookies) {
      const [pair = "", ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = "/";
      let expired = false;
      for (const attr of attributes) {
        const [key = "", val = ""] = attr.split("=").map((s) => s.trim());
        const lower = key.toLowerCase();
        if (lower === "path" && val.startsWith("/")) path = val;
        if (lower === "max-age" && Number(val) <= 0) expired = true;
        if (lower === "expires" && Date.parse(val) <= Date.now()) {
          expired = true;
        }
      }
      const key = `${url.origin} ${path} ${name}`;
      if (expired) this.#cookies.delete(key);
      else this.#cookies.set(key, { origin: url.origin, path, name, value });
    }
  }

  /** The `Cookie` header for a request to `url` ("" when none apply). */
  header(url: URL): string {
    return [...this.#cookies.values()].filter((c) =>
      c.origin === url.origin &&
      (url.pathname === c.path ||
        url.pathname.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`))
    ).map((c) => `${c.name}=${c.value}`).join("; ");
  }
}

/** `fetch`, trusting `caCertPem` when given; the body is read before the client closes. */
async function httpRequest(
  url: URL | string,
  init: RequestInit,
  caCertPem?: string,
): Promise<Response> {
  if (caCertPem === undefined) return await fetch(url, init);
  const client = Deno.createHttpClient({ caCerts: [caCertPem] });
  try {
    const response = await fetch(url, { ...init, client });
    const body = await response.arrayBuffer();
    return new Response(body, {
      status: response.status,
      headers: response.headers,
    });
  } finally {
    client.close();
  }
}

function base64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-")
    .replaceAll("/", "_").replaceAll("=", "");
}
