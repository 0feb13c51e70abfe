/**
 * The MCP endpoints as an OAuth 2.1 resource server: bearer tokens of
 * `OAUTH_ISSUER` checked as JWTs (jose, against the issuer's JWKS) or by
 * RFC 7662 introspection. `gateway/http/` authenticates with
 * `createTokenVerifier(config.oauth).verify(token)`; `doctor` probes the
 * issuer with {@linkcode fetchIssuerMetadata}.
 *
 * @module
 */
export {
  TokenError,
  type TokenErrorCode,
  type TokenVerifier,
  type VerifiedToken,
} from "./token_verifier.ts";
export {
  createTokenVerifier,
  type TokenVerifierOptions,
} from "./create_token_verifier.ts";
export { IssuerError } from "./issuer_error.ts";
export {
  createIssuerFetch,
  DEFAULT_ISSUER_TIMEOUT_MS,
  type IssuerFetch,
  type IssuerFetchFunction,
  type IssuerFetchOptions,
} from "./issuer_fetch.ts";
export {
  describeFetchError,
  fetchIssuerMetadata,
  type FetchIssuerMetadataOptions,
  type IssuerMetadata,
  metadataUrls,
} from "./issuer_metadata.ts";
export {
  IssuerMetadataCache,
  type IssuerMetadataCacheOptions,
} from "./issuer_metadata_cache.ts";
export {
  acceptedAlgorithms,
  ASYMMETRIC_ALGORITHMS,
  isForbiddenAlgorithm,
} from "./signing_algorithms.ts";
export {
  MAX_TOKEN_GROUPS,
  TOKEN_PRINCIPAL_PATTERN,
  tokenDigest,
  tokenGroups,
  tokenScopes,
} from "./token_claims.ts";
export { looksLikeJwt } from "./jwt_verifier.ts";
