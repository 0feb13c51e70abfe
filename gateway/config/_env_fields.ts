/**
 * Zod field builders for environment values: each turns one variable's text
 * into a typed value, or into one issue whose message names the fix.
 *
 * @module
 */
import { z } from "zod";

const BOOLEAN_WORDS: ReadonlyMap<string, boolean> = new Map([
  ["true", true],
  ["false", false],
  ["1", true],
  ["0", false],
  ["yes", true],
  ["no", false],
]);

/** Reads true/false, 1/0 or yes/no in any case; `undefined` for other text. */
export function booleanWord(text: string): boolean | undefined {
  return BOOLEAN_WORDS.get(text.trim().toLowerCase());
}

/** The range and default of a {@linkcode wholeNumber}. */
export interface WholeNumberOptions {
  readonly min: number;
  readonly max: number;
  /** The value when the variable is unset or empty. */
  readonly fallback: number;
}

/** A whole number of `unit` in a range, with a message that names the fix. */
export function wholeNumber(
  unit: string,
  options: WholeNumberOptions,
): z.ZodType<number, string | undefined> {
  const { min, max, fallback } = options;
  return z.string().optional().transform((raw, ctx) => {
    if (raw === undefined || raw.trim() === "") return fallback;
    const text = raw.trim();
    const value = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      ctx.addIssue({
        code: "custom",
        message:
          `is "${text}", not a whole number of ${unit} from ${min} to ${max}; set it in that range (default ${fallback})`,
      });
      return z.NEVER;
    }
    return value;
  });
}

/** A boolean written as true/false, 1/0 or yes/no. */
export function flag(
  fallback: boolean,
): z.ZodType<boolean, string | undefined> {
  return z.string().optional().transform((raw, ctx) => {
    if (raw === undefined || raw.trim() === "") return fallback;
    const value = booleanWord(raw);
    if (value === undefined) {
      ctx.addIssue({
        code: "custom",
        message: `is "${raw}"; set it to true or false (default ${fallback})`,
      });
      return z.NEVER;
    }
    return value;
  });
}

/** One word of a fixed list, in any case. */
export function oneOf<const T extends string>(
  values: readonly T[],
  fallback: NoInfer<T>,
): z.ZodType<T, string | undefined> {
  return z.string().optional().transform((raw, ctx): T => {
    if (raw === undefined || raw.trim() === "") return fallback;
    const value = raw.trim().toLowerCase() as T;
    if (!values.includes(value)) {
      ctx.addIssue({
        code: "custom",
        message: `is "${raw}"; set it to one of ${
          values.join(", ")
        } (default ${fallback})`,
      });
      return z.NEVER;
    }
    return value;
  });
}

/** A comma-separated list; blanks around commas and empty items are dropped. */
export function commaList(): z.ZodType<string[], string | undefined> {
  return z.string().optional().transform((raw) =>
    raw === undefined || raw.trim() === ""
      ? []
      : raw.split(",").map((s) => s.trim()).filter((s) => s !== "")
  );
}

/** A comma-separated list of host names, lower-cased; `fallback` when empty. */
export function hostList(
  fallback: readonly string[],
): z.ZodType<string[], string | undefined> {
  return commaList().transform((values) =>
    values.length === 0 ? [...fallback] : values.map((v) => v.toLowerCase())
  );
}
