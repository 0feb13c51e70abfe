/**
 * The CyberArk section: `CYBERARK_*`. The CA bundle of
 * `CYBERARK_VERIFY_SSL` is read here, once; the PFX is checked for
 * readability (`gateway/ccp_setup.ts` opens it with its password).
 *
 * @module
 */
import { Secret } from "../../vault/secret.ts";
import type { CyberArkConfig } from "./config.ts";
import { ConfigError } from "./config_error.ts";
import type { EnvValues } from "./env_schema.ts";
import type { ParseContext } from "./_parse_context.ts";
import { expandHome, fileErrorName } from "./_paths.ts";
import { parseVerifySsl } from "./verify_ssl.ts";

/**
 * Builds the CyberArk section and its warnings.
 *
 * @throws {ConfigError} for an unreadable CA bundle or PFX, or a PFX without https://
 */
export function parseCyberArkConfig(
  values: EnvValues,
  context: ParseContext,
): CyberArkConfig {
  const { home, warnings } = context;
  const verify = parseVerifySsl("CYBERARK_VERIFY_SSL", {
    value: values.CYBERARK_VERIFY_SSL,
    home,
  });
  if (!verify.verifyTls) {
    warnings.push(
      "CYBERARK_VERIFY_SSL=false: the CyberArk certificate is not verified; never use this in production",
    );
  }
  const url = values.CYBERARK_CCP_URL;
  if (url.protocol === "http:") {
    warnings.push(
      "CYBERARK_CCP_URL uses http://: secrets cross the network in clear text; use https://",
    );
  }
  const pfx = parsePfx(values, home);
  if (pfx.pfxPath !== undefined && url.protocol !== "https:") {
    throw new ConfigError(
      "CYBERARK_CERT_PFX_PATH",
      "is set but CYBERARK_CCP_URL is http://; client certificates need https://",
    );
  }
  return {
    ccpUrl: url,
    appId: values.CYBERARK_APP_ID,
    ...verify,
    ...pfx,
    timeoutMs: values.CYBERARK_TIMEOUT_SECONDS * 1000,
  };
}

function parsePfx(
  values: EnvValues,
  home: string,
): Pick<CyberArkConfig, "pfxPath" | "pfxPassword"> {
  const path = values.CYBERARK_CERT_PFX_PATH?.trim() ?? "";
  const password = values.CYBERARK_CERT_PFX_PASSWORD;
  if (path === "") {
    if (password !== undefined && password !== "") {
      throw new ConfigError(
        "CYBERARK_CERT_PFX_PASSWORD",
        "is set but CYBERARK_CERT_PFX_PATH is not; set the path of the PFX file too, or remove the password",
      );
    }
    return {};
  }
  const full = expandHome(path, home);
  try {
    const info = Deno.statSync(full);
    if (!info.isFile) throw new Deno.errors.NotFound("not a file");
    Deno.openSync(full, { read: true }).close();
  } catch (error) {
    throw new ConfigError(
      "CYBERARK_CERT_PFX_PATH",
      `"${full}" cannot be read (${
        fileErrorName(error)
      }); check that the file exists and is readable by the service user (chmod 400, owned by it)`,
    );
  }
  return { pfxPath: full, pfxPassword: new Secret(password ?? "") };
}
