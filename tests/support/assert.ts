/**
 * Small assertion helpers for Deno.test (the std assert module lives on JSR,
 * which this project does not use).
 *
 * @module
 */
import { isDeepStrictEqual } from "node:util";

/** A failed assertion. */
export class AssertionError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

function show(value: unknown): string {
  return Deno.inspect(value, {
    depth: 6,
    colors: false,
    strAbbreviateSize: 400,
  });
}

/** Asserts that `condition` is truthy. */
export function assert(
  condition: unknown,
  message = "Expected a truthy value",
): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Asserts deep equality. */
export function assertEquals<T>(
  actual: T,
  expected: T,
  message?: string,
): void {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new AssertionError(
      `${message ?? "Values differ"}:\n  actual:   ${
        show(actual)
      }\n  expected: ${show(expected)}`,
    );
  }
}

/** Asserts deep inequality. */
export function assertNotEquals<T>(
  actual: T,
  expected: T,
  message?: string,
): void {
  if (isDeepStrictEqual(actual, expected)) {
    throw new AssertionError(
      `${message ?? "Values are equal"}: ${show(actual)}`,
    );
  }
}

/** Asserts that `text` matches `pattern`. */
export function assertMatch(
  text: string,
  pattern: RegExp,
  message?: string,
): void {
  if (!pattern.test(text)) {
    throw new AssertionError(
      `${message ?? "No match"}: ${show(text)} !~ ${pattern}`,
    );
  }
}

/** Asserts that `text` contains `part`. */
export function assertStringIncludes(
  text: string,
  part: string,
  message?: string,
): void {
  if (!text.includes(part)) {
    throw new AssertionError(
      `${message ?? "Missing text"}: ${show(part)} not in ${show(text)}`,
    );
  }
}

type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

function checkError<E extends Error>(
  error: unknown,
  errorClass?: ErrorClass<E>,
  includes?: string,
): E {
  if (errorClass !== undefined && !(error instanceof errorClass)) {
    throw new AssertionError(`Expected ${errorClass.name}, got ${show(error)}`);
  }
  if (
    includes !== undefined &&
    !(error instanceof Error && error.message.includes(includes))
  ) {
    throw new AssertionError(
      `Expected the error message to include ${show(includes)}, got ${
        show(error instanceof Error ? error.message : error)
      }`,
    );
  }
  return error as E;
}

/** Asserts that `fn` throws, and returns the error. */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  errorClass?: ErrorClass<E>,
  includes?: string,
): E {
  try {
    fn();
  } catch (error) {
    return checkError(error, errorClass, includes);
  }
  throw new AssertionError("Expected the function to throw");
}

/** Asserts that `fn` rejects, and returns the error. */
export async function assertRejects<E extends Error = Error>(
  fn: () => Promise<unknown>,
  errorClass?: ErrorClass<E>,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    return checkError(error, errorClass, includes);
  }
  throw new AssertionError("Expected the promise to reject");
}
