/**
 * The contract between the MCP endpoints' authentication (gateway/http/)
 * and OAuth token validation (this folder): a bearer token goes in, a
 * verified caller or a {@linkcode TokenError} comes out. How tokens are
 * checked (JWT against the issuer's JWKS, or RFC 7662 introspection) lives
 * behind it.
 *
 * @module
 */

/** A bearer token that passed every check. */
export interface VerifiedToken {
  /** The principal name: the `OAUTH_PRINCIPAL_CLAIM` claim (default `sub`). */
  readonly principal: string;
  /** The `OAUTH_GROUPS_CLAIM` claim's values (policy `group:NAME`); empty without one. */
  readonly groups: readonly string[];
  /** The token's scopes. */
  readonly scopes: readonly string[];
  /** The OAuth client the token was issued to (`client_id` / `azp`), when the token says. */
  readonly clientId?: string;
  /**
   * What audit lines call the token: its `jti`, or else the first 16 hex
   * digits of a SHA-256 of the token; never the token.
   */
  readonly tokenId: string;
  /** Epoch seconds after which the token is no longer valid, when known. */
  readonly expiresAt?: number;
}

/** Why a token was refused, as RFC 6750 names it. */
export type TokenErrorCode =
  | "invalid_token"
  | "insufficient_scope"
  /** The issuer (metadata, JWKS or introspection) cannot be reached: 503, nothing accepted. */
  | "temporarily_unavailable";

/** A refused token; the message is safe to show and log (it never holds the token). */
export class TokenError extends Error {
  readonly code: TokenErrorCode;
  /** For `insufficient_scope`: the scopes the request needs. */
  readonly scope?: string;

  /** Creates the error. */
  constructor(code: TokenErrorCode, message: string, scope?: string) {
    super(message);
    this.name = "TokenError";
    this.code = code;
    if (scope !== undefined) this.scope = scope;
  }
}

/** Validates bearer tokens for this resource server. */
export interface TokenVerifier {
  /** `OAUTH_ISSUER`. */
  readonly issuer: string;
  /** `OAUTH_RESOURCE`: the audience tokens must name. */
  readonly resource: string;
  /** `OAUTH_REQUIRED_SCOPES`. */
  readonly requiredScopes: readonly string[];
  /**
   * Checks one token.
   *
   * @throws {TokenError} for any token that cannot be accepted
   */
  verify(token: string): Promise<VerifiedToken>;
  /** Stops timers and connections. */
  close(): Promise<void>;
}
