/**
 * API keys: `X-API-Key` hashed and compared in constant time against the
 * SHA-256 digest of every principal's key ({@linkcode ApiKeyVerifier}), and
 * `apiKeyAuth()`, the MCP authentication with API keys alone.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { createHash, timingSafeEqual } from "node:crypto";
import type { Secret } from "../../vault/secret.ts";
import type { RateLimit } from "../rate_limits.ts";
import type { GatewayEnv } from "./gateway_env.ts";
import { mcpAuth } from "./mcp_auth.ts";

/** A principal as the verifier needs it: a name and its key's digest. */
export interface KeyedPrincipal {
  readonly name: string;
  /** Lowercase hex SHA-256 of the key. */
  readonly sha256: Secret;
}

/** Options of {@linkcode apiKeyAuth}. */
export interface ApiKeyAuthOptions {
  /** The principals of `MCP_API_KEYS` and `MCP_API_KEYS_FILE`. */
  principals: readonly KeyedPrincipal[];
  /** Counts each refusal per client address (`authFailureLimit()` blocks). */
  failures?: RateLimit;
}

/**
 * Accepts only `X-API-Key` (`MCP_AUTH=api_key`): {@linkcode mcpAuth} with
 * API keys alone.
 *
 * @throws {RangeError} when no principal is given
 */
export function apiKeyAuth(
  options: ApiKeyAuthOptions,
): MiddlewareHandler<GatewayEnv> {
  return mcpAuth({
    apiKeys: new ApiKeyVerifier(options.principals),
    ...(options.failures === undefined ? {} : { failures: options.failures }),
  });
}

/** Checks presented API keys against the SHA-256 digests of the principals' keys. */
export class ApiKeyVerifier {
  readonly #known: { name: string; digest: Uint8Array }[];

  /**
   * Keeps each principal's name and digest.
   *
   * @throws {RangeError} when no principal is given or a digest is not 64 hex digits
   */
  constructor(principals: readonly KeyedPrincipal[]) {
    if (principals.length === 0) {
      throw new RangeError("At least one API key is required");
    }
    this.#known = principals.map((p) => ({
      name: p.name,
      digest: fromHex(p.sha256.reveal()),
    }));
  }

  /**
   * Returns the name of the principal whose key matches, or `undefined`.
   * Every digest is compared, whatever matches.
   */
  verify(presented: string | undefined | null): string | undefined {
    if (presented === undefined || presented === null || presented === "") {
      return undefined;
    }
    const candidate = new Uint8Array(
      createHash("sha256").update(presented).digest(),
    );
    let match: string | undefined;
    for (const known of this.#known) {
      if (timingSafeEqual(candidate, known.digest)) match = known.name;
    }
    return match;
  }
}

function fromHex(hex: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new RangeError(
      "An API key digest must be 64 lowercase hex digits (SHA-256)",
    );
  }
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  }
  return bytes;
}
