/**
 * Capping text at a byte limit with a visible notice.
 *
 * Has no imports, so both the parent and an executor child may use it.
 *
 * @module
 */

/** Default cap on one output stream of an operation (1 MiB). */
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;

/** The line appended where text was cut, e.g. `[output truncated at 1048576 bytes]`. */
export function truncationNotice(maxBytes: number): string {
  return `[output truncated at ${maxBytes} bytes]`;
}

/** Text after capping, and whether anything was cut. */
export interface CappedText {
  /** The text, at most `maxBytes` UTF-8 bytes plus the notice. */
  readonly text: string;
  /** True when the text was cut and the notice appended. */
  readonly truncated: boolean;
}

/**
 * Cuts text to at most `maxBytes` UTF-8 bytes, on a character boundary, and
 * appends a newline and {@linkcode truncationNotice} when it cut anything.
 *
 * @throws {RangeError} when `maxBytes` is not a positive integer
 */
export function capText(text: string, maxBytes: number): CappedText {
  if (!Number.isInteger(maxBytes) || maxBytes < 1) {
    throw new RangeError(
      `Cannot cap output at ${maxBytes} bytes: use a positive integer`,
    );
  }
  // A UTF-16 code unit never takes more than 3 UTF-8 bytes.
  if (text.length * 3 <= maxBytes) return { text, truncated: false };
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= maxBytes) return { text, truncated: false };
  let cut = maxBytes;
  // Step back over continuation bytes so no character is split.
  while (cut > 0 && ((bytes[cut] ?? 0) & 0xc0) === 0x80) cut--;
  const head = new TextDecoder().decode(bytes.subarray(0, cut));
  return { text: `${head}\n${truncationNotice(maxBytes)}`, truncated: true };
}
