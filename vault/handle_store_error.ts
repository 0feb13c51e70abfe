/**
 * Failures of a shared handle store (Redis), as opposed to refusals of a
 * handle ({@linkcode HandleError} in `handle_vault.ts`).
 *
 * @module
 */

/** Why the store failed: it could not be reached, or an entry failed its integrity check. */
export type HandleStoreFailure = "unavailable" | "integrity";

/**
 * The handle store could not do its job. The message names the fix and never
 * contains a secret, a handle, a key or the store's password.
 */
export class HandleStoreError extends Error {
  /** What went wrong, for the operator's log line. */
  readonly reason: HandleStoreFailure;

  /** Creates the error; `message` must already name the fix. */
  constructor(
    reason: HandleStoreFailure,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(
      message,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "HandleStoreError";
    this.reason = reason;
  }
}
