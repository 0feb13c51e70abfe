/**
 * Which JWS algorithms an access token may be signed with.
 *
 * Only asymmetric algorithms, ever: a resource server holds no shared
 * secret with the issuer, and an HS* token "signed" with the issuer's public
 * key is the classic forgery. Within those, the issuer's own announcement
 * limits the set where it makes one. No metadata field announces the
 * algorithms of access tokens (`token_endpoint_auth_signing_alg_values_supported`
 * is about client authentication), so the limit is
 * `id_token_signing_alg_values_supported` (Entra ID, Okta, Keycloak and
 * oidc-provider sign access and ID tokens with the same keys), and, per
 * key, the JWKS key's own `alg`, which jose enforces when it picks the key.
 * An issuer that announces nothing asymmetric there (plain OAuth metadata)
 * is limited by key type and `alg` alone.
 *
 * @module
 */
import type { IssuerMetadata } from "./issuer_metadata.ts";

/** Every asymmetric JWS algorithm accepted when the issuer does not narrow them. */
export const ASYMMETRIC_ALGORITHMS: readonly string[] = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
];

/** True for `none` and the HMAC algorithms, refused before any key is looked at. */
export function isForbiddenAlgorithm(alg: unknown): boolean {
  return typeof alg !== "string" || alg.toLowerCase() === "none" ||
    /^HS\d+$/i.test(alg);
}

/**
 * The algorithms tokens of this issuer may use: the asymmetric ones the
 * issuer announces in `id_token_signing_alg_values_supported`, or all
 * asymmetric ones when it announces none of them.
 */
export function acceptedAlgorithms(
  metadata: Pick<IssuerMetadata, "idTokenSigningAlgs">,
): string[] {
  const announced = (metadata.idTokenSigningAlgs ?? []).filter((alg) =>
    ASYMMETRIC_ALGORITHMS.includes(alg)
  );
  return announced.length > 0 ? announced : [...ASYMMETRIC_ALGORITHMS];
}
