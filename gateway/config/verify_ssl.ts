/**
 * `CYBERARK_VERIFY_SSL` and `WINRM_VERIFY_SSL`: true, false, or the path of
 * a PEM CA bundle, which is read here, once.
 *
 * @module
 */
import { booleanWord } from "./_env_fields.ts";
import { readCaBundle } from "./ca_bundle.ts";

/** What a `*_VERIFY_SSL` variable says. */
export interface VerifySsl {
  /** `false` only when the operator set the variable to false. */
  verifyTls: boolean;
  /** The CA bundle's path, `~` expanded (for messages). */
  caBundlePath?: string;
  /** The CA bundle's PEM text. */
  caPem?: string;
}

/** The value of a `*_VERIFY_SSL` variable. */
export interface VerifySslOptions {
  /** The variable's raw value; unset or blank means true. */
  readonly value: string | undefined;
  /** The home directory for `~`. */
  readonly home: string;
}

/**
 * Reads a `*_VERIFY_SSL` variable: true (the default), false, or the path
 * of a PEM CA bundle.
 *
 * @throws {ConfigError} naming `variable` when the value is a path that cannot be read or holds no PEM certificate
 */
export function parseVerifySsl(
  variable: string,
  options: VerifySslOptions,
): VerifySsl {
  const value = options.value?.trim() ?? "";
  if (value === "") return { verifyTls: true };
  const word = booleanWord(value);
  if (word !== undefined) return { verifyTls: word };
  const bundle = readCaBundle(variable, value, {
    home: options.home,
    unreadable: (path, reason) =>
      `is neither true, false nor a readable CA bundle: "${path}" (${reason}); set true, or the path of a PEM CA bundle readable by the service user`,
  });
  return { verifyTls: true, caBundlePath: bundle.path, caPem: bundle.pem };
}
