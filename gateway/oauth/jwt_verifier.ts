/**
 * JWT access tokens (RFC 9068) checked with jose: the signature against the
 * issuer's JWKS (cached; an unknown `kid` refetches it at most once per
 * cooldown), `iss`, `aud`, `exp`/`nbf` with a clock tolerance, the
 * algorithm (see `signing_algorithms.ts`) and the `typ` header.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import {
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  type FetchImplementation,
  type JWSHeaderParameters,
  jwtVerify,
  type RemoteJWKSet,
} from "jose";
import { IssuerError } from "./issuer_error.ts";
import type { IssuerFetchFunction } from "./issuer_fetch.ts";
import { describeFetchError, type IssuerMetadata } from "./issuer_metadata.ts";
import type { IssuerMetadataCache } from "./issuer_metadata_cache.ts";
import {
  acceptedAlgorithms,
  isForbiddenAlgorithm,
} from "./signing_algorithms.ts";
import {
  notMeantFor,
  type TokenClaimOptions,
  verifiedTokenFromClaims,
} from "./token_claims.ts";
import { TokenError, type VerifiedToken } from "./token_verifier.ts";

const log = getLogger(["gateway", "oauth"]);

/** Default pause between JWKS fetches caused by unknown `kid`s (30 s). */
export const DEFAULT_JWKS_COOLDOWN_MS = 30_000;
/** Default age after which the JWKS is fetched again (10 min). */
export const DEFAULT_JWKS_MAX_AGE_MS = 600_000;

/** `typ` headers of access tokens (RFC 9068), lower-cased; absent is accepted too. */
const ACCEPTED_TYPES = new Set(["at+jwt", "application/at+jwt", "jwt"]);

/** What {@linkcode JwtVerifier} needs. */
export interface JwtVerifierOptions extends TokenClaimOptions {
  readonly issuer: string;
  /** `OAUTH_RESOURCE`: what clients request tokens for (named in refusals). */
  readonly resource: string;
  /** What `aud` must name: `OAUTH_AUDIENCE`, else the resource. */
  readonly audience: string;
  readonly clockSkewSeconds: number;
  readonly metadata: IssuerMetadataCache;
  readonly fetch: IssuerFetchFunction;
  /** Pause between refetches for unknown `kid`s (default {@linkcode DEFAULT_JWKS_COOLDOWN_MS}). */
  readonly jwksCooldownMs?: number;
  /** JWKS cache lifetime (default {@linkcode DEFAULT_JWKS_MAX_AGE_MS}). */
  readonly jwksMaxAgeMs?: number;
}

/** The jose errors that say the token (not the issuer) is at fault. */
const TOKEN_FAULTS = new Set([
  "ERR_JWKS_NO_MATCHING_KEY",
  "ERR_JWKS_MULTIPLE_MATCHING_KEYS",
  "ERR_JOSE_NOT_SUPPORTED",
  "ERR_JOSE_ALG_NOT_ALLOWED",
]);

/** Marks a key-resolution failure of the issuer's side, to tell it from a bad token. */
class JwksUnavailable extends Error {
  override readonly cause: unknown;
  constructor(cause: unknown) {
    super("JWKS unavailable");
    this.cause = cause;
  }
}

/** True when `token` has the shape of a JWS compact serialization. */
export function looksLikeJwt(token: string): boolean {
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) {
    return false;
  }
  try {
    return typeof decodeProtectedHeader(token).alg === "string";
  } catch {
    return false;
  }
}

/** Checks JWT access tokens of one issuer. */
export class JwtVerifier {
  readonly #options: JwtVerifierOptions;
  #jwks: { uri: string; set: RemoteJWKSet } | undefined;
  /** Whether the last JWKS fetch failed (logged once per outage). */
  #jwksOutage = false;

  /** Prepares the verifier; the JWKS is fetched on first use. */
  constructor(options: JwtVerifierOptions) {
    this.#options = options;
  }

  /**
   * Checks one JWT.
   *
   * @throws {TokenError} `invalid_token`, `insufficient_scope`, or `temporarily_unavailable` when the issuer cannot be reached
   */
  async verify(token: string): Promise<VerifiedToken> {
    const options = this.#options;
    let header: JWSHeaderParameters;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new TokenError(
        "invalid_token",
        "The token is not a well-formed JWT; send the access token the identity provider issued",
      );
    }
    const alg = header.alg;
    const kid = typeof header.kid === "string"
      ? header.kid.slice(0, 128)
      : undefined;
    if (isForbiddenAlgorithm(alg)) {
      log.warn("oauth_token_refused", {
        issuer: options.issuer,
        alg: String(alg).slice(0, 32),
        kid,
        reason: "forbidden algorithm",
      });
      throw new TokenError(
        "invalid_token",
        `The token's algorithm ${
          JSON.stringify(String(alg).slice(0, 32))
        } is refused (only asymmetric signatures are accepted); send a token signed by the identity provider`,
      );
    }
    const typ = header.typ;
    if (typ !== undefined && !ACCEPTED_TYPES.has(String(typ).toLowerCase())) {
      throw new TokenError(
        "invalid_token",
        `The token's type ${
          JSON.stringify(String(typ).slice(0, 32))
        } is not an access token (at+jwt or JWT); send an access token, not an ID or other token`,
      );
    }
    const metadata = await this.#metadata();
    if (metadata.jwksUri === undefined) {
      throw new TokenError(
        "temporarily_unavailable",
        `The issuer ${options.issuer} announces no jwks_uri, so JWTs cannot be checked; set OAUTH_TOKEN_MODE=introspection if it issues opaque tokens, or fix its metadata`,
      );
    }
    const jwks = this.#jwksFor(metadata.jwksUri);
    const algorithms = acceptedAlgorithms(metadata);
    let payload: Record<string, unknown>;
    try {
      const result = await jwtVerify(token, async (h, t) => {
        try {
          return await jwks(h, t);
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          if (typeof code === "string" && TOKEN_FAULTS.has(code)) throw error;
          throw new JwksUnavailable(error);
        }
      }, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms,
        clockTolerance: options.clockSkewSeconds,
        requiredClaims: ["exp"],
      });
      payload = result.payload as Record<string, unknown>;
      this.#jwksReachable(metadata.jwksUri);
    } catch (error) {
      if (!(error instanceof JwksUnavailable)) {
        this.#jwksReachable(metadata.jwksUri);
      }
      throw this.#refusal(error, {
        alg: String(alg),
        kid,
        algorithms,
        jwksUri: metadata.jwksUri,
      });
    }
    return verifiedTokenFromClaims(payload, token, options);
  }

  async #metadata(): Promise<IssuerMetadata> {
    try {
      return await this.#options.metadata.get();
    } catch (error) {
      throw unavailable(this.#options.issuer, error);
    }
  }

  #jwksFor(uri: string): RemoteJWKSet {
    if (this.#jwks?.uri !== uri) {
      const fetch = this.#options.fetch;
      const fetchImpl: FetchImplementation = (url, init) => fetch(url, init);
      this.#jwks = {
        uri,
        set: createRemoteJWKSet(new URL(uri), {
          cooldownDuration: this.#options.jwksCooldownMs ??
            DEFAULT_JWKS_COOLDOWN_MS,
          cacheMaxAge: this.#options.jwksMaxAgeMs ?? DEFAULT_JWKS_MAX_AGE_MS,
          [customFetch]: fetchImpl,
        }),
      };
    }
    return this.#jwks.set;
  }

  /** Ends a JWKS outage, logging it once. */
  #jwksReachable(jwksUri: string): void {
    if (!this.#jwksOutage) return;
    this.#jwksOutage = false;
    log.info("oauth_jwks_reachable", {
      issuer: this.#options.issuer,
      jwks_uri: jwksUri,
    });
  }

  /** The TokenError for a failed jose check, logged without the token. */
  #refusal(
    error: unknown,
    context: {
      alg: string;
      kid: string | undefined;
      algorithms: string[];
      jwksUri: string;
    },
  ): TokenError {
    const issuer = this.#options.issuer;
    if (error instanceof TokenError) return error;
    if (error instanceof JwksUnavailable) {
      const reason = describeFetchError(error.cause);
      if (!this.#jwksOutage) {
        this.#jwksOutage = true;
        log.error("oauth_jwks_unavailable", {
          issuer,
          jwks_uri: context.jwksUri,
          kid: context.kid,
          reason,
        });
      }
      return new TokenError(
        "temporarily_unavailable",
        `Cannot fetch the signing keys of issuer ${issuer} from ${context.jwksUri} (${reason}); check that the issuer is reachable from this host (OAUTH_CA_BUNDLE for a private CA)`,
      );
    }
    const code = (error as { code?: unknown }).code;
    const claim = (error as { claim?: unknown }).claim;
    let reason: string;
    let message: string;
    switch (code) {
      case "ERR_JWT_EXPIRED":
        reason = "expired";
        message =
          "The token has expired; get a new one from the identity provider";
        break;
      case "ERR_JWKS_NO_MATCHING_KEY":
        reason = "unknown kid";
        message = `The token's key${
          context.kid === undefined ? "" : ` "${context.kid}"`
        } is not among the issuer's signing keys (for its algorithm); send a token signed by ${issuer}`;
        break;
      case "ERR_JOSE_ALG_NOT_ALLOWED":
        reason = "algorithm not allowed";
        message =
          `The token's algorithm ${context.alg} is not one the issuer uses (${
            context.algorithms.join(", ")
          }); send a token signed by the identity provider`;
        break;
      case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
        reason = "bad signature";
        message =
          "The token's signature does not verify; send a token signed by the identity provider";
        break;
      case "ERR_JWT_CLAIM_VALIDATION_FAILED":
        reason = `claim ${String(claim)}`;
        message = claim === "iss"
          ? `The token was not issued by ${issuer} (OAUTH_ISSUER); get a token from that issuer`
          : claim === "aud"
          ? notMeantFor(this.#options)
          : claim === "nbf"
          ? "The token is not valid yet (nbf); check the clocks of this host and the identity provider"
          : claim === "exp"
          ? "The token has no expiry (exp); configure the identity provider to issue expiring access tokens"
          : `The token's ${
            String(claim)
          } claim is invalid; send an access token from the identity provider`;
        break;
      default:
        reason = typeof code === "string" ? code : "malformed";
        message =
          "The token is not a valid JWT; send the access token the identity provider issued";
    }
    log.info("oauth_token_refused", {
      issuer,
      alg: context.alg.slice(0, 32),
      kid: context.kid,
      reason,
    });
    return new TokenError("invalid_token", message);
  }
}

/** The `temporarily_unavailable` error for an issuer that cannot be used. */
export function unavailable(issuer: string, error: unknown): TokenError {
  const detail = error instanceof IssuerError
    ? error.message
    : `Cannot use issuer ${issuer} (${describeFetchError(error)})`;
  return new TokenError(
    "temporarily_unavailable",
    `${detail}; no token is accepted until the issuer can be reached`,
  );
}
