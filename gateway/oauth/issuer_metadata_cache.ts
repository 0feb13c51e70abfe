/**
 * The issuer's metadata, fetched lazily (an issuer down at start-up does not
 * stop the service), kept for a refresh period, and kept past it while the
 * issuer cannot be reached. While there is no metadata at all, a failed
 * discovery is retried at most once per `retryAfterMs`; an outage is logged
 * once, as an error, and its end once.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { IssuerError } from "./issuer_error.ts";
import type { IssuerFetchFunction } from "./issuer_fetch.ts";
import { fetchIssuerMetadata, type IssuerMetadata } from "./issuer_metadata.ts";
import type { RetryOptions } from "./with_retries.ts";

const log = getLogger(["gateway", "oauth"]);

/** Default time metadata is used before it is fetched again (1 hour). */
export const DEFAULT_METADATA_REFRESH_MS = 3_600_000;
/** Default pause after a failed discovery before the next one (5 s). */
export const DEFAULT_METADATA_RETRY_AFTER_MS = 5000;

/** How {@linkcode IssuerMetadataCache} fetches and keeps the metadata. */
export interface IssuerMetadataCacheOptions {
  readonly fetch: IssuerFetchFunction;
  /** Refresh period (default {@linkcode DEFAULT_METADATA_REFRESH_MS}). */
  readonly refreshMs?: number;
  /** Pause after a failure (default {@linkcode DEFAULT_METADATA_RETRY_AFTER_MS}). */
  readonly retryAfterMs?: number;
  /** Retries within one discovery. */
  readonly retry?: RetryOptions;
}

/** The issuer's metadata, discovered on first use and refreshed. */
export class IssuerMetadataCache {
  readonly #issuer: string;
  readonly #options: IssuerMetadataCacheOptions;
  #metadata: IssuerMetadata | undefined;
  #fetchedAt = 0;
  #failedAt = 0;
  #lastError: IssuerError | undefined;
  #pending: Promise<IssuerMetadata> | undefined;
  #outage = false;

  /** Prepares the cache; nothing is fetched until {@linkcode get}. */
  constructor(issuer: string, options: IssuerMetadataCacheOptions) {
    this.#issuer = issuer;
    this.#options = options;
  }

  /**
   * The metadata: cached, refreshed when older than the refresh period
   * (the old copy is kept when the refresh fails).
   *
   * @throws {IssuerError} when the issuer has never answered usable metadata
   */
  async get(): Promise<IssuerMetadata> {
    const now = Date.now();
    const refreshMs = this.#options.refreshMs ?? DEFAULT_METADATA_REFRESH_MS;
    const retryAfterMs = this.#options.retryAfterMs ??
      DEFAULT_METADATA_RETRY_AFTER_MS;
    const cached = this.#metadata;
    if (cached !== undefined && now - this.#fetchedAt < refreshMs) {
      return cached;
    }
    if (this.#lastError !== undefined && now - this.#failedAt < retryAfterMs) {
      if (cached !== undefined) return cached;
      throw this.#lastError;
    }
    if (cached !== undefined) {
      // Refresh in the background; the current copy serves meanwhile.
      this.#discover().catch(() => {});
      return cached;
    }
    return await this.#discover();
  }

  /** Forgets the pause after a failure, so that the next {@linkcode get} fetches. */
  invalidate(): void {
    this.#failedAt = 0;
    this.#fetchedAt = 0;
  }

  #discover(): Promise<IssuerMetadata> {
    this.#pending ??= this.#fetch().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #fetch(): Promise<IssuerMetadata> {
    try {
      const metadata = await fetchIssuerMetadata(this.#issuer, {
        fetch: this.#options.fetch,
        ...this.#options.retry,
      });
      this.#metadata = metadata;
      this.#fetchedAt = Date.now();
      this.#lastError = undefined;
      if (this.#outage) {
        this.#outage = false;
        log.info("oauth_issuer_reachable", {
          issuer: this.#issuer,
          metadata: metadata.source,
        });
      }
      return metadata;
    } catch (error) {
      const issuerError = error instanceof IssuerError
        ? error
        : new IssuerError(
          this.#issuer,
          `Cannot discover the metadata of issuer ${this.#issuer}; check OAUTH_ISSUER`,
          { retryable: true, cause: error },
        );
      this.#lastError = issuerError;
      this.#failedAt = Date.now();
      if (!this.#outage) {
        this.#outage = true;
        log.error("oauth_issuer_unreachable", {
          issuer: this.#issuer,
          reason: issuerError.message,
          stale_metadata_in_use: this.#metadata !== undefined,
        });
      }
      throw issuerError;
    }
  }
}
