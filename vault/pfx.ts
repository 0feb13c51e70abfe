/**
 * Reads a PKCS#12 (.pfx) client certificate for mTLS to the CCP, with
 * node-forge (no hand-written ASN.1).
 *
 * @module
 */
// @ts-types="@types/node-forge"
import forge from "node-forge";
import { Secret } from "./secret.ts";

/** A client certificate chain and its private key, in PEM. */
export interface ClientCertificate {
  /** Leaf first, then any intermediates found in the file. */
  certChainPem: string;
  /** PKCS#8 PEM of the private key. */
  keyPem: Secret;
  /** Serial number of the leaf, upper-case hex (what CyberArk matches on). */
  serialNumber: string;
  subject: string;
  notAfter: Date;
}

/** A PFX file that cannot be used. */
export class PfxError extends Error {
  /** Creates the error; the message names the fix. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PfxError";
  }
}

/**
 * Decodes a PFX file's bytes with its password.
 *
 * @throws {PfxError} for a wrong password, a file that is not PKCS#12, or one without a key or certificate
 */
export function parsePfx(
  bytes: Uint8Array,
  password: Secret,
): ClientCertificate {
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    const der = forge.util.binary.raw.encode(bytes);
    p12 = forge.pkcs12.pkcs12FromAsn1(
      forge.asn1.fromDer(der),
      password.reveal(),
    );
  } catch (error) {
    const text = error instanceof Error ? error.message : "";
    const wrongPassword =
      /invalid password|mac could not be verified|pkcs#12 mac/i.test(text);
    throw new PfxError(
      wrongPassword
        ? "Cannot open the client certificate: the PFX password is wrong; set CYBERARK_CERT_PFX_PASSWORD to the export password"
        : "Cannot open the client certificate: the file is not a PKCS#12 (.pfx) archive or uses unsupported algorithms; re-export it from CyberArk as PFX (RSA key, AES or 3DES encryption)",
    );
  }
  const keyBags = [
    ...(p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag! })[
      forge.pki.oids.pkcs8ShroudedKeyBag!
    ] ?? []),
    ...(p12.getBags({
      bagType: forge.pki.oids.keyBag!,
    })[forge.pki.oids.keyBag!] ?? []),
  ];
  const certBags = p12.getBags({ bagType: forge.pki.oids.certBag! })[
    forge.pki.oids.certBag!
  ] ?? [];
  const keyBag = keyBags.find((bag) => bag.key !== undefined);
  if (keyBag?.key === undefined) {
    throw new PfxError(
      "Cannot use the client certificate: the PFX holds no RSA private key; export the certificate with its private key (only RSA keys are supported)",
    );
  }
  const key = keyBag.key as forge.pki.rsa.PrivateKey;
  const certs = certBags.flatMap((bag) =>
    bag.cert === undefined ? [] : [bag.cert]
  );
  const leaf = certs.find((cert) => {
    const pub = cert.publicKey as forge.pki.rsa.PublicKey;
    return pub.n !== undefined && pub.n.equals(key.n);
  });
  if (leaf === undefined) {
    throw new PfxError(
      "Cannot use the client certificate: the PFX holds no certificate for its private key; re-export the PFX with the certificate included",
    );
  }
  const chain = [leaf, ...certs.filter((c) => c !== leaf)];
  const pkcs8 = forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(key));
  return {
    certChainPem: chain.map((c) => forge.pki.certificateToPem(c)).join(""),
    keyPem: new Secret(forge.pki.privateKeyInfoToPem(pkcs8)),
    serialNumber: leaf.serialNumber.toUpperCase().replace(/^0+(?=.)/, ""),
    subject: leaf.subject.attributes.map((a) =>
      `${a.shortName ?? a.name}=${a.value}`
    ).join(
      ", ",
    ),
    notAfter: leaf.validity.notAfter,
  };
}
