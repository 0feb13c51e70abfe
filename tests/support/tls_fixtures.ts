/**
 * Throwaway TLS material for tests: a CA, a server leaf for 127.0.0.1 and
 * localhost, and a client leaf for mTLS, all generated in memory with
 * node-forge at test time so no key is ever committed.
 *
 * The server certificate is a leaf signed by the CA, never the CA itself:
 * rustls (behind Deno's `fetch`) rejects a CA used as an end-entity
 * certificate with `CaUsedAsEndEntity`.
 *
 * @module
 */

import forge from "node-forge";

/** Options for {@linkcode createTlsFixtures}. */
export interface TlsFixtureOptions {
  /** Password protecting {@linkcode TlsFixtures.clientPfx}; default `test-only-pfx-password`. */
  pfxPassword?: string;
  /** Common name of the client certificate; default `mcp-privileged-test-client`. */
  clientCommonName?: string;
  /** Common name of the CA; default `mcp-privileged test CA`. */
  caCommonName?: string;
}

/** PEMs and PKCS#12 bytes returned by {@linkcode createTlsFixtures}. */
export interface TlsFixtures {
  /** The CA certificate; trust it with `Deno.createHttpClient({ caCerts: [caCertPem] })`. */
  caCertPem: string;
  /** The CA private key (PKCS#1 PEM), for tests that sign more certificates. */
  caKeyPem: string;
  /** Server leaf for IP 127.0.0.1 and DNS localhost, signed by the CA. */
  serverCertPem: string;
  /** Server private key (PKCS#1 PEM). */
  serverKeyPem: string;
  /** Client leaf (extKeyUsage clientAuth), signed by the CA. */
  clientCertPem: string;
  /** Client private key (PKCS#1 PEM). */
  clientKeyPem: string;
  /** Client certificate serial number, hex, uppercase, no separators. */
  clientSerialHex: string;
  /** PKCS#12 (.pfx) DER of the client certificate and key (3DES, SHA-1 MAC). */
  clientPfx: Uint8Array;
  /** The password that protects {@linkcode TlsFixtures.clientPfx}. */
  clientPfxPassword: string;
}

type ForgeKeyPair = forge.pki.rsa.KeyPair;
type ForgeCertificate = forge.pki.Certificate;
type ForgeAttribute = forge.pki.CertificateField;

const DEFAULT_PFX_PASSWORD = "test-only-pfx-password";
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Generates a fresh CA, a server leaf for 127.0.0.1/localhost and a client
 * leaf, all RSA-2048 and valid from yesterday for 30 days.
 *
 * Takes a few hundred milliseconds; create it once per test file.
 */
export function createTlsFixtures(
  options: TlsFixtureOptions = {},
): TlsFixtures {
  const pfxPassword = options.pfxPassword ?? DEFAULT_PFX_PASSWORD;
  const caName: ForgeAttribute[] = [
    {
      name: "commonName",
      value: options.caCommonName ?? "mcp-privileged test CA",
    },
    { name: "organizationName", value: "mcp-privileged tests" },
  ];

  const caKeys = generateKeyPair();
  const caCert = newCertificate(caKeys, caName, caName);
  caCert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  caCert.sign(caKeys.privateKey, forge.md.sha256.create());

  const serverKeys = generateKeyPair();
  const serverCert = newCertificate(
    serverKeys,
    [{ name: "commonName", value: "localhost" }],
    caName,
  );
  serverCert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    {
      name: "keyUsage",
      digitalSignature: true,
      keyEncipherment: true,
      critical: true,
    },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: [
        { type: 7, ip: "127.0.0.1" }, // iPAddress
        { type: 2, value: "localhost" }, // dNSName
      ],
    },
    { name: "subjectKeyIdentifier" },
  ]);
  serverCert.sign(caKeys.privateKey, forge.md.sha256.create());

  const clientKeys = generateKeyPair();
  const clientCert = newCertificate(
    clientKeys,
    [{
      name: "commonName",
      value: options.clientCommonName ?? "mcp-privileged-test-client",
    }],
    caName,
  );
  clientCert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    {
      name: "keyUsage",
      digitalSignature: true,
      keyEncipherment: true,
      critical: true,
    },
    { name: "extKeyUsage", clientAuth: true },
    { name: "subjectKeyIdentifier" },
  ]);
  clientCert.sign(caKeys.privateKey, forge.md.sha256.create());

  // 3DES rather than forge's AES default: every PKCS#12 reader (OpenSSL 1
  // and 3, Windows, Java, forge) accepts it, and this is test-only material.
  const pfxAsn1 = forge.pkcs12.toPkcs12Asn1(
    clientKeys.privateKey,
    [clientCert],
    pfxPassword,
    { algorithm: "3des", friendlyName: "mcp-privileged-test-client" },
  );
  const pfxDer = forge.asn1.toDer(pfxAsn1).getBytes();

  return {
    caCertPem: forge.pki.certificateToPem(caCert),
    caKeyPem: forge.pki.privateKeyToPem(caKeys.privateKey),
    serverCertPem: forge.pki.certificateToPem(serverCert),
    serverKeyPem: forge.pki.privateKeyToPem(serverKeys.privateKey),
    clientCertPem: forge.pki.certificateToPem(clientCert),
    clientKeyPem: forge.pki.privateKeyToPem(clientKeys.privateKey),
    clientSerialHex: clientCert.serialNumber.toUpperCase(),
    clientPfx: binaryStringToBytes(pfxDer),
    clientPfxPassword: pfxPassword,
  };
}

function generateKeyPair(): ForgeKeyPair {
  // forge uses the runtime's native RSA key generation when it finds one.
  return forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
}

function newCertificate(
  keys: ForgeKeyPair,
  subject: ForgeAttribute[],
  issuer: ForgeAttribute[],
): ForgeCertificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerialHex();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - DAY_MS);
  cert.validity.notAfter = new Date(now + 30 * DAY_MS);
  cert.setSubject(subject);
  cert.setIssuer(issuer);
  return cert;
}

/**
 * 16 random bytes as hex whose first nibble is 1-7: positive as a DER
 * INTEGER and without a leading zero, so every reader prints the same digits.
 */
function randomSerialHex(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) % 0x70) + 0x10;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function binaryStringToBytes(binary: string): Uint8Array {
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
