/**
 * `createTokenVerifier(config.oauth)`: the {@linkcode TokenVerifier} of the
 * configured issuer, in the configured token mode.
 *
 * - `jwt`: every token is a JWT checked against the issuer's JWKS.
 * - `introspection`: every token is sent to the issuer's RFC 7662 endpoint.
 * - `auto`: a JWT is checked as in `jwt`; anything else is introspected
 *   when the issuer announces `introspection_endpoint` and the introspection
 *   client is configured, and refused otherwise.
 *
 * Nothing is fetched at creation: an issuer that is down at start-up makes
 * `verify()` fail with `temporarily_unavailable` (and one error log line)
 * until it answers.
 *
 * @module
 */
import type { OAuthConfig } from "../config/mod.ts";
import { createIssuerFetch, type IssuerFetchFunction } from "./issuer_fetch.ts";
import { IssuerMetadataCache } from "./issuer_metadata_cache.ts";
import { IntrospectionVerifier } from "./introspection_verifier.ts";
import { JwtVerifier, looksLikeJwt } from "./jwt_verifier.ts";
import type { RetryOptions } from "./with_retries.ts";
import {
  TokenError,
  type TokenVerifier,
  type VerifiedToken,
} from "./token_verifier.ts";

/** Tuning of {@linkcode createTokenVerifier}; the defaults suit production. */
export interface TokenVerifierOptions {
  /** Replaces the issuer fetch (TLS per `caPem`, timeouts); for tests. */
  readonly fetch?: IssuerFetchFunction;
  /** Time limit of one request to the issuer (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Retries of one metadata discovery (default 3 attempts, 200 ms backoff doubling). */
  readonly retry?: RetryOptions;
  /** Metadata refresh period (default 1 hour). */
  readonly metadataRefreshMs?: number;
  /** Pause after a failed discovery before the next (default 5000 ms). */
  readonly metadataRetryAfterMs?: number;
  /** Pause between JWKS refetches caused by unknown `kid`s (default 30 000 ms). */
  readonly jwksCooldownMs?: number;
  /** JWKS cache lifetime (default 600 000 ms). */
  readonly jwksMaxAgeMs?: number;
  /** How long a positive introspection answer is reused (default and maximum 30 000 ms). */
  readonly introspectionCacheMs?: number;
}

/** Longest token looked at; longer ones are refused unread. */
const MAX_TOKEN_CHARS = 16_384;

/**
 * Builds the verifier of `config` (`Config.oauth`); call it only when
 * `config.mode` is `oauth` or `both`.
 *
 * @throws {TypeError} when `config` has no issuer or resource (MCP_AUTH=api_key)
 */
export function createTokenVerifier(
  config: OAuthConfig,
  options: TokenVerifierOptions = {},
): TokenVerifier {
  const { issuer, resource } = config;
  if (issuer === undefined || resource === undefined) {
    throw new TypeError(
      "createTokenVerifier() needs OAUTH_ISSUER and OAUTH_RESOURCE; call it only when MCP_AUTH is oauth or both",
    );
  }
  const issuerFetch = options.fetch === undefined
    ? createIssuerFetch({
      ...(config.caPem === undefined ? {} : { caPem: config.caPem }),
      ...(options.timeoutMs === undefined
        ? {}
        : { timeoutMs: options.timeoutMs }),
    })
    : { fetch: options.fetch, close: () => {} };
  const metadata = new IssuerMetadataCache(issuer, {
    fetch: issuerFetch.fetch,
    ...(options.metadataRefreshMs === undefined
      ? {}
      : { refreshMs: options.metadataRefreshMs }),
    ...(options.metadataRetryAfterMs === undefined
      ? {}
      : { retryAfterMs: options.metadataRetryAfterMs }),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
  });
  const claimOptions = {
    principalClaim: config.principalClaim,
    requiredScopes: config.requiredScopes,
    ...(config.groupsClaim === undefined
      ? {}
      : { groupsClaim: config.groupsClaim }),
  };
  const common = {
    ...claimOptions,
    issuer,
    // What `aud` must name: OAUTH_AUDIENCE where the provider does not put
    // the resource URL there, else the resource.
    resource,
    audience: config.audience ?? resource,
    clockSkewSeconds: config.clockSkewSeconds,
    metadata,
    fetch: issuerFetch.fetch,
  };
  const jwt = config.tokenMode === "introspection"
    ? undefined
    : new JwtVerifier({
      ...common,
      ...(options.jwksCooldownMs === undefined
        ? {}
        : { jwksCooldownMs: options.jwksCooldownMs }),
      ...(options.jwksMaxAgeMs === undefined
        ? {}
        : { jwksMaxAgeMs: options.jwksMaxAgeMs }),
    });
  const introspection = config.introspection === undefined ||
      config.tokenMode === "jwt"
    ? undefined
    : new IntrospectionVerifier({
      ...common,
      client: config.introspection,
      ...(options.introspectionCacheMs === undefined
        ? {}
        : { cacheMs: options.introspectionCacheMs }),
    });

  const verify = async (token: string): Promise<VerifiedToken> => {
    if (
      token === "" || token.length > MAX_TOKEN_CHARS ||
      /[^\x21-\x7e]/.test(token)
    ) {
      throw new TokenError(
        "invalid_token",
        "The bearer token is empty, too long or holds characters no token has; send the access token the identity provider issued",
      );
    }
    if (
      jwt !== undefined && (introspection === undefined || looksLikeJwt(token))
    ) {
      return await jwt.verify(token);
    }
    if (introspection === undefined) {
      // Only reachable in a mode whose verifier is missing; refuse.
      throw new TokenError("invalid_token", "The token cannot be checked");
    }
    if (jwt !== undefined && !(await introspection.available())) {
      throw new TokenError(
        "invalid_token",
        `The token is not a JWT and issuer ${issuer} announces no introspection endpoint; send a JWT access token (request it with resource=${resource})`,
      );
    }
    return await introspection.verify(token);
  };

  return {
    issuer,
    resource,
    requiredScopes: config.requiredScopes,
    verify,
    close: () => {
      issuerFetch.close();
      return Promise.resolve();
    },
  };
}
