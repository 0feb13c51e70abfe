/**
 * The WinRM section: `WINRM_AUTH` and `WINRM_VERIFY_SSL`, whose CA bundle is
 * read here, once, so `ps_execute` never reads a file.
 *
 * @module
 */
import type { WinrmTlsConfig } from "./config.ts";
import type { EnvValues } from "./env_schema.ts";
import type { ParseContext } from "./_parse_context.ts";
import { parseVerifySsl } from "./verify_ssl.ts";

/**
 * Builds the WinRM TLS settings and warns when verification is off.
 *
 * @throws {ConfigError} naming WINRM_VERIFY_SSL for an unreadable or non-PEM CA bundle
 */
export function parseWinrmTlsConfig(
  values: EnvValues,
  context: ParseContext,
): WinrmTlsConfig {
  const tls = parseVerifySsl("WINRM_VERIFY_SSL", {
    value: values.WINRM_VERIFY_SSL,
    home: context.home,
  });
  if (!tls.verifyTls) {
    context.warnings.push(
      "WINRM_VERIFY_SSL=false: WinRM HTTPS certificates are not verified (a warning is logged on every call); never use this in production",
    );
  }
  return tls;
}
