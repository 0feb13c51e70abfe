/**
 * Opaque tokens checked by RFC 7662 token introspection at the issuer's
 * `introspection_endpoint`, authenticated as the configured client. The
 * answer is checked as a JWT's claims are (`active`, `iss`, `aud`,
 * `exp`/`nbf`, scopes); positive answers are cached briefly, keyed by a
 * SHA-256 of the token, never past the token's `exp`.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { createHash } from "node:crypto";
import type { OAuthIntrospectionClient } from "../config/mod.ts";
import type { IssuerFetchFunction } from "./issuer_fetch.ts";
import { describeFetchError, type IssuerMetadata } from "./issuer_metadata.ts";
import type { IssuerMetadataCache } from "./issuer_metadata_cache.ts";
import { unavailable } from "./jwt_verifier.ts";
import {
  notMeantFor,
  type TokenClaimOptions,
  verifiedTokenFromClaims,
} from "./token_claims.ts";
import { TokenError, type VerifiedToken } from "./token_verifier.ts";

const log = getLogger(["gateway", "oauth"]);

/** Longest time an introspection answer is reused (30 s). */
export const MAX_INTROSPECTION_CACHE_MS = 30_000;
/** Most answers kept; the oldest go first. */
const MAX_CACHE_ENTRIES = 10_000;

/** What {@linkcode IntrospectionVerifier} needs. */
export interface IntrospectionVerifierOptions extends TokenClaimOptions {
  readonly issuer: string;
  /** `OAUTH_RESOURCE`: what clients request tokens for (named in refusals). */
  readonly resource: string;
  /** What `aud` must name: `OAUTH_AUDIENCE`, else the resource. */
  readonly audience: string;
  readonly clockSkewSeconds: number;
  readonly client: OAuthIntrospectionClient;
  readonly metadata: IssuerMetadataCache;
  readonly fetch: IssuerFetchFunction;
  /** How long a positive answer is reused (default and maximum {@linkcode MAX_INTROSPECTION_CACHE_MS}). */
  readonly cacheMs?: number;
}

/** `application/x-www-form-urlencoded` of a client id or secret (RFC 6749 2.3.1). */
function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, "+");
}

/** Checks opaque tokens by asking the issuer. */
export class IntrospectionVerifier {
  readonly #options: IntrospectionVerifierOptions;
  readonly #cache = new Map<string, { token: VerifiedToken; until: number }>();

  /** Prepares the verifier; nothing is fetched until a token arrives. */
  constructor(options: IntrospectionVerifierOptions) {
    this.#options = options;
  }

  /** True when the issuer announces an introspection endpoint (fetching its metadata). */
  async available(): Promise<boolean> {
    try {
      return (await this.#options.metadata.get()).introspectionEndpoint !==
        undefined;
    } catch (error) {
      throw unavailable(this.#options.issuer, error);
    }
  }

  /**
   * Checks one token at the issuer (or in the short cache).
   *
   * @throws {TokenError} `invalid_token`, `insufficient_scope`, or `temporarily_unavailable` when the issuer cannot be asked
   */
  async verify(token: string): Promise<VerifiedToken> {
    const key = createHash("sha256").update(token).digest("hex");
    const now = Date.now();
    const hit = this.#cache.get(key);
    if (hit !== undefined) {
      if (hit.until > now) return hit.token;
      this.#cache.delete(key);
    }
    const claims = await this.#introspect(token);
    const verified = this.#check(claims, token);
    const cacheMs = Math.min(
      this.#options.cacheMs ?? MAX_INTROSPECTION_CACHE_MS,
      MAX_INTROSPECTION_CACHE_MS,
    );
    const until = Math.min(
      now + cacheMs,
      verified.expiresAt === undefined ? Infinity : verified.expiresAt * 1000,
    );
    if (until > now) {
      if (this.#cache.size >= MAX_CACHE_ENTRIES) {
        const oldest = this.#cache.keys().next().value;
        if (oldest !== undefined) this.#cache.delete(oldest);
      }
      this.#cache.set(key, { token: verified, until });
    }
    return verified;
  }

  async #introspect(token: string): Promise<Record<string, unknown>> {
    const { issuer, client } = this.#options;
    let metadata: IssuerMetadata;
    try {
      metadata = await this.#options.metadata.get();
    } catch (error) {
      throw unavailable(issuer, error);
    }
    const endpoint = metadata.introspectionEndpoint;
    if (endpoint === undefined) {
      throw new TokenError(
        "temporarily_unavailable",
        `The issuer ${issuer} announces no introspection_endpoint, so opaque tokens cannot be checked; set OAUTH_TOKEN_MODE=jwt if it issues JWT access tokens`,
      );
    }
    const methods = metadata.introspectionAuthMethods;
    const usePost = methods !== undefined &&
      !methods.includes("client_secret_basic") &&
      methods.includes("client_secret_post");
    const body = new URLSearchParams({
      token,
      token_type_hint: "access_token",
    });
    const headers: Record<string, string> = {
      accept: "application/json",
      "content-type": "application/x-www-form-urlencoded",
    };
    if (usePost) {
      body.set("client_id", client.clientId);
      body.set("client_secret", client.clientSecret.reveal());
    } else {
      headers.authorization = `Basic ${
        btoa(
          `${formEncode(client.clientId)}:${
            formEncode(client.clientSecret.reveal())
          }`,
        )
      }`;
    }
    let response: Response;
    try {
      response = await this.#options.fetch(endpoint, {
        method: "POST",
        headers,
        body,
      });
    } catch (error) {
      const reason = describeFetchError(error);
      log.error("oauth_introspection_unavailable", {
        issuer,
        endpoint,
        reason,
      });
      throw new TokenError(
        "temporarily_unavailable",
        `Cannot reach the introspection endpoint of issuer ${issuer} (${reason}); check that the issuer is reachable from this host (OAUTH_CA_BUNDLE for a private CA); no token is accepted meanwhile`,
      );
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      const refused = response.status === 401 || response.status === 403;
      log.error("oauth_introspection_unavailable", {
        issuer,
        endpoint,
        reason: `HTTP ${response.status}`,
      });
      throw new TokenError(
        "temporarily_unavailable",
        refused
          ? `The issuer ${issuer} refused the introspection client "${client.clientId}" (HTTP ${response.status}); check OAUTH_INTROSPECTION_CLIENT_ID and OAUTH_INTROSPECTION_CLIENT_SECRET`
          : `The introspection endpoint of issuer ${issuer} answered HTTP ${response.status}; check the authorization server`,
      );
    }
    let answer: unknown;
    try {
      answer = await response.json();
    } catch {
      answer = undefined;
    }
    if (
      typeof answer !== "object" || answer === null || Array.isArray(answer)
    ) {
      throw new TokenError(
        "temporarily_unavailable",
        `The introspection endpoint of issuer ${issuer} sent no JSON object; check the authorization server`,
      );
    }
    return answer as Record<string, unknown>;
  }

  /** Checks an introspection answer as a JWT's claims are checked. */
  #check(claims: Record<string, unknown>, token: string): VerifiedToken {
    const { issuer, audience, clockSkewSeconds } = this.#options;
    const now = Date.now() / 1000;
    const refuse = (reason: string, message: string): never => {
      log.info("oauth_token_refused", {
        issuer,
        mode: "introspection",
        reason,
      });
      throw new TokenError("invalid_token", message);
    };
    if (claims.active !== true) {
      refuse(
        "inactive",
        "The token is not active (revoked, expired or unknown to the issuer); get a new one from the identity provider",
      );
    }
    if (claims.iss !== undefined && claims.iss !== issuer) {
      refuse(
        "claim iss",
        `The token was not issued by ${issuer} (OAUTH_ISSUER); get a token from that issuer`,
      );
    }
    const aud = claims.aud;
    const audiences = typeof aud === "string"
      ? [aud]
      : Array.isArray(aud)
      ? aud.filter((a) => typeof a === "string")
      : [];
    if (!audiences.includes(audience)) {
      refuse(
        "claim aud",
        notMeantFor(this.#options),
      );
    }
    if (
      typeof claims.exp === "number" && claims.exp <= now - clockSkewSeconds
    ) {
      refuse(
        "expired",
        "The token has expired; get a new one from the identity provider",
      );
    }
    if (typeof claims.nbf === "number" && claims.nbf > now + clockSkewSeconds) {
      refuse(
        "claim nbf",
        "The token is not valid yet (nbf); check the clocks of this host and the identity provider",
      );
    }
    return verifiedTokenFromClaims(claims, token, this.#options);
  }
}
