/**
 * The WinRM `multipart/encrypted` body that carries an NTLM-sealed SOAP
 * message over plain HTTP, framed byte for byte as pywinrm does
 * (`winrm/encryption.py`) and as `fixtures/derived/ntlm-encrypted-body-example.bin` shows:
 *
 * ```
 * --Encrypted Boundary\r\n
 * \tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n
 * \tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=<plaintext length>\r\n
 * --Encrypted Boundary\r\n
 * \tContent-Type: application/octet-stream\r\n
 * <uint32le 16><16-byte signature><sealed bytes>--Encrypted Boundary--\r\n
 * ```
 *
 * @module
 */
import { concatBytes, NtlmError, SIGNATURE_LENGTH } from "./ntlm_crypto.ts";
import type { NtlmSession } from "./ntlm_session.ts";

/** The boundary WinRM uses. */
export const ENCRYPTED_BOUNDARY = "Encrypted Boundary";

/** HTTP `Content-Type` of a sealed request or response. */
export const ENCRYPTED_CONTENT_TYPE =
  'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"';

/** The `type=` of the OriginalContent header for WS-Management SOAP. */
export const SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8";

/** The parts of an encrypted body. */
export interface EncryptedBodyParts {
  /** 16-byte NTLM signature. */
  signature: Uint8Array;
  /** Sealed bytes, as long as the plaintext. */
  sealed: Uint8Array;
  /** OriginalContent `type=`; defaults to {@linkcode SOAP_CONTENT_TYPE}. */
  originalType?: string;
}

/** A decoded encrypted body. */
export interface DecodedEncryptedBody {
  signature: Uint8Array;
  sealed: Uint8Array;
  /** OriginalContent `type=` (with any `charset=`), e.g. `application/soap+xml;charset=UTF-8`. */
  originalType: string;
  /** OriginalContent `Length=`: the plaintext length. */
  originalLength: number;
}

/** Bytes to a string of the same length, one char per byte (true ISO-8859-1, unlike TextDecoder's windows-1252). */
function latin1(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += String.fromCharCode(byte);
  return out;
}

function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/** Frames a signature and sealed data as a WinRM encrypted body. */
export function encodeEncryptedBody(parts: EncryptedBodyParts): Uint8Array {
  if (parts.signature.length !== SIGNATURE_LENGTH) {
    throw new RangeError(
      `Cannot frame an encrypted body with a ${parts.signature.length}-byte signature; pass the 16-byte NTLM signature`,
    );
  }
  const type = parts.originalType ?? SOAP_CONTENT_TYPE;
  const head = ascii(
    `--${ENCRYPTED_BOUNDARY}\r\n` +
      "\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n" +
      `\tOriginalContent: type=${type};Length=${parts.sealed.length}\r\n` +
      `--${ENCRYPTED_BOUNDARY}\r\n` +
      "\tContent-Type: application/octet-stream\r\n",
  );
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, SIGNATURE_LENGTH, true);
  return concatBytes(
    head,
    length,
    parts.signature,
    parts.sealed,
    ascii(`--${ENCRYPTED_BOUNDARY}--\r\n`),
  );
}

function invalid(detail: string): NtlmError {
  return new NtlmError(
    `Cannot decode the encrypted WinRM body: ${detail}; expected multipart/encrypted with boundary "${ENCRYPTED_BOUNDARY}"`,
  );
}

/** Whether a line is the boundary; Exchange writes `-- Encrypted Boundary`, which pypsrp accepts too. */
function isBoundary(line: string, closing: boolean): boolean {
  const trimmed = line.trim();
  const suffix = closing ? "--" : "";
  return trimmed === `--${ENCRYPTED_BOUNDARY}${suffix}` ||
    trimmed === `-- ${ENCRYPTED_BOUNDARY}${suffix}`;
}

/** Finds the closing boundary at the end of the body; returns where it starts. */
function closingBoundaryStart(body: Uint8Array, from: number): number {
  // Only the tail is text: the sealed bytes may contain anything, so search backwards.
  const tail = latin1(body.subarray(Math.max(from, body.length - 64)));
  const offsetOfTail = body.length - tail.length;
  for (
    const marker of [`--${ENCRYPTED_BOUNDARY}--`, `-- ${ENCRYPTED_BOUNDARY}--`]
  ) {
    const at = tail.lastIndexOf(marker);
    if (at >= 0 && tail.slice(at + marker.length).trim() === "") {
      return offsetOfTail + at;
    }
  }
  throw invalid("the closing boundary is missing");
}

/**
 * Splits a WinRM encrypted body into signature, sealed data and the
 * OriginalContent type and length. Only one encrypted part is accepted.
 *
 * @throws {NtlmError} if the framing is not WinRM's.
 */
export function decodeEncryptedBody(body: Uint8Array): DecodedEncryptedBody {
  let position = 0;
  const nextLine = (): string => {
    for (let i = position; i + 1 < body.length && i < position + 1024; i++) {
      if (body[i] === 0x0d && body[i + 1] === 0x0a) {
        const line = latin1(body.subarray(position, i));
        position = i + 2;
        return line;
      }
    }
    throw invalid("a header line is missing or too long");
  };

  if (!isBoundary(nextLine(), false)) {
    throw invalid("the body does not start with the boundary");
  }
  let originalType: string | null = null;
  let originalLength: number | null = null;
  let encryptedPart = false;
  for (let line = nextLine(); !isBoundary(line, false); line = nextLine()) {
    const colon = line.indexOf(":");
    if (colon < 0) {
      throw invalid(`unexpected header line "${line.trim().slice(0, 80)}"`);
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-type") {
      encryptedPart =
        value.toLowerCase() === "application/http-spnego-session-encrypted";
    } else if (name === "originalcontent") {
      const match = /^type=(.*);\s*Length=(\d+)\s*$/i.exec(value);
      if (match === null) {
        throw invalid(`unreadable OriginalContent "${value.slice(0, 80)}"`);
      }
      originalType = match[1]!;
      originalLength = Number(match[2]);
    }
  }
  if (!encryptedPart) {
    throw invalid(
      "the first part is not application/HTTP-SPNEGO-session-encrypted",
    );
  }
  if (originalType === null || originalLength === null) {
    throw invalid("the OriginalContent header is missing");
  }
  const partType = nextLine().trim().toLowerCase().replace(/\s+/g, "");
  if (partType !== "content-type:application/octet-stream") {
    throw invalid("the second part is not application/octet-stream");
  }

  const end = closingBoundaryStart(body, position);
  const data = body.subarray(position, end);
  if (data.length < 4) throw invalid("the signature length is missing");
  const signatureLength = new DataView(data.buffer, data.byteOffset, 4)
    .getUint32(0, true);
  if (
    signatureLength !== SIGNATURE_LENGTH || data.length < 4 + signatureLength
  ) {
    throw invalid(
      `signature length ${signatureLength}, expected ${SIGNATURE_LENGTH}`,
    );
  }
  const signature = data.slice(4, 4 + signatureLength);
  const sealed = data.slice(4 + signatureLength);
  if (sealed.length !== originalLength) {
    throw invalid(
      `${sealed.length} sealed bytes but OriginalContent says Length=${originalLength}`,
    );
  }
  return { signature, sealed, originalType, originalLength };
}

/** Whether an HTTP `Content-Type` header announces an NTLM-encrypted WinRM body. */
export function isEncryptedContentType(value: string | null): boolean {
  if (value === null) return false;
  const normalised = value.toLowerCase().replace(/\s+/g, "");
  return normalised.startsWith("multipart/encrypted;") &&
    normalised.includes('protocol="application/http-spnego-session-encrypted"');
}

/** Seals a SOAP message with the session and frames it; send with {@linkcode ENCRYPTED_CONTENT_TYPE}. */
export function sealBody(
  session: NtlmSession,
  plaintext: Uint8Array,
): Uint8Array {
  const { signature, sealed } = session.seal(plaintext);
  return encodeEncryptedBody({ signature, sealed });
}

/**
 * Decodes an encrypted body, unseals it with the session and verifies its signature.
 *
 * @throws {NtlmError} if the framing, the signature or the sequence number is wrong.
 */
export function unsealBody(session: NtlmSession, body: Uint8Array): Uint8Array {
  const decoded = decodeEncryptedBody(body);
  return session.unseal(decoded.sealed, decoded.signature);
}
