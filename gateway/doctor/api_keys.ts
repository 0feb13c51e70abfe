/**
 * The API key checks: enough keys, long and random enough, none repeated,
 * and the placeholder `changeme` nowhere among the secrets. Keys are only
 * measured and numbered; no key ever reaches a result.
 *
 * @module
 */
import { MIN_API_KEY_LENGTH } from "../config/mod.ts";
import type { CheckResult } from "./check_result.ts";
import { fail, pass, warn } from "./_verdicts.ts";

/** Anything that reveals a plaintext on request, like `vault/secret.ts`'s `Secret`. */
export interface SecretValue {
  /** Returns the plaintext. */
  reveal(): string;
}

/** Bits of a key below which it counts as weak (32 random hex characters). */
export const MIN_KEY_BITS = 128;
const KEY_FIX = "replace it with a random key: openssl rand -hex 32";

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

/** Why a key looks weak, or `undefined` when it does not. */
function weakness(strength: KeyStrength): string | undefined {
  if (strength.repeats) return "is a shorter string repeated";
  if (strength.bits < MIN_KEY_BITS) {
    return `carries about ${strength.bits} bits, under ${MIN_KEY_BITS}`;
  }
  if (strength.distinct < 10) {
    return `uses only ${strength.distinct} distinct characters`;
  }
  if (strength.topShare > 1 / 3) {
    return `is ${Math.round(strength.topShare * 100)}% one character`;
  }
  return undefined;
}

/**
 * Counts the API keys and judges their strength (checklist: strong random
 * keys of at least 32 characters). Keys are never shown, only numbered.
 */
export function checkApiKeys(keys: readonly SecretValue[]): CheckResult {
  const name = "api-keys";
  if (keys.length === 0) {
    return fail(name, "MCP_API_KEYS holds no key", KEY_FIX);
  }
  const plain = keys.map((k) => k.reveal());
  const which = (i: number): string => `key ${i + 1} of ${keys.length}`;
  const short = plain.findIndex((k) => k.length < MIN_API_KEY_LENGTH);
  if (short >= 0) {
    return fail(
      name,
      `${which(short)} is ${
        plain[short]!.length
      } characters, under ${MIN_API_KEY_LENGTH}`,
      KEY_FIX,
    );
  }
  const strengths = plain.map(keyStrength);
  const findings: string[] = [];
  strengths.forEach((s, i) => {
    const why = weakness(s);
    if (why !== undefined) findings.push(`${which(i)} ${why}`);
  });
  plain.forEach((k, i) => {
    const first = plain.indexOf(k);
    if (first !== i) findings.push(`keys ${first + 1} and ${i + 1} are equal`);
  });
  if (findings.length > 0) {
    return warn(
      name,
      `${keys.length} key(s); ${findings.join(", ")}`,
      `${KEY_FIX}, one per client`,
    );
  }
  const shortest = Math.min(...strengths.map((s) => s.length));
  const bits = Math.min(...strengths.map((s) => s.bits));
  return pass(
    name,
    `${keys.length} key(s), each at least ${shortest} characters and about ${bits} bits`,
  );
}

/** The placeholder `changeme` is nowhere among the secrets. */
export function checkChangeme(
  keys: readonly SecretValue[],
  pfxPassword?: SecretValue,
): CheckResult {
  const name = "changeme";
  const where: string[] = [];
  if (keys.some((k) => /changeme/i.test(k.reveal()))) {
    where.push("MCP_API_KEYS");
  }
  if (pfxPassword !== undefined && /changeme/i.test(pfxPassword.reveal())) {
    where.push("CYBERARK_CERT_PFX_PASSWORD");
  }
  return where.length === 0
    ? pass(
      name,
      'the placeholder "changeme" is in neither MCP_API_KEYS nor CYBERARK_CERT_PFX_PASSWORD',
    )
    : fail(
      name,
      `${where.join(" and ")} contain(s) the placeholder "changeme"`,
      "replace it with the real value (API keys: openssl rand -hex 32)",
    );
}
