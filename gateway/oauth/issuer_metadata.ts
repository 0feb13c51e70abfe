/**
 * Authorization server metadata discovery (RFC 8414, OpenID Connect
 * Discovery): where the metadata of `OAUTH_ISSUER` lives, fetching and
 * checking it (its `issuer` must equal OAUTH_ISSUER exactly).
 *
 * @module
 */
import { IssuerError } from "./issuer_error.ts";
import type { IssuerFetchFunction } from "./issuer_fetch.ts";
import { type RetryOptions, withRetries } from "./with_retries.ts";

/** The fields of the issuer's metadata this service uses. */
export interface IssuerMetadata {
  /** Equal to `OAUTH_ISSUER`. */
  readonly issuer: string;
  /** Where the issuer's signing keys are (JWT mode). */
  readonly jwksUri?: string;
  /** The RFC 7662 endpoint (introspection mode). */
  readonly introspectionEndpoint?: string;
  /** `introspection_endpoint_auth_methods_supported`, when announced. */
  readonly introspectionAuthMethods?: readonly string[];
  /** `id_token_signing_alg_values_supported`, when announced. */
  readonly idTokenSigningAlgs?: readonly string[];
  /** `scopes_supported`, when announced. */
  readonly scopesSupported?: readonly string[];
  /** The URL the metadata was read from. */
  readonly source: string;
  /** The whole document, as the issuer sent it. */
  readonly document: Readonly<Record<string, unknown>>;
}

/**
 * The URLs the metadata of `issuer` may be at, in the order tried: for an
 * issuer with a path, RFC 8414's path insertion for both well-known names
 * and then OpenID Connect's path appending (the order of the MCP
 * authorization specification).
 */
export function metadataUrls(issuer: string): URL[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/+$/, "");
  const at = (p: string): URL => new URL(p, url.origin);
  if (path === "") {
    return [
      at("/.well-known/oauth-authorization-server"),
      at("/.well-known/openid-configuration"),
    ];
  }
  return [
    at(`/.well-known/oauth-authorization-server${path}`),
    at(`/.well-known/openid-configuration${path}`),
    at(`${path}/.well-known/openid-configuration`),
  ];
}

/** How {@linkcode fetchIssuerMetadata} fetches. */
export interface FetchIssuerMetadataOptions extends RetryOptions {
  readonly fetch: IssuerFetchFunction;
}

/** A string array field, or `undefined` when absent or not an array of strings. */
function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === "string")
    ? value
    : undefined;
}

/** An absolute http(s) URL field, or `undefined`. */
function urlField(
  issuer: string,
  document: Record<string, unknown>,
  field: string,
): string | undefined {
  const value = document[field];
  if (value === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = typeof value === "string" ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (
    url === undefined || (url.protocol !== "https:" && url.protocol !== "http:")
  ) {
    throw new IssuerError(
      issuer,
      `The metadata of issuer ${issuer} has a ${field} that is not an http(s) URL; fix the authorization server's configuration`,
      { retryable: false },
    );
  }
  return value as string;
}

/** Checks one metadata document. */
function readDocument(
  issuer: string,
  source: string,
  document: Record<string, unknown>,
): IssuerMetadata {
  if (document.issuer !== issuer) {
    throw new IssuerError(
      issuer,
      `The metadata at ${source} names the issuer ${
        JSON.stringify(document.issuer)
      }, not ${
        JSON.stringify(issuer)
      } (OAUTH_ISSUER); set OAUTH_ISSUER to exactly the issuer the metadata names (trailing slash included)`,
      { retryable: false },
    );
  }
  const jwksUri = urlField(issuer, document, "jwks_uri");
  const introspectionEndpoint = urlField(
    issuer,
    document,
    "introspection_endpoint",
  );
  const introspectionAuthMethods = stringList(
    document.introspection_endpoint_auth_methods_supported,
  );
  const idTokenSigningAlgs = stringList(
    document.id_token_signing_alg_values_supported,
  );
  const scopesSupported = stringList(document.scopes_supported);
  return {
    issuer,
    source,
    document,
    ...(jwksUri === undefined ? {} : { jwksUri }),
    ...(introspectionEndpoint === undefined ? {} : { introspectionEndpoint }),
    ...(introspectionAuthMethods === undefined
      ? {}
      : { introspectionAuthMethods }),
    ...(idTokenSigningAlgs === undefined ? {} : { idTokenSigningAlgs }),
    ...(scopesSupported === undefined ? {} : { scopesSupported }),
  };
}

/** One try at one URL: the document, `undefined` on a 4xx, or an error. */
async function fetchDocument(
  issuer: string,
  url: URL,
  fetch: IssuerFetchFunction,
): Promise<Record<string, unknown> | undefined> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept: "application/json" } });
  } catch (error) {
    throw new IssuerError(
      issuer,
      `Cannot reach the issuer ${issuer} at ${url.href} (${
        describeFetchError(error)
      }); check that OAUTH_ISSUER is right and reachable from this host, and OAUTH_CA_BUNDLE when it uses a private CA`,
      { retryable: true, cause: error },
    );
  }
  if (response.status >= 400 && response.status < 500) {
    await response.body?.cancel();
    return undefined;
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new IssuerError(
      issuer,
      `The issuer ${issuer} answered HTTP ${response.status} at ${url.href}; check the authorization server`,
      { retryable: true },
    );
  }
  let document: unknown;
  try {
    document = await response.json();
  } catch (error) {
    throw new IssuerError(
      issuer,
      `The issuer ${issuer} sent no JSON at ${url.href}; check that OAUTH_ISSUER names the authorization server`,
      { retryable: true, cause: error },
    );
  }
  if (
    typeof document !== "object" || document === null || Array.isArray(document)
  ) {
    throw new IssuerError(
      issuer,
      `The issuer ${issuer} sent no metadata object at ${url.href}; check that OAUTH_ISSUER names the authorization server`,
      { retryable: false },
    );
  }
  return document as Record<string, unknown>;
}

/** A short reason for a failed fetch (no URL query, no token: none is sent). */
export function describeFetchError(error: unknown): string {
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return "timed out";
  }
  if (error instanceof Error) {
    const cause = error.cause instanceof Error
      ? `: ${error.cause.message}`
      : "";
    return `${error.message}${cause}`.slice(0, 300);
  }
  return String(error).slice(0, 300);
}

/**
 * Fetches and checks the issuer's metadata from the first well-known URL
 * that has it, with bounded retries on network errors and 5xx.
 *
 * @throws {IssuerError} naming the issuer and the fix
 */
export async function fetchIssuerMetadata(
  issuer: string,
  options: FetchIssuerMetadataOptions,
): Promise<IssuerMetadata> {
  const urls = metadataUrls(issuer);
  return await withRetries(async () => {
    for (const url of urls) {
      const document = await fetchDocument(issuer, url, options.fetch);
      if (document !== undefined) {
        return readDocument(issuer, url.href, document);
      }
    }
    throw new IssuerError(
      issuer,
      `The issuer ${issuer} publishes no metadata (tried ${
        urls.map((u) => u.href).join(", ")
      }); set OAUTH_ISSUER to the issuer URL exactly as the authorization server names it`,
      { retryable: false },
    );
  }, options);
}
