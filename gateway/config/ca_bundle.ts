/**
 * PEM CA bundles named by variables, read once at start-up: what the
 * service trusts is fixed until the next start (see docs/operations.md).
 *
 * @module
 */
import { ConfigError } from "./config_error.ts";
import { expandHome, fileErrorName } from "./_paths.ts";

/** The line every PEM certificate starts with. */
export const PEM_CERTIFICATE_MARKER = "-----BEGIN CERTIFICATE-----";

/** A CA bundle read from disk. */
export interface CaBundle {
  /** The path read, `~` expanded. */
  readonly path: string;
  /** Its PEM text. */
  readonly pem: string;
}

/** How to read one CA bundle. */
export interface ReadCaBundleOptions {
  /** The home directory for `~`. */
  readonly home: string;
  /** The message (after the variable's name) when the file cannot be read. */
  readonly unreadable: (path: string, reason: string) => string;
}

/** The value of an optional CA bundle variable. */
export interface OptionalCaBundleOptions {
  /** The variable's raw value; unset or blank means no bundle. */
  readonly value: string | undefined;
  /** The home directory for `~`. */
  readonly home: string;
}

/**
 * Reads the PEM CA bundle at `path` (the value of `variable`) and checks
 * that it holds a certificate.
 *
 * @throws {ConfigError} naming `variable` when the file cannot be read or holds no PEM certificate
 */
export function readCaBundle(
  variable: string,
  path: string,
  options: ReadCaBundleOptions,
): CaBundle {
  const full = expandHome(path, options.home);
  let pem: string;
  try {
    pem = Deno.readTextFileSync(full);
  } catch (error) {
    throw new ConfigError(
      variable,
      options.unreadable(full, fileErrorName(error)),
    );
  }
  if (!pem.includes(PEM_CERTIFICATE_MARKER)) {
    throw new ConfigError(
      variable,
      `points to "${full}", which holds no PEM certificate; point it at a PEM CA bundle (${PEM_CERTIFICATE_MARKER})`,
    );
  }
  return { path: full, pem };
}

/**
 * Reads the CA bundle a `*_CA` / `*_CA_BUNDLE` variable names; `undefined`
 * when the variable is unset or empty.
 *
 * @throws {ConfigError} naming `variable` when the file cannot be read or holds no PEM certificate
 */
export function readOptionalCaBundle(
  variable: string,
  options: OptionalCaBundleOptions,
): string | undefined {
  const value = options.value?.trim() ?? "";
  if (value === "") return undefined;
  return readCaBundle(variable, value, {
    home: options.home,
    unreadable: (path, reason) =>
      `"${path}" cannot be read (${reason}); set it to the path of a PEM CA bundle readable by the service user`,
  }).pem;
}
