/**
 * NTLMv2 key derivation and NTLM session security with extended session
 * security (MS-NLMP 3.3.2, 3.4.4.2, 3.4.5), checked against the MS-NLMP 4.2.4
 * vectors in `tests/executors/children/winrm/ntlm_test.ts`.
 *
 * MD4, MD5 and HMAC-MD5 come from `node:crypto`; RC4 from `./rc4.ts`. Nothing
 * here reads files or the environment, and no function logs or echoes a
 * password or a key.
 *
 * @module
 */
import { joinBytes } from "./join_bytes.ts";
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { Rc4, rc4k } from "./rc4.ts";

/** NEGOTIATE flag bits (MS-NLMP 2.2.2.5) that session security depends on. */
export const SESSION_FLAGS = {
  SIGN: 0x00000010,
  SEAL: 0x00000020,
  EXTENDED_SESSIONSECURITY: 0x00080000,
  KEY_128: 0x20000000,
  KEY_EXCH: 0x40000000,
  KEY_56: 0x80000000,
} as const;

/** Which side of the connection a key or an RC4 handle belongs to. */
export type NtlmDirection = "client-to-server" | "server-to-client";

/** Length of an NTLM message signature (NTLMSSP_MESSAGE_SIGNATURE with ESS). */
export const SIGNATURE_LENGTH = 16;

/** Thrown for an NTLM failure a caller handles: a malformed or refused message, a bad response, MIC or signature. */
export class NtlmError extends Error {
  /** Creates the error; `cause` carries a lower-level error when there is one. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NtlmError";
  }
}

/** Concatenates byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return joinBytes(parts);
}

/** Encodes a string as UTF-16LE, the NTLM "Unicode" encoding. */
export function utf16le(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    out[2 * i] = unit & 0xff;
    out[2 * i + 1] = unit >>> 8;
  }
  return out;
}

/** Decodes UTF-16LE bytes. */
export function fromUtf16le(bytes: Uint8Array): string {
  return new TextDecoder("utf-16le").decode(bytes);
}

/**
 * Uppercases per character, keeping a character whose uppercase form has a
 * different length (e.g. "ß"), as Windows' fixed-length upcase table does.
 */
function upcaseLikeWindows(text: string): string {
  let out = "";
  for (const char of text) {
    const upper = char.toUpperCase();
    out += upper.length === char.length ? upper : char;
  }
  return out;
}

function digest(algorithm: "md4" | "md5", data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(algorithm).update(data).digest());
}

/** MD5 of the concatenated parts. */
export function md5(...parts: Uint8Array[]): Uint8Array {
  return digest("md5", concatBytes(...parts));
}

/** HMAC-MD5 of the concatenated parts. */
export function hmacMd5(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const mac = createHmac("md5", key);
  for (const part of parts) mac.update(part);
  return new Uint8Array(mac.digest());
}

/** Constant-time equality of two byte arrays (false when the lengths differ). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** NTOWFv1 (MS-NLMP 3.3.1): MD4 of the UTF-16LE password, the NT hash. */
export function ntowfV1(password: string): Uint8Array {
  return digest("md4", utf16le(password));
}

/**
 * NTOWFv2 = ResponseKeyNT = ResponseKeyLM (MS-NLMP 3.3.2):
 * `HMAC_MD5(NTOWFv1(password), UTF16LE(Uppercase(user) + domain))`.
 * The domain is used as given, not uppercased.
 */
export function ntowfV2(
  password: string,
  user: string,
  domain: string,
): Uint8Array {
  return hmacMd5(ntowfV1(password), utf16le(upcaseLikeWindows(user) + domain));
}

/** Inputs of the NTLMv2 client challenge (MS-NLMP 2.2.2.7). */
export interface NtlmV2ClientChallengeOptions {
  /** FILETIME, 8 bytes little-endian: the CHALLENGE's MsvAvTimestamp, or the client's clock. */
  timestamp: Uint8Array;
  /** 8 random bytes chosen by the client. */
  clientChallenge: Uint8Array;
  /** AV pairs, ending with MsvAvEOL, exactly as they are to be sent. */
  targetInfo: Uint8Array;
}

/** The `temp` blob of MS-NLMP 3.3.2 (NTLMv2_CLIENT_CHALLENGE plus 4 trailing zero bytes). */
export function ntlmV2ClientChallenge(
  options: NtlmV2ClientChallengeOptions,
): Uint8Array {
  if (options.timestamp.length !== 8 || options.clientChallenge.length !== 8) {
    throw new RangeError(
      "Cannot build the NTLMv2 client challenge; the timestamp and client challenge must be 8 bytes each",
    );
  }
  return concatBytes(
    new Uint8Array([1, 1, 0, 0, 0, 0, 0, 0]),
    options.timestamp,
    options.clientChallenge,
    new Uint8Array(4),
    options.targetInfo,
    new Uint8Array(4),
  );
}

/** NTLMv2 response values (MS-NLMP 3.3.2). */
export interface NtlmV2Response {
  /** `HMAC_MD5(ResponseKeyNT, ServerChallenge || temp)`. */
  ntProofStr: Uint8Array;
  /** NtChallengeResponse = NTProofStr || temp. */
  ntChallengeResponse: Uint8Array;
  /** `HMAC_MD5(ResponseKeyNT, NTProofStr)`; for NTLMv2 also the KeyExchangeKey. */
  sessionBaseKey: Uint8Array;
}

/** Computes the NTLMv2 NT response and session base key from ResponseKeyNT (`ntowfV2`). */
export function ntlmV2Response(
  responseKeyNt: Uint8Array,
  serverChallenge: Uint8Array,
  temp: Uint8Array,
): NtlmV2Response {
  const ntProofStr = hmacMd5(responseKeyNt, serverChallenge, temp);
  return {
    ntProofStr,
    ntChallengeResponse: concatBytes(ntProofStr, temp),
    sessionBaseKey: hmacMd5(responseKeyNt, ntProofStr),
  };
}

/** LMv2 response (MS-NLMP 3.3.2): `HMAC_MD5(ResponseKeyLM, ServerChallenge || ClientChallenge) || ClientChallenge`. */
export function lmV2Response(
  responseKeyLm: Uint8Array,
  serverChallenge: Uint8Array,
  clientChallenge: Uint8Array,
): Uint8Array {
  return concatBytes(
    hmacMd5(responseKeyLm, serverChallenge, clientChallenge),
    clientChallenge,
  );
}

/** KXKEY for NTLMv2 (MS-NLMP 3.4.5.1): the session base key itself (a copy). */
export function keyExchangeKeyV2(sessionBaseKey: Uint8Array): Uint8Array {
  return sessionBaseKey.slice();
}

/**
 * EncryptedRandomSessionKey = RC4K(KeyExchangeKey, ExportedSessionKey); the
 * same call decrypts it on the server side.
 */
export function encryptSessionKey(
  keyExchangeKey: Uint8Array,
  exportedSessionKey: Uint8Array,
): Uint8Array {
  return rc4k(keyExchangeKey, exportedSessionKey);
}

/** MIC = HMAC_MD5(ExportedSessionKey, NEGOTIATE || CHALLENGE || AUTHENTICATE with a zeroed MIC field). */
export function computeMic(
  exportedSessionKey: Uint8Array,
  negotiate: Uint8Array,
  challenge: Uint8Array,
  authenticate: Uint8Array,
): Uint8Array {
  return hmacMd5(exportedSessionKey, negotiate, challenge, authenticate);
}

const ASCII = new TextEncoder();

function magic(
  direction: NtlmDirection,
  purpose: "signing" | "sealing",
): Uint8Array {
  return ASCII.encode(
    `session key to ${direction} ${purpose} key magic constant\0`,
  );
}

function requireEss(flags: number): void {
  if ((flags & SESSION_FLAGS.EXTENDED_SESSIONSECURITY) === 0) {
    throw new NtlmError(
      "Cannot derive NTLM session keys without extended session security; negotiate NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY (NTLMv1-style sealing is not supported)",
    );
  }
}

/** SIGNKEY with extended session security (MS-NLMP 3.4.5.2): MD5(ExportedSessionKey || magic). */
export function signKey(
  exportedSessionKey: Uint8Array,
  flags: number,
  direction: NtlmDirection,
): Uint8Array {
  requireEss(flags);
  return md5(exportedSessionKey, magic(direction, "signing"));
}

/**
 * SEALKEY with extended session security (MS-NLMP 3.4.5.3): MD5 of the first
 * 16, 7 or 5 bytes of ExportedSessionKey (128-, 56- or 40-bit per `flags`) and
 * the magic constant.
 */
export function sealKey(
  exportedSessionKey: Uint8Array,
  flags: number,
  direction: NtlmDirection,
): Uint8Array {
  requireEss(flags);
  const length = (flags & SESSION_FLAGS.KEY_128) !== 0
    ? 16
    : (flags & SESSION_FLAGS.KEY_56) !== 0
    ? 7
    : 5;
  return md5(
    exportedSessionKey.subarray(0, length),
    magic(direction, "sealing"),
  );
}

function uint32le(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, true);
  return out;
}

/** A message sealed by one direction. */
export interface SealedMessage {
  /** NTLMSSP_MESSAGE_SIGNATURE: version 1, 8-byte checksum, 4-byte sequence number. */
  signature: Uint8Array;
  /** RC4-encrypted message, as long as the plaintext. */
  sealed: Uint8Array;
}

/** Keys of one direction, from `signKey` and `sealKey`. */
export interface SealingChannelOptions {
  signKey: Uint8Array;
  sealKey: Uint8Array;
  /** True when NTLMSSP_NEGOTIATE_KEY_EXCH was negotiated: the checksum is then RC4-encrypted too. */
  keyExchange: boolean;
}

/**
 * One direction of NTLM session security with extended session security: a
 * single RC4 handle kept for the whole context and a sequence number starting
 * at 0. The sender seals, the receiver unseals with a channel built from the
 * same keys.
 */
export class SealingChannel {
  #signKey: Uint8Array;
  #rc4: Rc4;
  #keyExchange: boolean;
  #sequence = 0;

  /** Creates the channel; the keys are copied. */
  constructor(options: SealingChannelOptions) {
    this.#signKey = options.signKey.slice();
    this.#rc4 = new Rc4(options.sealKey);
    this.#keyExchange = options.keyExchange;
  }

  /** The sequence number the next message will carry. */
  get sequence(): number {
    return this.#sequence;
  }

  #nextSequence(): Uint8Array {
    if (this.#sequence > 0xffffffff) {
      throw new NtlmError(
        "Cannot seal more NTLM messages: the sequence number is exhausted; authenticate again",
      );
    }
    const seq = uint32le(this.#sequence);
    this.#sequence += 1;
    return seq;
  }

  #signature(seq: Uint8Array, plaintext: Uint8Array): Uint8Array {
    let checksum = hmacMd5(this.#signKey, seq, plaintext).subarray(0, 8);
    if (this.#keyExchange) checksum = this.#rc4.update(checksum);
    return concatBytes(uint32le(1), checksum, seq);
  }

  /** SEAL (MS-NLMP 3.4.3): encrypts, then signs the plaintext with the same RC4 handle. */
  seal(plaintext: Uint8Array): SealedMessage {
    const seq = this.#nextSequence();
    const sealed = this.#rc4.update(plaintext);
    return { signature: this.#signature(seq, plaintext), sealed };
  }

  /**
   * Decrypts and verifies one message against the expected sequence number.
   * The RC4 handle advances even on failure, so after a throw this channel is
   * out of step with the peer and must be discarded.
   *
   * @throws {NtlmError} if the signature, its checksum or its sequence number does not match.
   */
  unseal(sealed: Uint8Array, signature: Uint8Array): Uint8Array {
    if (signature.length !== SIGNATURE_LENGTH) {
      throw new NtlmError(
        `Cannot verify an NTLM message: its signature has ${signature.length} bytes, not ${SIGNATURE_LENGTH}; check the message framing`,
      );
    }
    const expectedSequence = this.#sequence;
    const seq = this.#nextSequence();
    const plaintext = this.#rc4.update(sealed);
    const expected = this.#signature(seq, plaintext);
    if (!bytesEqual(expected, signature)) {
      const view = new DataView(
        signature.buffer,
        signature.byteOffset,
        signature.byteLength,
      );
      const version = view.getUint32(0, true);
      const received = view.getUint32(12, true);
      const detail = version !== 1
        ? `signature version ${version}, expected 1`
        : received !== expectedSequence
        ? `sequence number ${received}, expected ${expectedSequence}`
        : "checksum mismatch";
      throw new NtlmError(
        `Rejected an NTLM-sealed message (${detail}); the message was altered, replayed or reordered: drop the connection and authenticate again`,
      );
    }
    return plaintext;
  }
}
