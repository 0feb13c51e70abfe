/**
 * The error of talking to the issuer: its metadata, JWKS or introspection
 * endpoint could not be reached or answered something unusable.
 *
 * @module
 */

/** Why the issuer could not be used; `retryable` when another try may help. */
export class IssuerError extends Error {
  /** The issuer (`OAUTH_ISSUER`) whose endpoint failed. */
  readonly issuer: string;
  /** A network failure, timeout or 5xx: worth retrying. */
  readonly retryable: boolean;

  /** Creates the error; `message` names the issuer and the fix, never a token. */
  constructor(
    issuer: string,
    message: string,
    options: { retryable: boolean; cause?: unknown },
  ) {
    super(
      message,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "IssuerError";
    this.issuer = issuer;
    this.retryable = options.retryable;
  }
}
