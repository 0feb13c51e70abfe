/**
 * API key checks for `/mcp/*`: `X-API-Key` compared in constant time against
 * every configured key.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Secret } from "../vault/secret.ts";

/** Checks presented API keys. */
export class ApiKeyAuth {
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
