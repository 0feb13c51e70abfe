/**
 * Server side of NTLM for tests (the WinRM wire-level test server reuses it):
 * answer a NEGOTIATE with a CHALLENGE, then verify the AUTHENTICATE's NTLMv2
 * response and MIC against a known password and return the session key for
 * `new NtlmSession({ ..., role: "server" })`.
 *
 * @module
 */
import {
  AV_ID,
  type AvPair,
  encodeAvPairs,
  filetimeNow,
  NTLM_FLAGS,
  parseAuthenticate,
  parseChallenge,
  parseNegotiate,
} from "../../executors/children/winrm/ntlm.ts";
import {
  bytesEqual,
  computeMic,
  concatBytes,
  encryptSessionKey,
  keyExchangeKeyV2,
  NtlmError,
  ntlmV2Response,
  ntowfV2,
  utf16le,
} from "../../executors/children/winrm/ntlm_crypto.ts";

/** Options of {@linkcode buildChallenge}. */
export interface BuildChallengeOptions {
  flags: number;
  /** 8 bytes. */
  serverChallenge: Uint8Array;
  targetName: string;
  /** Without MsvAvEOL. */
  targetInfo: readonly AvPair[];
  /** 8-byte VERSION structure, written when `flags` has VERSION; defaults to 6.1.7601 rev 15. */
  version?: Uint8Array;
}

const SIGNATURE = new TextEncoder().encode("NTLMSSP\0");
const DEFAULT_SERVER_VERSION = new Uint8Array([6, 1, 0xb1, 0x1d, 0, 0, 0, 15]);

/** Builds a CHALLENGE_MESSAGE (type 2): header, version, then target name and target info. */
export function buildChallenge(options: BuildChallengeOptions): Uint8Array {
  const flags = options.flags >>> 0;
  const targetName = (flags & NTLM_FLAGS.UNICODE) !== 0
    ? utf16le(options.targetName)
    : new TextEncoder().encode(options.targetName);
  const targetInfo = encodeAvPairs(options.targetInfo);
  const header = new Uint8Array(56);
  const dv = new DataView(header.buffer);
  header.set(SIGNATURE, 0);
  dv.setUint32(8, 2, true);
  dv.setUint16(12, targetName.length, true);
  dv.setUint16(14, targetName.length, true);
  dv.setUint32(16, 56, true);
  dv.setUint32(20, flags, true);
  header.set(options.serverChallenge, 24);
  dv.setUint16(40, targetInfo.length, true);
  dv.setUint16(42, targetInfo.length, true);
  dv.setUint32(44, 56 + targetName.length, true);
  if ((flags & NTLM_FLAGS.VERSION) !== 0) {
    header.set(options.version ?? DEFAULT_SERVER_VERSION, 48);
  }
  return concatBytes(header, targetName, targetInfo);
}

/** Flags the test server can grant. */
export const SERVER_SUPPORTED_FLAGS: number =
  (NTLM_FLAGS.UNICODE | NTLM_FLAGS.REQUEST_TARGET |
    NTLM_FLAGS.SIGN | NTLM_FLAGS.SEAL | NTLM_FLAGS.NTLM |
    NTLM_FLAGS.ALWAYS_SIGN |
    NTLM_FLAGS.EXTENDED_SESSIONSECURITY | NTLM_FLAGS.TARGET_INFO |
    NTLM_FLAGS.VERSION |
    NTLM_FLAGS.KEY_128 | NTLM_FLAGS.KEY_EXCH | NTLM_FLAGS.KEY_56) >>> 0;

/** Options of {@linkcode respondToNegotiate}. */
export interface RespondToNegotiateOptions {
  /** Defaults to random. */
  serverChallenge?: Uint8Array;
  /** MsvAvTimestamp value; `null` leaves it out (then the client sends no MIC). Defaults to now. */
  timestamp?: Uint8Array | null;
  /** NetBIOS computer name; defaults to "WINRM-TEST". */
  computerName?: string;
  /** NetBIOS domain name; defaults to "WORKGROUP". */
  domainName?: string;
  /** Flags to withhold, e.g. SEAL, to test a client's refusal. */
  withholdFlags?: number;
}

/**
 * Answers a NEGOTIATE with a CHALLENGE granting the requested flags the test
 * server supports, as a Windows server would.
 *
 * @throws {NtlmError} if the NEGOTIATE is malformed.
 */
export function respondToNegotiate(
  negotiate: Uint8Array,
  options: RespondToNegotiateOptions = {},
): Uint8Array {
  const requested = parseNegotiate(negotiate).flags;
  const flags = ((requested & SERVER_SUPPORTED_FLAGS) | NTLM_FLAGS.NTLM |
    NTLM_FLAGS.TARGET_INFO |
    NTLM_FLAGS.TARGET_TYPE_SERVER) & ~(options.withholdFlags ?? 0);
  const computer = options.computerName ?? "WINRM-TEST";
  const targetInfo: AvPair[] = [
    {
      id: AV_ID.NB_DOMAIN_NAME,
      value: utf16le(options.domainName ?? "WORKGROUP"),
    },
    { id: AV_ID.NB_COMPUTER_NAME, value: utf16le(computer) },
    { id: AV_ID.DNS_COMPUTER_NAME, value: utf16le(computer.toLowerCase()) },
  ];
  const timestamp = options.timestamp === undefined
    ? filetimeNow()
    : options.timestamp;
  if (timestamp !== null) {
    targetInfo.push({ id: AV_ID.TIMESTAMP, value: timestamp });
  }
  return buildChallenge({
    flags,
    serverChallenge: options.serverChallenge ??
      crypto.getRandomValues(new Uint8Array(8)),
    targetName: computer,
    targetInfo,
  });
}

/** Options of {@linkcode verifyAuthenticate}. */
export interface VerifyAuthenticateOptions {
  negotiate: Uint8Array;
  challenge: Uint8Array;
  authenticate: Uint8Array;
  /** The account's password; never echoed. */
  password: string;
}

/** A verified client. */
export interface VerifiedAuthenticate {
  user: string;
  domain: string;
  workstation: string;
  flags: number;
  /** For `new NtlmSession({ exportedSessionKey, flags, role: "server" })`. */
  exportedSessionKey: Uint8Array;
  micVerified: boolean;
}

/**
 * Verifies an AUTHENTICATE like a Windows server (MS-NLMP 3.2.5.1.2,
 * 3.2.5.2.2): NTLMv2 only, NTProofStr against the password, then the session
 * key and, whenever the CHALLENGE carried a timestamp, the MIC.
 *
 * @throws {NtlmError} if the response, the MIC or the message is wrong.
 */
export function verifyAuthenticate(
  options: VerifyAuthenticateOptions,
): VerifiedAuthenticate {
  const challenge = parseChallenge(options.challenge);
  const auth = parseAuthenticate(options.authenticate);
  if (auth.ntChallengeResponse.length <= 24) {
    throw new NtlmError(
      "Refused an NTLMv1 response; the client must use NTLMv2",
    );
  }
  const responseKey = ntowfV2(options.password, auth.user, auth.domain);
  const ntProofStr = auth.ntChallengeResponse.subarray(0, 16);
  const expected = ntlmV2Response(
    responseKey,
    challenge.serverChallenge,
    auth.ntChallengeResponse.subarray(16),
  );
  if (!bytesEqual(expected.ntProofStr, ntProofStr)) {
    throw new NtlmError(
      `Rejected the NTLMv2 response of "${auth.user}": wrong password or user name`,
    );
  }
  const keyExchangeKey = keyExchangeKeyV2(expected.sessionBaseKey);
  const wantsKey = (auth.flags & NTLM_FLAGS.KEY_EXCH) !== 0 &&
    (auth.flags & (NTLM_FLAGS.SIGN | NTLM_FLAGS.SEAL)) !== 0;
  if (wantsKey && auth.encryptedRandomSessionKey.length !== 16) {
    throw new NtlmError(
      "Rejected the AUTHENTICATE message: KEY_EXCH is set but the encrypted session key is not 16 bytes",
    );
  }
  const exportedSessionKey = wantsKey
    ? encryptSessionKey(keyExchangeKey, auth.encryptedRandomSessionKey)
    : keyExchangeKey;

  if (challenge.timestamp !== null && auth.mic === null) {
    throw new NtlmError(
      "Rejected the AUTHENTICATE message: the CHALLENGE had a timestamp but the client sent no MIC",
    );
  }
  let micVerified = false;
  if (auth.mic !== null) {
    const zeroed = options.authenticate.slice();
    zeroed.fill(0, auth.micOffset, auth.micOffset + 16);
    const mic = computeMic(
      exportedSessionKey,
      options.negotiate,
      options.challenge,
      zeroed,
    );
    if (!bytesEqual(mic, auth.mic)) {
      throw new NtlmError(
        "Rejected the AUTHENTICATE message: its MIC does not match the three messages",
      );
    }
    micVerified = true;
  }
  return {
    user: auth.user,
    domain: auth.domain,
    workstation: auth.workstation,
    flags: auth.flags,
    exportedSessionKey,
    micVerified,
  };
}
