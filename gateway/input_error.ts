/**
 * Bad input from the caller: the one kind of error a tool shows the model as
 * it is, because the message names the argument and the fix. Any other
 * exception in a tool is a bug, logged with a reference id.
 *
 * @module
 */

/** A tool argument the service refuses; the message names it and the fix. */
export class InputError extends Error {
  /** Creates the error; `options.cause` keeps the validator's own error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InputError";
  }
}

/**
 * Runs a validator of caller input from a lower layer (the vault, the
 * spawner), which reports bad input as a `TypeError` or `RangeError`, and
 * turns that into an {@linkcode InputError}. Call it only around input
 * checks: elsewhere those built-in errors mean a bug.
 *
 * @throws {InputError} when the validator refuses the input
 */
export function validateInput<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) {
      throw new InputError(error.message, { cause: error });
    }
    throw error;
  }
}
