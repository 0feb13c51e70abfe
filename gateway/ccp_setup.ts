/**
 * Builds the CCP client from configuration, once, at start-up: the CA bundle
 * comes as PEM text from the configuration (read and checked by
 * `loadConfig()`); the PFX is read and opened here, so that a bad file
 * stops the service with one line. The PKCS#12 parser (node-forge) is
 * loaded only when a PFX is configured.
 *
 * @module
 */
import { CcpClient } from "../vault/ccp_client.ts";
import { ConfigError, type CyberArkConfig } from "./config/mod.ts";

/**
 * Creates the CCP client.
 *
 * @throws {ConfigError} when the CA bundle or the PFX cannot be used
 */
export async function createCcpClient(
  config: CyberArkConfig,
): Promise<CcpClient> {
  let clientCertificate;
  if (config.pfxPath !== undefined) {
    const { parsePfx, PfxError } = await import("../vault/pfx.ts");
    try {
      clientCertificate = parsePfx(
        Deno.readFileSync(config.pfxPath),
        config.pfxPassword!,
      );
    } catch (error) {
      if (error instanceof PfxError) {
        throw new ConfigError(
          "CYBERARK_CERT_PFX_PATH",
          `is unusable: ${error.message}`,
        );
      }
      throw error;
    }
    if (clientCertificate.notAfter.getTime() < Date.now()) {
      throw new ConfigError(
        "CYBERARK_CERT_PFX_PATH",
        `holds a certificate that expired on ${clientCertificate.notAfter.toISOString()}; export a current certificate from CyberArk`,
      );
    }
  }
  return new CcpClient({
    url: config.ccpUrl,
    appId: config.appId,
    verifyTls: config.verifyTls,
    timeoutMs: config.timeoutMs,
    ...(config.caPem === undefined ? {} : { caCertsPem: [config.caPem] }),
    ...(clientCertificate === undefined ? {} : { clientCertificate }),
  });
}
