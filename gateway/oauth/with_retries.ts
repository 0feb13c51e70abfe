/**
 * Bounded retries with exponential backoff for requests to the issuer.
 *
 * @module
 */
import { IssuerError } from "./issuer_error.ts";

/** How often and how patiently {@linkcode withRetries} tries. */
export interface RetryOptions {
  /** Attempts in all, at least 1 (default 3). */
  readonly attempts?: number;
  /** Wait before the second attempt; doubled each time (default 200 ms). */
  readonly backoffMs?: number;
}

/**
 * Runs `attempt` until it succeeds, fails with an error that is not a
 * retryable {@linkcode IssuerError}, or the attempts are used up.
 *
 * @throws the last error of `attempt`
 */
export async function withRetries<T>(
  attempt: () => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 3);
  let wait = options.backoffMs ?? 200;
  for (let i = 1;; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (
        i >= attempts || !(error instanceof IssuerError) || !error.retryable
      ) {
        throw error;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
    wait *= 2;
  }
}
