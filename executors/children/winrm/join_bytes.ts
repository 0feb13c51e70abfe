/**
 * Joining byte arrays, for the NTLM messages and the HTTP bodies of the
 * WinRM client.
 *
 * @module
 */

/** One array holding `parts` in order. */
export function joinBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
