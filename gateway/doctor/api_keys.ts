/**
 * The API key checks: enough keys, long and random enough (as measured when
 * the configuration was loaded), the keys file private, and the placeholder
 * `changeme` nowhere among the secrets. Keys are only measured and named; no
 * key or digest ever reaches a result.
 *
 * @module
 */
import {
  type ApiKeyConfig,
  type KeyStrength,
  keyStrength,
  MIN_API_KEY_LENGTH,
} from "../config/mod.ts";
import type { CheckResult } from "./check_result.ts";
import {
  checkPrivateFile,
  type FileFacts,
  fileFacts,
  type RunningUser,
} from "./host_checks.ts";
import { fail, pass, warn } from "./_verdicts.ts";

/** Anything that reveals a plaintext on request, like `vault/secret.ts`'s `Secret`. */
export interface SecretValue {
  /** Returns the plaintext. */
  reveal(): string;
}

/** Bits of a key below which it counts as weak (32 random hex characters). */
export const MIN_KEY_BITS = 128;
const KEY_FIX = "replace it with a random key: openssl rand -hex 32";

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

/** What {@linkcode checkApiKeys} looks at besides the configuration. */
export interface CheckApiKeysOptions {
  /** Mode and owner of MCP_API_KEYS_FILE (default: read from disk). */
  readonly fileFacts?: FileFacts;
  /** Who runs doctor (default: this process's uid). */
  readonly user?: RunningUser;
}

/**
 * Counts the principals, judges the strength of the keys of MCP_API_KEYS
 * (checklist: strong random keys of at least 32 characters) and checks that
 * MCP_API_KEYS_FILE is private like the `.env` file. Digests from the file
 * cannot be judged; the result says so.
 */
export function checkApiKeys(
  keys: ApiKeyConfig,
  options: CheckApiKeysOptions = {},
): CheckResult {
  const name = "api-keys";
  if (keys.principals.length === 0) {
    return fail(name, "MCP_API_KEYS holds no key", KEY_FIX);
  }
  const fromFile =
    keys.principals.filter((p) => p.source === "MCP_API_KEYS_FILE").length;
  const fileNote = keys.file === undefined
    ? ""
    : `, and ${fromFile} digest(s) from ${keys.file} (key strength cannot be judged from a digest)`;
  if (keys.file !== undefined) {
    const problem = checkKeysFile(
      keys.file,
      options.fileFacts ?? fileFacts(keys.file),
      options.user ?? { uid: Deno.uid() ?? -1 },
    );
    if (problem !== undefined) return problem;
  }
  const measured = keys.principals.flatMap((p) =>
    p.strength === undefined ? [] : [{ name: p.name, strength: p.strength }]
  );
  const which = (i: number): string =>
    `key of "${measured[i]!.name}" (MCP_API_KEYS)`;
  const short = measured.findIndex((m) =>
    m.strength.length < MIN_API_KEY_LENGTH
  );
  if (short >= 0) {
    return fail(
      name,
      `${which(short)} is ${
        measured[short]!.strength.length
      } characters, under ${MIN_API_KEY_LENGTH}`,
      KEY_FIX,
    );
  }
  const findings: string[] = [];
  measured.forEach((m, i) => {
    const why = weakness(m.strength);
    if (why !== undefined) findings.push(`${which(i)} ${why}`);
  });
  const count = `${keys.principals.length} principal(s)`;
  if (findings.length > 0) {
    return warn(
      name,
      `${count}; ${findings.join(", ")}${fileNote}`,
      `${KEY_FIX}, one per client`,
    );
  }
  if (measured.length === 0) {
    return pass(name, `${count}${fileNote}`);
  }
  const shortest = Math.min(...measured.map((m) => m.strength.length));
  const bits = Math.min(...measured.map((m) => m.strength.bits));
  return pass(
    name,
    `${count}: the ${measured.length} key(s) of MCP_API_KEYS each at least ${shortest} characters and about ${bits} bits${fileNote}`,
  );
}

/** The keys file: present, mode 600 (or stricter) and owned by the service user. */
function checkKeysFile(
  path: string,
  facts: FileFacts,
  user: RunningUser,
): CheckResult | undefined {
  if (facts.kind === "missing") {
    return fail(
      "api-keys",
      `MCP_API_KEYS_FILE ${path} does not exist`,
      "point MCP_API_KEYS_FILE at the NAME:SHA256HEX file",
    );
  }
  const verdict = checkPrivateFile(
    "api-keys",
    {
      label: `MCP_API_KEYS_FILE ${path}`,
      path,
      exposure: "other users can read or change who may call",
    },
    facts,
    user,
  );
  return verdict.status === "PASS" ? undefined : verdict;
}

/**
 * The placeholder `changeme` is not the PFX password. (Configuration loading
 * already refuses it in MCP_API_KEYS, and a digest file cannot hold it.)
 */
export function checkChangeme(pfxPassword?: SecretValue): CheckResult {
  const name = "changeme";
  if (pfxPassword !== undefined && /changeme/i.test(pfxPassword.reveal())) {
    return fail(
      name,
      'CYBERARK_CERT_PFX_PASSWORD contains the placeholder "changeme"',
      "replace it with the real value",
    );
  }
  return pass(
    name,
    'the placeholder "changeme" is in neither MCP_API_KEYS (refused at load) nor CYBERARK_CERT_PFX_PASSWORD',
  );
}

/** Re-exported for older importers; measured at load by the configuration. */
export { type KeyStrength, keyStrength };
