/**
 * Finding a served secret in text the gateway wrote: the secret itself and
 * the forms it would take if it slipped into a JSON string, a URL, a base64
 * or hex dump, so that a substring search over every response and log line
 * finds it however it was encoded.
 *
 * @module
 */

/** Forms shorter than this are left out: they could match by chance. */
const MIN_FORM_CHARS = 8;

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * The base64 characters that depend on `bytes` alone, at each of the three
 * alignments the bytes can have inside a longer encoded text.
 */
function base64Cores(bytes: Uint8Array): string[] {
  const cores: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const padded = new Uint8Array(shift + bytes.length);
    padded.set(bytes, shift);
    const encoded = base64(padded);
    const first = Math.ceil((8 * shift) / 6);
    const end = Math.floor((8 * (shift + bytes.length)) / 6);
    cores.push(encoded.slice(first, end));
  }
  return cores;
}

function asciiJson(value: string): string {
  return JSON.stringify(value).slice(1, -1).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * Every form of `secret` to search for: as is, JSON-escaped (also with
 * `\uXXXX` for non-ASCII), percent-encoded, base64 and base64url (any
 * alignment) and hex of its UTF-8 bytes.
 */
export function leakForms(secret: string): string[] {
  const bytes = new TextEncoder().encode(secret);
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0"))
    .join("");
  const cores = base64Cores(bytes);
  const forms = new Set([
    secret,
    JSON.stringify(secret).slice(1, -1),
    asciiJson(secret),
    encodeURIComponent(secret),
    ...cores,
    ...cores.map((c) => c.replaceAll("+", "-").replaceAll("/", "_")),
    hex,
    hex.toUpperCase(),
  ]);
  return [...forms].filter((form) => form.length >= MIN_FORM_CHARS);
}

/** Values that must never appear, each with every form it can take. */
export class LeakNeedles {
  readonly #forms = new Map<string, string>();

  /** Adds a value under a label that a failure may print (never the value). */
  add(label: string, value: string): void {
    for (const form of leakForms(value)) this.#forms.set(form, label);
  }

  /** The label of the first value found in `text`, or undefined. */
  find(text: string): string | undefined {
    for (const [form, label] of this.#forms) {
      if (text.includes(form)) return label;
    }
    return undefined;
  }
}
