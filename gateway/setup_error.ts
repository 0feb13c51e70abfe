/**
 * A call stopped by the service's own setup rather than by its input: a file
 * named in the configuration that cannot be read now, say. The message names
 * what the operators must fix and holds no secret; it is logged as an error
 * and shown to the model, which cannot fix it but can tell its user.
 *
 * @module
 */

/** The service's setup stops this call; the message names the operators' fix. */
export class SetupError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SetupError";
  }
}
