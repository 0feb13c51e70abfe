/**
 * NTLM message structures (MS-NLMP 2.2): the client's NEGOTIATE and
 * AUTHENTICATE (NTLMv2 with MIC and key exchange), parsing of all three
 * messages for both sides, and the `DOMAIN\user` / `user@domain` split.
 *
 * The client flow is `buildNegotiate()` -> server CHALLENGE ->
 * `buildAuthenticate()` -> `new NtlmSession({ ...result, role: "client" })`.
 * Keep the exact NEGOTIATE and CHALLENGE bytes: the MIC covers them.
 *
 * @module
 */
import {
  computeMic,
  concatBytes,
  encryptSessionKey,
  fromUtf16le,
  keyExchangeKeyV2,
  lmV2Response,
  NtlmError,
  ntlmV2ClientChallenge,
  ntlmV2Response,
  ntowfV2,
  utf16le,
} from "./ntlm_crypto.ts";

/** NEGOTIATE flag bits (MS-NLMP 2.2.2.5). */
export const NTLM_FLAGS = {
  UNICODE: 0x00000001,
  OEM: 0x00000002,
  REQUEST_TARGET: 0x00000004,
  SIGN: 0x00000010,
  SEAL: 0x00000020,
  DATAGRAM: 0x00000040,
  LM_KEY: 0x00000080,
  NTLM: 0x00000200,
  ANONYMOUS: 0x00000800,
  OEM_DOMAIN_SUPPLIED: 0x00001000,
  OEM_WORKSTATION_SUPPLIED: 0x00002000,
  ALWAYS_SIGN: 0x00008000,
  TARGET_TYPE_DOMAIN: 0x00010000,
  TARGET_TYPE_SERVER: 0x00020000,
  EXTENDED_SESSIONSECURITY: 0x00080000,
  IDENTIFY: 0x00100000,
  NON_NT_SESSION_KEY: 0x00400000,
  TARGET_INFO: 0x00800000,
  VERSION: 0x02000000,
  KEY_128: 0x20000000,
  KEY_EXCH: 0x40000000,
  KEY_56: 0x80000000,
} as const;

/**
 * Flags the WinRM client requests (0xe2888235): UNICODE, REQUEST_TARGET, NTLM,
 * ALWAYS_SIGN, EXTENDED_SESSIONSECURITY, TARGET_INFO, VERSION, 128, KEY_EXCH,
 * 56, SIGN and SEAL.
 */
export const WINRM_NEGOTIATE_FLAGS: number =
  (NTLM_FLAGS.UNICODE | NTLM_FLAGS.REQUEST_TARGET |
    NTLM_FLAGS.SIGN | NTLM_FLAGS.SEAL | NTLM_FLAGS.NTLM |
    NTLM_FLAGS.ALWAYS_SIGN |
    NTLM_FLAGS.EXTENDED_SESSIONSECURITY | NTLM_FLAGS.TARGET_INFO |
    NTLM_FLAGS.VERSION |
    NTLM_FLAGS.KEY_128 | NTLM_FLAGS.KEY_EXCH | NTLM_FLAGS.KEY_56) >>> 0;

/** Flags the client refuses to authenticate without: sealing needs all of them. */
export const REQUIRED_SESSION_FLAGS: number =
  (NTLM_FLAGS.UNICODE | NTLM_FLAGS.NTLM | NTLM_FLAGS.SIGN |
    NTLM_FLAGS.SEAL | NTLM_FLAGS.EXTENDED_SESSIONSECURITY | NTLM_FLAGS.KEY_128 |
    NTLM_FLAGS.KEY_EXCH) >>> 0;

/** AV_PAIR identifiers (MS-NLMP 2.2.2.1). */
export const AV_ID = {
  EOL: 0,
  NB_COMPUTER_NAME: 1,
  NB_DOMAIN_NAME: 2,
  DNS_COMPUTER_NAME: 3,
  DNS_DOMAIN_NAME: 4,
  DNS_TREE_NAME: 5,
  FLAGS: 6,
  TIMESTAMP: 7,
  SINGLE_HOST: 8,
  TARGET_NAME: 9,
  CHANNEL_BINDINGS: 10,
} as const;

/** MsvAvFlags bit: the AUTHENTICATE message carries a MIC. */
export const AV_FLAG_MIC_PRESENT = 0x00000002;

/** One AV_PAIR of a target info list; MsvAvEOL is implied, never listed. */
export interface AvPair {
  id: number;
  value: Uint8Array;
}

const SIGNATURE = new Uint8Array([
  0x4e,
  0x54,
  0x4c,
  0x4d,
  0x53,
  0x53,
  0x50,
  0x00,
]); // "NTLMSSP\0"
/** Windows 10.0 build 20348, NTLM revision 15: informational only, servers do not act on it. */
const DEFAULT_VERSION = new Uint8Array([10, 0, 0x7c, 0x4f, 0, 0, 0, 15]);
const AUTHENTICATE_MIC_OFFSET = 72;
const FILETIME_UNIX_EPOCH_MS = 11644473600000n;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function malformedThrow(what: string, detail: string): never {
  throw new NtlmError(
    `Cannot parse the NTLM ${what} message: ${detail}; check that the peer speaks raw NTLMSSP (not SPNEGO-wrapped)`,
  );
}

function checkHeader(
  bytes: Uint8Array,
  type: number,
  what: string,
  minLength: number,
): DataView {
  if (bytes.length < 12) {
    malformedThrow(what, `${bytes.length} bytes is too short`);
  }
  for (let i = 0; i < SIGNATURE.length; i++) {
    if (bytes[i] !== SIGNATURE[i]) {
      malformedThrow(what, "the NTLMSSP signature is missing");
    }
  }
  const dv = view(bytes);
  const actual = dv.getUint32(8, true);
  if (actual !== type) {
    malformedThrow(what, `message type ${actual}, expected ${type}`);
  }
  if (bytes.length < minLength) {
    malformedThrow(what, `${bytes.length} bytes is too short`);
  }
  return dv;
}

/** Reads a (Len, MaxLen, Offset) field descriptor and returns its payload, bounds-checked. */
function readField(
  bytes: Uint8Array,
  at: number,
  what: string,
  name: string,
): Uint8Array {
  const dv = view(bytes);
  const length = dv.getUint16(at, true);
  const offset = dv.getUint32(at + 4, true);
  if (length === 0) return new Uint8Array(0);
  if (offset + length > bytes.length) {
    malformedThrow(
      what,
      `the ${name} field (offset ${offset}, length ${length}) runs past the end`,
    );
  }
  return bytes.slice(offset, offset + length);
}

/** Smallest non-empty payload offset among the field descriptors at `ats`. */
function payloadStart(bytes: Uint8Array, ats: number[]): number {
  const dv = view(bytes);
  let start = bytes.length;
  for (const at of ats) {
    if (dv.getUint16(at, true) > 0) {
      start = Math.min(start, dv.getUint32(at + 4, true));
    }
  }
  return start;
}

function decodeText(bytes: Uint8Array, unicode: boolean): string {
  return unicode ? fromUtf16le(bytes) : new TextDecoder("latin1").decode(bytes);
}

/** Parses a target info list (MS-NLMP 2.2.2.1), stopping at MsvAvEOL. */
export function parseAvPairs(bytes: Uint8Array): AvPair[] {
  const pairs: AvPair[] = [];
  const dv = view(bytes);
  let at = 0;
  while (at + 4 <= bytes.length) {
    const id = dv.getUint16(at, true);
    const length = dv.getUint16(at + 2, true);
    if (id === AV_ID.EOL) return pairs;
    if (at + 4 + length > bytes.length) {
      malformedThrow(
        "target info",
        `AV pair ${id} (length ${length}) runs past the end`,
      );
    }
    pairs.push({ id, value: bytes.slice(at + 4, at + 4 + length) });
    at += 4 + length;
  }
  return malformedThrow("target info", "the MsvAvEOL terminator is missing");
}

/** Serialises AV pairs and appends MsvAvEOL. */
export function encodeAvPairs(pairs: readonly AvPair[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const pair of pairs) {
    if (pair.id === AV_ID.EOL) continue;
    const header = new Uint8Array(4);
    view(header).setUint16(0, pair.id, true);
    view(header).setUint16(2, pair.value.length, true);
    parts.push(header, pair.value);
  }
  parts.push(new Uint8Array(4));
  return concatBytes(...parts);
}

/** The current time as an 8-byte little-endian FILETIME (100 ns ticks since 1601). */
export function filetimeNow(): Uint8Array {
  const out = new Uint8Array(8);
  view(out).setBigUint64(
    0,
    (BigInt(Date.now()) + FILETIME_UNIX_EPOCH_MS) * 10000n,
    true,
  );
  return out;
}

/** Options of {@linkcode buildNegotiate}. */
export interface BuildNegotiateOptions {
  /** Defaults to {@linkcode WINRM_NEGOTIATE_FLAGS}. */
  flags?: number;
  /** 8-byte VERSION structure; defaults to Windows 10.0.20348, revision 15. */
  version?: Uint8Array;
}

/** Builds a NEGOTIATE_MESSAGE (type 1) without domain or workstation (MS-NLMP 2.2.1.1). */
export function buildNegotiate(
  options: BuildNegotiateOptions = {},
): Uint8Array {
  const out = new Uint8Array(40);
  out.set(SIGNATURE, 0);
  const dv = view(out);
  dv.setUint32(8, 1, true);
  dv.setUint32(12, (options.flags ?? WINRM_NEGOTIATE_FLAGS) >>> 0, true);
  // Domain and workstation fields stay empty, with their offsets at the payload start.
  dv.setUint32(20, 40, true);
  dv.setUint32(28, 40, true);
  out.set(options.version ?? DEFAULT_VERSION, 32);
  return out;
}

/** A parsed NEGOTIATE_MESSAGE. */
export interface NegotiateMessage {
  flags: number;
  /** OEM domain name, when OEM_DOMAIN_SUPPLIED is set; else "". */
  domain: string;
  /** OEM workstation name, when OEM_WORKSTATION_SUPPLIED is set; else "". */
  workstation: string;
  version: Uint8Array | null;
}

/**
 * Parses a NEGOTIATE_MESSAGE (type 1); used by the server side.
 *
 * @throws {NtlmError} if the message is malformed.
 */
export function parseNegotiate(bytes: Uint8Array): NegotiateMessage {
  const dv = checkHeader(bytes, 1, "NEGOTIATE", 16);
  const flags = dv.getUint32(12, true);
  const hasFields = bytes.length >= 32;
  const domain = hasFields && (flags & NTLM_FLAGS.OEM_DOMAIN_SUPPLIED) !== 0
    ? decodeText(readField(bytes, 16, "NEGOTIATE", "DomainName"), false)
    : "";
  const workstation =
    hasFields && (flags & NTLM_FLAGS.OEM_WORKSTATION_SUPPLIED) !== 0
      ? decodeText(readField(bytes, 24, "NEGOTIATE", "Workstation"), false)
      : "";
  const version = (flags & NTLM_FLAGS.VERSION) !== 0 && bytes.length >= 40
    ? bytes.slice(32, 40)
    : null;
  return { flags, domain, workstation, version };
}

/** A parsed CHALLENGE_MESSAGE (type 2). */
export interface ChallengeMessage {
  flags: number;
  serverChallenge: Uint8Array;
  targetName: string;
  /** AV pairs without MsvAvEOL. */
  targetInfo: AvPair[];
  /** The TargetInfo field as received. */
  targetInfoBytes: Uint8Array;
  version: Uint8Array | null;
  /** The MsvAvTimestamp value, when the server sent one (then a MIC is required). */
  timestamp: Uint8Array | null;
}

/**
 * Parses a CHALLENGE_MESSAGE (type 2) including its target info AV pairs.
 *
 * @throws {NtlmError} if the message is malformed.
 */
export function parseChallenge(bytes: Uint8Array): ChallengeMessage {
  const what = "CHALLENGE";
  const dv = checkHeader(bytes, 2, what, 48);
  const flags = dv.getUint32(20, true);
  const unicode = (flags & NTLM_FLAGS.UNICODE) !== 0;
  const targetName = decodeText(
    readField(bytes, 12, what, "TargetName"),
    unicode,
  );
  const targetInfoBytes = readField(bytes, 40, what, "TargetInfo");
  const targetInfo = targetInfoBytes.length > 0
    ? parseAvPairs(targetInfoBytes)
    : [];
  const hasVersion = (flags & NTLM_FLAGS.VERSION) !== 0 &&
    payloadStart(bytes, [12, 40]) >= 56;
  const timestampPair = targetInfo.find((pair) => pair.id === AV_ID.TIMESTAMP);
  if (timestampPair !== undefined && timestampPair.value.length !== 8) {
    malformedThrow(
      what,
      `MsvAvTimestamp has ${timestampPair.value.length} bytes, not 8`,
    );
  }
  return {
    flags,
    serverChallenge: bytes.slice(24, 32),
    targetName,
    targetInfo,
    targetInfoBytes,
    version: hasVersion ? bytes.slice(48, 56) : null,
    timestamp: timestampPair?.value ?? null,
  };
}

/** Options of {@linkcode buildAuthenticate}. */
export interface BuildAuthenticateOptions {
  /** The NEGOTIATE message exactly as sent; its flags are the requested ones. */
  negotiate: Uint8Array;
  /** The CHALLENGE message exactly as received. */
  challenge: Uint8Array;
  /** User name without domain (see {@linkcode parseWindowsUser}). */
  user: string;
  /** Logon domain as the account's domain knows it; "" or "." for a local account is the caller's choice. */
  domain: string;
  /** Never logged, never put in an error. */
  password: string;
  /** Client workstation name; defaults to "". */
  workstation?: string;
  /** SPN such as `HTTP/host.example.com`, sent as MsvAvTargetName when given. */
  targetName?: string;
  /** 8-byte VERSION structure; defaults to Windows 10.0.20348, revision 15. */
  version?: Uint8Array;
  /** Test only: the 8-byte client challenge; defaults to random. */
  clientChallenge?: Uint8Array;
  /** Test only: the 16-byte ExportedSessionKey; defaults to random. */
  exportedSessionKey?: Uint8Array;
  /** Test only: FILETIME used when the CHALLENGE has no MsvAvTimestamp; defaults to now. */
  timestamp?: Uint8Array;
}

/** The AUTHENTICATE message and what the client's {@linkcode NtlmSession} needs. */
export interface AuthenticateResult {
  message: Uint8Array;
  /** The session key (secret): pass to `NtlmSession`, then drop. */
  exportedSessionKey: Uint8Array;
  /** NegotiateFlags of the AUTHENTICATE message. */
  flags: number;
  /** Whether a MIC was computed (the CHALLENGE had MsvAvTimestamp). */
  micPresent: boolean;
}

function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}

function describeFlags(flags: number): string {
  return Object.entries(NTLM_FLAGS)
    .filter(([, bit]) => (flags & bit) !== 0)
    .map(([name]) => name)
    .join(", ");
}

/**
 * The AV pairs the client returns in its NTLMv2 response: the server's as
 * received, plus the MIC bit in MsvAvFlags when the server sent a timestamp
 * and MsvAvTargetName when an SPN is given. No MsvAvChannelBindings: over
 * plain HTTP there are none, and a zeroed one is not treated as absent.
 */
function clientTargetInfo(
  challenge: ChallengeMessage,
  targetName: string | undefined,
): Uint8Array {
  const micPresent = challenge.timestamp !== null;
  if (!micPresent && targetName === undefined) {
    return challenge.targetInfoBytes.length > 0
      ? challenge.targetInfoBytes
      : encodeAvPairs([]);
  }
  const flagsPair = challenge.targetInfo.find((pair) =>
    pair.id === AV_ID.FLAGS
  );
  const pairs = challenge.targetInfo.filter((pair) =>
    pair.id !== AV_ID.FLAGS &&
    !(targetName !== undefined && pair.id === AV_ID.TARGET_NAME)
  );
  if (flagsPair !== undefined || micPresent) {
    let avFlags = flagsPair?.value.length === 4
      ? view(flagsPair.value).getUint32(0, true)
      : 0;
    if (micPresent) avFlags |= AV_FLAG_MIC_PRESENT;
    const value = new Uint8Array(4);
    view(value).setUint32(0, avFlags >>> 0, true);
    pairs.push({ id: AV_ID.FLAGS, value });
  }
  if (targetName !== undefined) {
    pairs.push({ id: AV_ID.TARGET_NAME, value: utf16le(targetName) });
  }
  return encodeAvPairs(pairs);
}

/**
 * Builds the NTLMv2 AUTHENTICATE_MESSAGE (type 3, MS-NLMP 3.1.5.1.2) with
 * KEY_EXCH: a random ExportedSessionKey sent as RC4K(KeyExchangeKey, key).
 * When the CHALLENGE carries MsvAvTimestamp, its time is used, MsvAvFlags gets
 * the MIC bit, the LM response is 24 zero bytes, and the MIC covers all three
 * messages. The flags are the requested ones the server granted
 * (REQUEST_TARGET is kept, as in the MS-NLMP 4.2.4 example).
 *
 * @throws {NtlmError} if a message is malformed or the server refused a flag sealing needs.
 */
export function buildAuthenticate(
  options: BuildAuthenticateOptions,
): AuthenticateResult {
  const negotiate = parseNegotiate(options.negotiate);
  const challenge = parseChallenge(options.challenge);
  const flags =
    (negotiate.flags & (challenge.flags | NTLM_FLAGS.REQUEST_TARGET)) >>> 0;
  const missing = (REQUIRED_SESSION_FLAGS & ~flags) >>> 0;
  if (missing !== 0) {
    throw new NtlmError(
      `Cannot authenticate with NTLM: the server did not grant ${
        describeFlags(missing)
      }; message encryption needs NTLMv2 with 128-bit key exchange, so enable it on the WinRM listener or use HTTPS`,
    );
  }

  const clientChallenge = options.clientChallenge ?? randomBytes(8);
  const exportedSessionKey = options.exportedSessionKey ?? randomBytes(16);
  const micPresent = challenge.timestamp !== null;

  const targetInfo = clientTargetInfo(challenge, options.targetName);

  const responseKey = ntowfV2(options.password, options.user, options.domain);
  const temp = ntlmV2ClientChallenge({
    timestamp: challenge.timestamp ?? options.timestamp ?? filetimeNow(),
    clientChallenge,
    targetInfo,
  });
  const response = ntlmV2Response(responseKey, challenge.serverChallenge, temp);
  const lmResponse = micPresent
    ? new Uint8Array(24)
    : lmV2Response(responseKey, challenge.serverChallenge, clientChallenge);
  const encryptedKey = encryptSessionKey(
    keyExchangeKeyV2(response.sessionBaseKey),
    exportedSessionKey,
  );

  const headerLength = micPresent
    ? AUTHENTICATE_MIC_OFFSET + 16
    : AUTHENTICATE_MIC_OFFSET;
  // Payload order as in MS-NLMP 4.2.4.3: domain, user, workstation, LM, NT, session key.
  const fields: Array<[number, Uint8Array]> = [
    [28, utf16le(options.domain)],
    [36, utf16le(options.user)],
    [44, utf16le(options.workstation ?? "")],
    [12, lmResponse],
    [20, response.ntChallengeResponse],
    [52, encryptedKey],
  ];
  const payload = concatBytes(...fields.map(([, value]) => value));
  const message = new Uint8Array(headerLength + payload.length);
  const dv = view(message);
  message.set(SIGNATURE, 0);
  dv.setUint32(8, 3, true);
  let offset = headerLength;
  for (const [at, value] of fields) {
    dv.setUint16(at, value.length, true);
    dv.setUint16(at + 2, value.length, true);
    dv.setUint32(at + 4, offset, true);
    offset += value.length;
  }
  dv.setUint32(60, flags, true);
  if ((flags & NTLM_FLAGS.VERSION) !== 0) {
    message.set(options.version ?? DEFAULT_VERSION, 64);
  }
  message.set(payload, headerLength);
  if (micPresent) {
    message.set(
      computeMic(
        exportedSessionKey,
        options.negotiate,
        options.challenge,
        message,
      ),
      AUTHENTICATE_MIC_OFFSET,
    );
  }
  return { message, exportedSessionKey, flags, micPresent };
}

/** A parsed AUTHENTICATE_MESSAGE (type 3). */
export interface AuthenticateMessage {
  flags: number;
  lmChallengeResponse: Uint8Array;
  ntChallengeResponse: Uint8Array;
  domain: string;
  user: string;
  workstation: string;
  encryptedRandomSessionKey: Uint8Array;
  version: Uint8Array | null;
  /** AV pairs of the NTLMv2 response (empty for a non-NTLMv2 response). */
  clientTargetInfo: AvPair[];
  /** The MIC, when MsvAvFlags announces one. */
  mic: Uint8Array | null;
  /** Byte offset of the MIC field (72), for zeroing before verification. */
  micOffset: number;
}

/**
 * Parses an AUTHENTICATE_MESSAGE (type 3); used by the server side.
 *
 * @throws {NtlmError} if the message is malformed.
 */
export function parseAuthenticate(bytes: Uint8Array): AuthenticateMessage {
  const what = "AUTHENTICATE";
  const dv = checkHeader(bytes, 3, what, 64);
  const flags = dv.getUint32(60, true);
  const unicode = (flags & NTLM_FLAGS.UNICODE) !== 0;
  const ntChallengeResponse = readField(bytes, 20, what, "NtChallengeResponse");
  // NTLMv2_RESPONSE: NTProofStr(16) + header(28) + AV pairs + Z(4).
  const clientTargetInfo = ntChallengeResponse.length > 48
    ? parseAvPairs(
      ntChallengeResponse.subarray(44, ntChallengeResponse.length - 4),
    )
    : [];
  const flagsPair = clientTargetInfo.find((pair) => pair.id === AV_ID.FLAGS);
  const micAnnounced = flagsPair !== undefined &&
    flagsPair.value.length === 4 &&
    (view(flagsPair.value).getUint32(0, true) & AV_FLAG_MIC_PRESENT) !== 0;
  const start = payloadStart(bytes, [12, 20, 28, 36, 44, 52]);
  if (micAnnounced && start < AUTHENTICATE_MIC_OFFSET + 16) {
    malformedThrow(
      what,
      "MsvAvFlags announces a MIC but the payload leaves no room for it",
    );
  }
  return {
    flags,
    lmChallengeResponse: readField(bytes, 12, what, "LmChallengeResponse"),
    ntChallengeResponse,
    domain: decodeText(readField(bytes, 28, what, "DomainName"), unicode),
    user: decodeText(readField(bytes, 36, what, "UserName"), unicode),
    workstation: decodeText(readField(bytes, 44, what, "Workstation"), unicode),
    encryptedRandomSessionKey: readField(
      bytes,
      52,
      what,
      "EncryptedRandomSessionKey",
    ),
    version: start >= 72 && (flags & NTLM_FLAGS.VERSION) !== 0
      ? bytes.slice(64, 72)
      : null,
    clientTargetInfo,
    mic: micAnnounced
      ? bytes.slice(AUTHENTICATE_MIC_OFFSET, AUTHENTICATE_MIC_OFFSET + 16)
      : null,
    micOffset: AUTHENTICATE_MIC_OFFSET,
  };
}

/** A Windows account name split into NTLM's user and domain fields. */
export interface WindowsUser {
  user: string;
  domain: string;
}

/**
 * Splits `DOMAIN\user` or `user@domain` (UPN) into user and domain; a bare
 * `user` gets `defaultDomain` (or ""). `DOMAIN\` wins over `@`.
 *
 * @throws {TypeError} if the user or the domain part is empty.
 */
export function parseWindowsUser(
  name: string,
  defaultDomain = "",
): WindowsUser {
  const backslash = name.indexOf("\\");
  let user = name;
  let domain = defaultDomain;
  if (backslash >= 0) {
    domain = name.slice(0, backslash);
    user = name.slice(backslash + 1);
  } else {
    const at = name.lastIndexOf("@");
    if (at >= 0) {
      user = name.slice(0, at);
      domain = name.slice(at + 1);
    }
  }
  if (
    user === "" || (domain === "" && (backslash >= 0 || name.includes("@")))
  ) {
    throw new TypeError(
      `Cannot use the Windows account name "${name}"; write it as DOMAIN\\user, user@domain or user`,
    );
  }
  return { user, domain };
}
