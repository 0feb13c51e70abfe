/**
 * From the claims of a checked token (a JWT payload or an introspection
 * answer) to a {@linkcode VerifiedToken}: principal, groups, scopes, client
 * and token id, and the required-scopes check.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { TokenError, type VerifiedToken } from "./token_verifier.ts";

/** A principal name from a token: letters, digits and `._@+-`, 1 to 256. */
export const TOKEN_PRINCIPAL_PATTERN = /^[A-Za-z0-9._@+-]{1,256}$/;
/** Most groups taken from one token; the rest are ignored. */
export const MAX_TOKEN_GROUPS = 256;
/** Longest group name taken from a token. */
const MAX_GROUP_CHARS = 256;

/** Which claims name the caller, and what every token must allow. */
export interface TokenClaimOptions {
  /** `OAUTH_PRINCIPAL_CLAIM`. */
  readonly principalClaim: string;
  /** `OAUTH_GROUPS_CLAIM`. */
  readonly groupsClaim?: string;
  /** `OAUTH_REQUIRED_SCOPES`. */
  readonly requiredScopes: readonly string[];
}

/** The first 16 hex digits of a SHA-256 of the token: how logs may name it. */
export function tokenDigest(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 16);
}

/** The token's scopes: `scope` (space-separated) or `scp` (array or string). */
export function tokenScopes(claims: Record<string, unknown>): string[] {
  const words = (value: unknown): string[] =>
    typeof value === "string"
      ? value.split(" ").filter((s) => s !== "")
      : Array.isArray(value)
      ? value.filter((s): s is string => typeof s === "string" && s !== "")
      : [];
  return [...new Set([...words(claims.scope), ...words(claims.scp)])];
}

/** The groups claim's values: strings of an array, or a space-separated string. */
export function tokenGroups(
  claims: Record<string, unknown>,
  claim: string | undefined,
): string[] {
  if (claim === undefined) return [];
  const value = claims[claim];
  const values = typeof value === "string"
    ? value.split(" ")
    : Array.isArray(value)
    ? value.filter((v): v is string => typeof v === "string")
    : [];
  const groups = values.filter((g) =>
    g !== "" && g.length <= MAX_GROUP_CHARS && !/\p{Cc}/u.test(g)
  );
  return [...new Set(groups)].slice(0, MAX_TOKEN_GROUPS);
}

/**
 * Checks the required scopes and reads the caller from the claims.
 *
 * @throws {TokenError} `insufficient_scope` (naming the scopes) or `invalid_token` (a missing or malformed principal)
 */
export function verifiedTokenFromClaims(
  claims: Record<string, unknown>,
  token: string,
  options: TokenClaimOptions,
): VerifiedToken {
  const scopes = tokenScopes(claims);
  const missing = options.requiredScopes.filter((s) => !scopes.includes(s));
  if (missing.length > 0) {
    throw new TokenError(
      "insufficient_scope",
      `The token lacks the scope(s) ${
        missing.join(" ")
      }; request a token with scope "${options.requiredScopes.join(" ")}"`,
      options.requiredScopes.join(" "),
    );
  }
  const claim = options.principalClaim;
  const principal = claims[claim];
  if (principal === undefined) {
    throw new TokenError(
      "invalid_token",
      `The token has no "${claim}" claim (OAUTH_PRINCIPAL_CLAIM); configure the identity provider to include it, or set OAUTH_PRINCIPAL_CLAIM to a claim its tokens carry`,
    );
  }
  if (
    typeof principal !== "string" || !TOKEN_PRINCIPAL_PATTERN.test(principal)
  ) {
    throw new TokenError(
      "invalid_token",
      `The token's "${claim}" claim (OAUTH_PRINCIPAL_CLAIM) is not a principal name (1 to 256 letters, digits, '.', '_', '@', '+' or '-'); set OAUTH_PRINCIPAL_CLAIM to a claim that holds one`,
    );
  }
  const clientId = typeof claims.client_id === "string"
    ? claims.client_id
    : typeof claims.azp === "string"
    ? claims.azp
    : undefined;
  const jti = claims.jti;
  const tokenId = typeof jti === "string" && /^[\x21-\x7e]{1,128}$/.test(jti)
    ? jti
    : tokenDigest(token);
  return {
    principal,
    groups: tokenGroups(claims, options.groupsClaim),
    scopes,
    tokenId,
    ...(clientId === undefined || clientId.length > 256 ? {} : { clientId }),
    ...(typeof claims.exp === "number" ? { expiresAt: claims.exp } : {}),
  };
}

/**
 * The refusal text of a token whose audience does not name this service:
 * what `aud` had to name, and what to request the token for.
 */
export function notMeantFor(
  options: { readonly resource: string; readonly audience: string },
): string {
  const expected = options.audience === options.resource
    ? `${options.resource} (OAUTH_RESOURCE)`
    : `${options.audience} (OAUTH_AUDIENCE)`;
  return `The token is not meant for this service: its audience does not name ${expected}; request the token with resource=${options.resource}`;
}
