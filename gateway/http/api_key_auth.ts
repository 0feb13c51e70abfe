/**
 * `apiKeyAuth()`: `X-API-Key` compared in constant time against every
 * configured key; a refusal writes an `auth_failure` audit line.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { createHash, timingSafeEqual } from "node:crypto";
import type { Secret } from "../../vault/secret.ts";
import { audit } from "../audit.ts";
import type { GatewayEnv } from "./gateway_env.ts";

/** Options of {@linkcode apiKeyAuth}. */
export interface ApiKeyAuthOptions {
  /** The accepted keys (`MCP_API_KEYS`). */
  keys: readonly Secret[];
}

/**
 * Refuses with 401, and an `auth_failure` audit line naming `c.var.clientIp`,
 * a request without a valid `X-API-Key`; otherwise sets `c.var.apiKeyId`.
 * Runs after `clientIp()`.
 *
 * @throws {RangeError} when no key is configured
 */
export function apiKeyAuth(
  options: ApiKeyAuthOptions,
): MiddlewareHandler<GatewayEnv> {
  const verifier = new ApiKeyVerifier(options.keys);
  return async (c, next): Promise<Response | void> => {
    const ip: string | undefined = c.get("clientIp");
    if (ip === undefined) {
      throw new TypeError(
        "apiKeyAuth() found no client address to audit; register clientIp() before it",
      );
    }
    const keyId = verifier.verify(c.req.header("x-api-key"));
    if (keyId === undefined) {
      audit("auth_failure", {
        reason: "invalid_or_missing_api_key",
        client_ip: ip,
        path: c.req.path,
      }, "warning");
      return c.json({
        error: "unauthorized",
        message:
          "Missing or invalid X-API-Key header; use a key from MCP_API_KEYS",
      }, 401);
    }
    c.set("apiKeyId", keyId);
    await next();
  };
}

/** Checks presented API keys against digests of the configured ones. */
export class ApiKeyVerifier {
  readonly #digests: Uint8Array[];

  /** Keeps only SHA-256 digests of the keys. */
  constructor(keys: readonly Secret[]) {
    if (keys.length === 0) {
      throw new RangeError("At least one API key is required");
    }
    this.#digests = keys.map((key) => digest(key.reveal()));
  }

  /**
   * Returns a short, non-secret id of the matching key (for logs), or
   * `undefined`. Every configured key is compared, whatever matches.
   */
  verify(presented: string | undefined | null): string | undefined {
    if (presented === undefined || presented === null || presented === "") {
      return undefined;
    }
    const candidate = digest(presented);
    let match: Uint8Array | undefined;
    for (const known of this.#digests) {
      if (timingSafeEqual(candidate, known)) match = known;
    }
    return match === undefined ? undefined : hex(match).slice(0, 8);
  }
}

function digest(value: string): Uint8Array {
  return new Uint8Array(
    createHash("sha256").update(`mcp-privileged/api-key\0${value}`).digest(),
  );
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
