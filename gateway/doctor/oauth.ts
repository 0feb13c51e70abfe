/**
 * The OAuth check: with `MCP_AUTH` oauth or both, the issuer's metadata is
 * fetched and checked (reachable, the same issuer, a `jwks_uri` for JWTs,
 * an `introspection_endpoint` for introspection), its JWKS is fetched and
 * judged (asymmetric keys, each with a `kid`), and the introspection client
 * is tried with a probe token. No token and no secret reaches a result.
 *
 * @module
 */
import type { OAuthConfig } from "../config/mod.ts";
import {
  acceptedAlgorithms,
  createIssuerFetch,
  describeFetchError,
  fetchIssuerMetadata,
  type IssuerFetchFunction,
  type IssuerMetadata,
} from "../oauth/mod.ts";
import type { CheckResult } from "./check_result.ts";
import { fail, pass, warn } from "./_verdicts.ts";

const NAME = "oauth";
const REACH_FIX =
  "check OAUTH_ISSUER, that this host reaches the identity provider, and OAUTH_CA_BUNDLE when its certificate comes from a private CA";

/** What {@linkcode checkOAuth} uses besides the configuration. */
export interface CheckOAuthOptions {
  /** Replaces the issuer fetch built from the configuration; for tests. */
  readonly fetch?: IssuerFetchFunction;
}

/** The key types that verify signatures without a shared secret. */
const ASYMMETRIC_KEY_TYPES = new Set(["RSA", "EC", "OKP"]);

/**
 * Probes the issuer as the gateway will: metadata, keys, introspection.
 * PASS names the issuer, the key count and the resource.
 */
export async function checkOAuth(
  config: OAuthConfig,
  options: CheckOAuthOptions = {},
): Promise<CheckResult> {
  const { issuer, resource } = config;
  if (
    config.mode === "api_key" || issuer === undefined || resource === undefined
  ) {
    return pass(NAME, "OAuth off (MCP_AUTH=api_key)");
  }
  const issuerFetch = options.fetch === undefined
    ? createIssuerFetch(
      config.caPem === undefined ? {} : { caPem: config.caPem },
    )
    : { fetch: options.fetch, close: () => {} };
  try {
    let metadata: IssuerMetadata;
    try {
      metadata = await fetchIssuerMetadata(issuer, {
        fetch: issuerFetch.fetch,
        attempts: 2,
      });
    } catch (error) {
      return fail(NAME, (error as Error).message, REACH_FIX);
    }
    const findings: string[] = [];
    let keySummary = "no JWKS (introspection only)";
    if (config.tokenMode !== "introspection") {
      if (metadata.jwksUri === undefined) {
        return fail(
          NAME,
          `issuer ${issuer} announces no jwks_uri in ${metadata.source}, so JWT access tokens cannot be checked`,
          "set OAUTH_TOKEN_MODE=introspection if the identity provider issues opaque tokens, or fix its metadata",
        );
      }
      const keys = await judgeJwks(metadata.jwksUri, issuerFetch.fetch);
      if ("failure" in keys) return keys.failure;
      const algorithms = acceptedAlgorithms(metadata);
      keySummary = `${keys.count} signing key(s) (${
        keys.algs.join(", ") || "alg not stated"
      }); algorithms accepted: ${algorithms.join(", ")}`;
      if (keys.withoutKid > 0) {
        findings.push(
          `${keys.withoutKid} key(s) of ${metadata.jwksUri} have no kid: a rotation cannot be told from a forgery by key id`,
        );
      }
    }
    if (config.tokenMode !== "jwt") {
      const endpoint = metadata.introspectionEndpoint;
      if (endpoint === undefined) {
        if (config.tokenMode === "introspection") {
          return fail(
            NAME,
            `issuer ${issuer} announces no introspection_endpoint in ${metadata.source}`,
            "set OAUTH_TOKEN_MODE=jwt if the identity provider issues JWT access tokens, or enable introspection there",
          );
        }
        findings.push(
          `issuer ${issuer} announces no introspection_endpoint: opaque tokens are refused`,
        );
      } else if (config.introspection !== undefined) {
        const problem = await probeIntrospection(
          endpoint,
          config,
          issuerFetch.fetch,
        );
        if (problem !== undefined) return problem;
      }
    }
    const detail =
      `issuer ${issuer} (${config.tokenMode} mode): ${keySummary}; tokens must name ${resource}`;
    if (findings.length > 0) {
      return warn(
        NAME,
        `${detail}; ${findings.join("; ")}`,
        "give every signing key a kid, and enable introspection at the identity provider if it issues opaque tokens",
      );
    }
    return pass(NAME, detail);
  } finally {
    issuerFetch.close();
  }
}

/** The JWKS's usable keys, or the failed check. */
async function judgeJwks(
  uri: string,
  fetch: IssuerFetchFunction,
): Promise<
  { count: number; algs: string[]; withoutKid: number } | {
    failure: CheckResult;
  }
> {
  let body: unknown;
  try {
    const response = await fetch(uri, {
      headers: { accept: "application/json" },
    });
    if (response.status !== 200) {
      await response.body?.cancel();
      return {
        failure: fail(
          NAME,
          `the JWKS ${uri} answered HTTP ${response.status}`,
          REACH_FIX,
        ),
      };
    }
    body = await response.json();
  } catch (error) {
    return {
      failure: fail(
        NAME,
        `cannot fetch the JWKS ${uri} (${describeFetchError(error)})`,
        REACH_FIX,
      ),
    };
  }
  const keys = typeof body === "object" && body !== null &&
      Array.isArray((body as { keys?: unknown }).keys)
    ? (body as { keys: unknown[] }).keys.filter((
      k,
    ): k is Record<string, unknown> => typeof k === "object" && k !== null)
    : undefined;
  if (keys === undefined || keys.length === 0) {
    return {
      failure: fail(
        NAME,
        `the JWKS ${uri} holds no key`,
        "publish the identity provider's signing keys (check its key configuration)",
      ),
    };
  }
  const usable = keys.filter((k) =>
    ASYMMETRIC_KEY_TYPES.has(String(k.kty)) &&
    (k.use === undefined || k.use === "sig")
  );
  if (usable.length === 0) {
    return {
      failure: fail(
        NAME,
        `the JWKS ${uri} holds only symmetric or encryption keys (${
          [...new Set(keys.map((k) => String(k.kty)))].join(", ")
        }); the gateway accepts only asymmetric signatures`,
        "configure the identity provider to sign access tokens with RS256, PS256, ES256 or EdDSA",
      ),
    };
  }
  const algs = [
    ...new Set(usable.flatMap((k) => typeof k.alg === "string" ? [k.alg] : [])),
  ];
  return {
    count: usable.length,
    algs,
    withoutKid: usable.filter((k) => typeof k.kid !== "string").length,
  };
}

/** Tries the introspection client with a token that cannot be active. */
async function probeIntrospection(
  endpoint: string,
  config: OAuthConfig,
  fetch: IssuerFetchFunction,
): Promise<CheckResult | undefined> {
  const client = config.introspection!;
  const credentials = btoa(
    `${encodeURIComponent(client.clientId)}:${
      encodeURIComponent(client.clientSecret.reveal())
    }`,
  );
  try {
    const response = await fetch(endpoint, {
      method: "POST",
      headers: {
        accept: "application/json",
        authorization: `Basic ${credentials}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams({ token: "mcp-privileged-doctor-probe" }),
    });
    await response.body?.cancel();
    if (response.status === 401 || response.status === 403) {
      return fail(
        NAME,
        `the introspection endpoint ${endpoint} refused the client "${client.clientId}" (HTTP ${response.status})`,
        "check OAUTH_INTROSPECTION_CLIENT_ID and OAUTH_INTROSPECTION_CLIENT_SECRET",
      );
    }
    if (response.status !== 200) {
      return fail(
        NAME,
        `the introspection endpoint ${endpoint} answered HTTP ${response.status}`,
        REACH_FIX,
      );
    }
  } catch (error) {
    return fail(
      NAME,
      `cannot reach the introspection endpoint ${endpoint} (${
        describeFetchError(error)
      })`,
      REACH_FIX,
    );
  }
  return undefined;
}
