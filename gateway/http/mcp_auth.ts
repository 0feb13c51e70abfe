/**
 * `mcpAuth()`: who is calling an MCP endpoint. An `X-API-Key` is checked
 * against the principals' key digests ({@linkcode ApiKeyVerifier}); an
 * `Authorization: Bearer` token against the identity provider
 * ({@linkcode TokenVerifier}), as `MCP_AUTH` allows. A refusal writes an
 * `auth_failure` audit line; with OAuth on it carries the RFC 6750 / RFC
 * 9728 `WWW-Authenticate` header that lets an MCP client (Claude Code)
 * discover where to sign in. A token is never logged or passed on.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { audit } from "../audit.ts";
import {
  TokenError,
  type TokenVerifier,
  type VerifiedToken,
} from "../oauth/token_verifier.ts";
import type { RateLimit } from "../rate_limits.ts";
import type { ApiKeyVerifier } from "./api_key_auth.ts";
import type { GatewayEnv } from "./gateway_env.ts";

/** Options of {@linkcode mcpAuth}. */
export interface McpAuthOptions {
  /** API keys, when `MCP_AUTH` accepts them. */
  apiKeys?: ApiKeyVerifier;
  /** Bearer tokens, when `MCP_AUTH` accepts them. */
  oauth?: {
    verifier: TokenVerifier;
    /** The protected-resource metadata URL that 401s point to (RFC 9728). */
    resourceMetadataUrl: string;
  };
  /** Counts each refused credential per client address (`authFailureLimit()` blocks). */
  failures?: RateLimit;
}

const API_KEY_ONLY_TEXT =
  "Missing or invalid X-API-Key header; use a key from MCP_API_KEYS";
const RETRY_AFTER_SECONDS = 30;

/**
 * Authenticates each request and sets `principal`, or answers 401 (no or a
 * wrong credential), 403 (a token without a required scope) or 503 (the
 * identity provider cannot be reached: nothing is accepted unverified).
 *
 * @throws {RangeError} when neither API keys nor OAuth are given
 */
export function mcpAuth(
  options: McpAuthOptions,
): MiddlewareHandler<GatewayEnv> {
  const { apiKeys, oauth } = options;
  if (apiKeys === undefined && oauth === undefined) {
    throw new RangeError("mcpAuth() needs API keys, OAuth, or both");
  }
  return async (c, next): Promise<Response | void> => {
    const ip: string | undefined = c.get("clientIp");
    if (ip === undefined) {
      throw new TypeError(
        "mcpAuth() found no client address to audit; register clientIp() before it",
      );
    }
    const bearer = bearerToken(c.req.header("authorization"));
    const key = c.req.header("x-api-key");
    if (oauth !== undefined && bearer !== undefined) {
      let token: VerifiedToken;
      try {
        token = await oauth.verifier.verify(bearer);
      } catch (error) {
        if (!(error instanceof TokenError)) throw error;
        return await refuseToken(c, {
          ip,
          error,
          metadataUrl: oauth.resourceMetadataUrl,
          ...(options.failures === undefined
            ? {}
            : { failures: options.failures }),
        });
      }
      c.set("principal", {
        name: token.principal,
        auth: "oauth",
        groups: token.groups,
        tokenId: token.tokenId,
        ...(token.clientId === undefined ? {} : { clientId: token.clientId }),
      });
      return await next();
    }
    if (apiKeys !== undefined) {
      const name = apiKeys.verify(key);
      if (name !== undefined) {
        c.set("principal", { name, auth: "api_key" });
        return await next();
      }
    }
    // Nothing acceptable. A request with no credential at all is how an
    // OAuth client starts discovery: it is not counted as a guess then.
    const presented = key !== undefined || bearer !== undefined ||
      c.req.header("authorization") !== undefined;
    audit("auth_failure", {
      reason: apiKeys !== undefined && oauth === undefined
        ? "invalid_or_missing_api_key"
        : presented
        ? "invalid_credentials"
        : "missing_credentials",
      client_ip: ip,
      path: c.req.path,
    }, "warning");
    if (presented || oauth === undefined) await options.failures?.count(ip);
    if (oauth === undefined) {
      return c.json({ error: "unauthorized", message: API_KEY_ONLY_TEXT }, 401);
    }
    c.header(
      "WWW-Authenticate",
      challenge(
        oauth.resourceMetadataUrl,
        presented ? "invalid_token" : undefined,
      ),
    );
    return c.json({
      error: "unauthorized",
      message: apiKeys === undefined
        ? "Sign in through the identity provider and send Authorization: Bearer <token> (MCP clients find the provider from this 401)"
        : "Sign in through the identity provider and send Authorization: Bearer <token>, or send X-API-Key with a key from MCP_API_KEYS",
    }, 401);
  };
}

/** What {@linkcode refuseToken} answers about. */
interface TokenRefusal {
  readonly ip: string;
  readonly error: TokenError;
  readonly metadataUrl: string;
  readonly failures?: RateLimit;
}

/** 401, 403 or 503 for a refused token, with its audit line. */
async function refuseToken(
  c: Context<GatewayEnv>,
  refusal: TokenRefusal,
): Promise<Response> {
  const { ip, error, metadataUrl } = refusal;
  if (error.code === "temporarily_unavailable") {
    // The issuer is down: nothing can be verified, so nothing is accepted.
    c.header("Retry-After", String(RETRY_AFTER_SECONDS));
    return c.json(
      { error: "temporarily_unavailable", message: error.message },
      503,
    );
  }
  audit("auth_failure", {
    reason: error.code,
    client_ip: ip,
    path: c.req.path,
    detail: error.message,
  }, "warning");
  c.header(
    "WWW-Authenticate",
    challenge(metadataUrl, error.code, error.message, error.scope),
  );
  if (error.code === "insufficient_scope") {
    return c.json({ error: error.code, message: error.message }, 403);
  }
  await refusal.failures?.count(ip);
  return c.json({ error: error.code, message: error.message }, 401);
}

/** The token of an `Authorization: Bearer` header, or undefined. */
function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header ?? "");
  return match?.[1];
}

/**
 * `Bearer resource_metadata="...", error="...", ...` (RFC 6750 section 3,
 * RFC 9728 section 5.1); quoted values are kept to printable ASCII without
 * quotes or backslashes.
 */
export function challenge(
  metadataUrl: string,
  error?: string,
  description?: string,
  scope?: string,
): string {
  const quoted = (value: string): string =>
    `"${value.replace(/[^\x20-\x7e]|["\\]/g, "").slice(0, 300)}"`;
  return [
    `Bearer resource_metadata=${quoted(metadataUrl)}`,
    ...(error === undefined ? [] : [`error=${quoted(error)}`]),
    ...(description === undefined
      ? []
      : [`error_description=${quoted(description)}`]),
    ...(scope === undefined ? [] : [`scope=${quoted(scope)}`]),
  ].join(", ");
}
