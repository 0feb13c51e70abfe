/**
 * What the command-line tasks of `scripts/` share: their one place to
 * print (stdout for results, stderr for problems) and the usage error each
 * answers with its usage text and exit code 2.
 *
 * @module
 */

/** Prints a result line on stdout. */
// deno-lint-ignore no-console
export const say: (...data: unknown[]) => void = console.log;

/** Prints a problem on stderr. */
// deno-lint-ignore no-console
export const complain: (...data: unknown[]) => void = console.error;

/** A usage error: the problem, then the usage. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
