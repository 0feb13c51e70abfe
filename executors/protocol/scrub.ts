/**
 * Redacting secrets from text an executor produced before it reaches the
 * model or a log.
 *
 * A child may echo its credential: a command that prints a file holding the
 * password, a driver error that quotes the connection string. The parent
 * scrubs every string of the response and the child's stderr with the
 * plaintext it sent, in these forms: raw, JSON-escaped, percent-encoded
 * (`encodeURIComponent`), and base64 / base64url at each of the three byte
 * alignments; for a multi-line secret (a private key) also each line of at
 * least {@linkcode MIN_KEY_LINE_LENGTH} characters.
 *
 * Secrets shorter than {@linkcode MIN_SCRUB_LENGTH} characters are not
 * scrubbed: redacting every `a` or `12` would destroy the output while hiding
 * nothing a guesser could not try anyway. Callers should warn about such
 * credentials instead.
 *
 * @module
 */

/** What replaces each occurrence of a secret. */
export const REDACTED = "[REDACTED]";

/** Shortest secret that is scrubbed (characters). */
export const MIN_SCRUB_LENGTH = 4;

/** Shortest line of a multi-line secret that is scrubbed on its own. */
export const MIN_KEY_LINE_LENGTH = 16;

// A base64 fragment shorter than this matches ordinary text too often.
const MIN_BASE64_FRAGMENT = 8;

/**
 * Every form of one secret that is scrubbed, longest first; empty when the
 * secret is shorter than {@linkcode MIN_SCRUB_LENGTH}.
 */
export function secretForms(secret: string): string[] {
  if (secret.length < MIN_SCRUB_LENGTH) return [];
  const forms = new Set<string>([secret]);
  forms.add(JSON.stringify(secret).slice(1, -1));
  forms.add(encodeURIComponent(secret));
  for (const fragment of base64Fragments(secret)) {
    forms.add(fragment);
    forms.add(fragment.replaceAll("+", "-").replaceAll("/", "_"));
  }
  if (/[\r\n]/.test(secret)) {
    for (const line of secret.split(/\r?\n|\r/)) {
      const trimmed = line.trim();
      if (
        trimmed.length >= MIN_KEY_LINE_LENGTH && !trimmed.startsWith("-----")
      ) {
        forms.add(trimmed);
      }
    }
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

/** Redacts the secrets it was built with. */
export interface Scrubber {
  /** Replaces every form of every secret with {@linkcode REDACTED}. */
  scrub(text: string): string;
  /**
   * Like `scrub`, for text that was cut at its end: also replaces a trailing
   * beginning of a form, so a cut through a secret leaks none of it.
   */
  scrubCut(text: string): string;
}

/**
 * Builds a {@linkcode Scrubber} that replaces every form of every secret in
 * one pass, longest match first.
 */
export function createScrubber(secrets: readonly string[]): Scrubber {
  const needles = [...new Set(secrets.flatMap(secretForms))]
    .sort((a, b) => b.length - a.length);
  if (needles.length === 0) {
    return { scrub: (text) => text, scrubCut: (text) => text };
  }
  const pattern = new RegExp(needles.map(escapeRegExp).join("|"), "g");
  const scrub = (text: string): string => text.replace(pattern, REDACTED);
  const scrubCut = (text: string): string => {
    const scrubbed = scrub(text);
    let longest = 0;
    for (const needle of needles) {
      for (
        let k = Math.min(needle.length - 1, scrubbed.length);
        k > longest;
        k--
      ) {
        if (scrubbed.endsWith(needle.slice(0, k))) {
          longest = k;
          break;
        }
      }
    }
    return longest === 0
      ? scrubbed
      : `${scrubbed.slice(0, scrubbed.length - longest)}${REDACTED}`;
  };
  return { scrub, scrubCut };
}

/** Replaces every form of each secret in `text` with {@linkcode REDACTED}. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  return createScrubber(secrets).scrub(text);
}

/**
 * The parts of base64(prefix + secret) that depend only on the secret, for a
 * prefix of 0, 1 and 2 bytes: they appear whatever surrounds the secret.
 */
function base64Fragments(secret: string): string[] {
  const bytes = new TextEncoder().encode(secret);
  const fragments: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    let binary = "\0".repeat(shift);
    for (const byte of bytes) binary += String.fromCharCode(byte);
    const encoded = btoa(binary);
    const start = Math.ceil((8 * shift) / 6);
    const end = Math.floor((8 * (shift + bytes.length)) / 6);
    if (end - start >= MIN_BASE64_FRAGMENT) {
      fragments.push(encoded.slice(start, end));
    }
  }
  return fragments;
}

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");
}
