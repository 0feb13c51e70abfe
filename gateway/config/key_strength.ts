/**
 * What can be said about an API key's strength without showing it, measured
 * once at load so that no plaintext key outlives configuration loading.
 *
 * @module
 */

/** What can be said about a key's strength without showing it. */
export interface KeyStrength {
  readonly length: number;
  /** Distinct characters. */
  readonly distinct: number;
  /** Length times log2 of the alphabet its characters come from. */
  readonly bits: number;
  /** Share of the key taken by its most frequent character. */
  readonly topShare: number;
  /** True when the key is a shorter string repeated. */
  readonly repeats: boolean;
}

/** Measures a key; only numbers leave this function. */
export function keyStrength(key: string): KeyStrength {
  const counts = new Map<string, number>();
  for (const char of key) counts.set(char, (counts.get(char) ?? 0) + 1);
  const alphabet = /^[0-9a-f]+$/.test(key) || /^[0-9A-F]+$/.test(key)
    ? 16
    : (/[a-z]/.test(key) ? 26 : 0) + (/[A-Z]/.test(key) ? 26 : 0) +
      (/[0-9]/.test(key) ? 10 : 0) + (/[^a-zA-Z0-9]/.test(key) ? 32 : 0);
  let repeats = false;
  for (let period = 1; period <= key.length / 2 && !repeats; period++) {
    if (key.length % period !== 0) continue;
    repeats = key.slice(0, period).repeat(key.length / period) === key;
  }
  return {
    length: key.length,
    distinct: counts.size,
    bits: Math.floor(key.length * Math.log2(Math.max(alphabet, 1))),
    topShare: key.length === 0 ? 1 : Math.max(...counts.values()) / key.length,
    repeats,
  };
}
