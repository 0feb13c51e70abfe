import assert from "node:assert/strict";
import { createCipheriv, createHash } from "node:crypto";
import {
  type AuthenticateResult,
  AV_ID,
  buildAuthenticate,
  buildNegotiate,
  NTLM_FLAGS,
  parseAuthenticate,
  parseAvPairs,
  parseChallenge,
  parseNegotiate,
  parseWindowsUser,
  WINRM_NEGOTIATE_FLAGS,
} from "../../../../executors/children/winrm/ntlm.ts";
import {
  concatBytes,
  encryptSessionKey,
  hmacMd5,
  keyExchangeKeyV2,
  lmV2Response,
  md5,
  NtlmError,
  ntlmV2ClientChallenge,
  ntlmV2Response,
  ntowfV1,
  ntowfV2,
  SealingChannel,
  sealKey,
  signKey,
  utf16le,
} from "../../../../executors/children/winrm/ntlm_crypto.ts";
import type { NtlmSession } from "../../../../executors/children/winrm/ntlm_session.ts";
import { Rc4, rc4k } from "../../../../executors/children/winrm/rc4.ts";
import {
  buildChallenge,
  respondToNegotiate,
  type VerifiedAuthenticate,
  verifyAuthenticate,
  type VerifyAuthenticateOptions,
} from "../../../support/ntlm_server.ts";
import { type NtlmKeys, ntlmSession, ntlmSessions } from "../_winrm.ts";

const FIXTURES = new URL(
  "../../../testdata/winrm/",
  import.meta.url,
);
const vectors = JSON.parse(
  await Deno.readTextFile(new URL("ms-nlmp-vectors.json", FIXTURES)),
);
const common = vectors.common_inputs_4_2_1;
const v1 = vectors.ntlmv1_4_2_2;
const v1Ess = vectors.ntlmv1_with_client_challenge_ess_4_2_3;
const v2 = vectors.ntlmv2_4_2_4;
const derived: Array<
  {
    direction: string;
    seq: number;
    plaintext_hex: string;
    sealed_hex: string;
    signature_hex: string;
  }
> = vectors.derived_not_from_source.messages;

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function unhex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

function flagsOf(hexLe: string): number {
  return new DataView(unhex(hexLe).buffer).getUint32(0, true);
}

/** The flag strings in the JSON are uint32 values written big-endian ("e28a8233"). */
function flagsBe(text: string): number {
  return parseInt(text, 16) >>> 0;
}

const PASSWORD: string = common.password;
const USER: string = common.user;
const DOMAIN: string = common.user_domain;
const SERVER_CHALLENGE = unhex(common.server_challenge);
const CLIENT_CHALLENGE = unhex(common.client_challenge);
const SESSION_KEY = unhex(common.random_session_key);
const TIME = unhex(common.time);
const PLAINTEXT = unhex(common.plaintext_utf16le);
const V2_CHALLENGE_FLAGS = flagsBe(v2.challenge_negotiate_flags);
const V2_AUTH_FLAGS = flagsBe(v2.authenticate_negotiate_flags);
/** The 4.2.4 session key with the flags of its AUTHENTICATE_MESSAGE. */
const V2_KEYS: NtlmKeys = {
  exportedSessionKey: SESSION_KEY,
  flags: V2_AUTH_FLAGS,
};

// ---------------------------------------------------------------- NTLMv2 (MS-NLMP 4.2.4)

Deno.test("ntlm vectors: the JSON flags match the documented NTLM_FLAGS values", () => {
  assert.equal(flagsOf("33828ae2"), V2_CHALLENGE_FLAGS);
  assert.equal(V2_AUTH_FLAGS, WINRM_NEGOTIATE_FLAGS);
  assert.equal(
    V2_CHALLENGE_FLAGS,
    (NTLM_FLAGS.KEY_56 | NTLM_FLAGS.KEY_EXCH | NTLM_FLAGS.KEY_128 |
      NTLM_FLAGS.VERSION | NTLM_FLAGS.TARGET_INFO |
      NTLM_FLAGS.EXTENDED_SESSIONSECURITY | NTLM_FLAGS.TARGET_TYPE_SERVER |
      NTLM_FLAGS.ALWAYS_SIGN |
      NTLM_FLAGS.NTLM | NTLM_FLAGS.SEAL | NTLM_FLAGS.SIGN | NTLM_FLAGS.OEM |
      NTLM_FLAGS.UNICODE) >>> 0,
  );
});

Deno.test("ntowfV2() reproduces MS-NLMP 4.2.4 NTOWFv2 (ResponseKeyNT)", () => {
  assert.equal(
    hex(ntowfV2(PASSWORD, USER, DOMAIN)),
    v2.ntowfv2_response_key_nt,
  );
});

Deno.test("ntlmV2Response() reproduces the 4.2.4 temp blob, NTProofStr, NT response and session base key", () => {
  const temp = ntlmV2ClientChallenge({
    timestamp: TIME,
    clientChallenge: CLIENT_CHALLENGE,
    targetInfo: unhex(v2.target_info_av_pairs),
  });
  assert.equal(hex(temp), v2.temp_blob);
  const response = ntlmV2Response(
    ntowfV2(PASSWORD, USER, DOMAIN),
    SERVER_CHALLENGE,
    temp,
  );
  assert.equal(hex(response.ntProofStr), v2.nt_proof_str);
  assert.equal(hex(response.ntChallengeResponse), v2.nt_challenge_response);
  assert.equal(
    hex(response.sessionBaseKey),
    v2.session_base_key_and_key_exchange_key,
  );
  assert.equal(
    hex(keyExchangeKeyV2(response.sessionBaseKey)),
    v2.session_base_key_and_key_exchange_key,
  );
});

Deno.test("lmV2Response() reproduces the 4.2.4 LMv2 response", () => {
  assert.equal(
    hex(
      lmV2Response(
        ntowfV2(PASSWORD, USER, DOMAIN),
        SERVER_CHALLENGE,
        CLIENT_CHALLENGE,
      ),
    ),
    v2.lmv2_challenge_response,
  );
});

Deno.test("encryptSessionKey() reproduces the 4.2.4 EncryptedRandomSessionKey and decrypts it back", () => {
  const kxkey = unhex(v2.session_base_key_and_key_exchange_key);
  const encrypted = encryptSessionKey(kxkey, SESSION_KEY);
  assert.equal(hex(encrypted), v2.encrypted_random_session_key);
  assert.equal(
    hex(encryptSessionKey(kxkey, encrypted)),
    common.random_session_key,
  );
});

Deno.test("signKey() and sealKey() reproduce the 4.2.4 keys of both directions at 128, 56 and 40 bits", () => {
  const flags128 = V2_CHALLENGE_FLAGS;
  const flags56 = (flags128 & ~NTLM_FLAGS.KEY_128) >>> 0;
  const flags40 = (flags56 & ~NTLM_FLAGS.KEY_56) >>> 0;
  /** The client-to-server and server-to-client keys `derive` makes, as hex. */
  const bothWays = (
    derive: typeof signKey | typeof sealKey,
    flags: number,
  ): string[] =>
    (["client-to-server", "server-to-client"] as const).map((direction) =>
      hex(derive(SESSION_KEY, flags, direction))
    );
  assert.deepEqual(
    {
      sign128: bothWays(signKey, flags128),
      seal128: bothWays(sealKey, flags128),
      seal56: bothWays(sealKey, flags56),
      seal40: bothWays(sealKey, flags40),
    },
    {
      sign128: [v2.client_signing_key, v2.server_signing_key],
      seal128: [v2.client_sealing_key_128, v2.server_sealing_key_128],
      seal56: [v2.client_sealing_key_56, v2.server_sealing_key_56],
      seal40: [v2.client_sealing_key_40, v2.server_sealing_key_40],
    },
  );
});

Deno.test("NtlmSession.seal() reproduces the 4.2.4 sealed message and signature, with and without KEY_EXCH", () => {
  const withKeyExch = ntlmSession("client", V2_KEYS);
  const sealed = withKeyExch.seal(PLAINTEXT);
  assert.equal(hex(sealed.sealed), v2.client_seq0_sealed_plaintext);
  assert.equal(hex(sealed.signature), v2.client_seq0_signature_key_exch);
  assert.equal(withKeyExch.outboundSequence, 1);

  const noKeyExch = ntlmSession("client", {
    ...V2_KEYS,
    flags: (V2_AUTH_FLAGS & ~NTLM_FLAGS.KEY_EXCH) >>> 0,
  });
  const plain = noKeyExch.seal(PLAINTEXT);
  assert.equal(hex(plain.sealed), v2.client_seq0_sealed_plaintext);
  assert.equal(hex(plain.signature), v2.client_seq0_signature_no_key_exch);
});

Deno.test("buildChallenge() and parseChallenge() reproduce the 4.2.4 CHALLENGE_MESSAGE", () => {
  const expected = unhex(v2.challenge_message);
  const parsed = parseChallenge(expected);
  assert.equal(parsed.flags, V2_CHALLENGE_FLAGS);
  assert.equal(hex(parsed.serverChallenge), common.server_challenge);
  assert.equal(parsed.targetName, common.server_name);
  assert.equal(hex(parsed.targetInfoBytes), v2.target_info_av_pairs);
  assert.deepEqual(parsed.targetInfo.map((pair) => pair.id), [
    AV_ID.NB_DOMAIN_NAME,
    AV_ID.NB_COMPUTER_NAME,
  ]);
  assert.equal(parsed.timestamp, null);
  assert.equal(hex(parsed.version ?? new Uint8Array()), "060070170000000f");

  const built = buildChallenge({
    flags: V2_CHALLENGE_FLAGS,
    serverChallenge: SERVER_CHALLENGE,
    targetName: common.server_name,
    targetInfo: parseAvPairs(unhex(v2.target_info_av_pairs)),
    version: unhex("060070170000000f"),
  });
  assert.equal(hex(built), v2.challenge_message);
});

Deno.test("buildAuthenticate() reproduces the 4.2.4 AUTHENTICATE_MESSAGE byte for byte", () => {
  const result = buildAuthenticate({
    negotiate: buildNegotiate(),
    challenge: unhex(v2.challenge_message),
    user: USER,
    domain: DOMAIN,
    password: PASSWORD,
    workstation: common.workstation_name,
    version: unhex("0501280a0000000f"),
    clientChallenge: CLIENT_CHALLENGE,
    exportedSessionKey: SESSION_KEY,
    timestamp: TIME,
  });
  assert.equal(hex(result.message), v2.authenticate_message);
  assert.equal(result.flags, V2_AUTH_FLAGS);
  assert.equal(result.micPresent, false);
});

Deno.test("parseAuthenticate() and verifyAuthenticate() accept the 4.2.4 AUTHENTICATE_MESSAGE", () => {
  const message = unhex(v2.authenticate_message);
  const parsed = parseAuthenticate(message);
  assert.equal(parsed.flags, V2_AUTH_FLAGS);
  assert.equal(parsed.user, USER);
  assert.equal(parsed.domain, DOMAIN);
  assert.equal(parsed.workstation, common.workstation_name);
  assert.equal(hex(parsed.lmChallengeResponse), v2.lmv2_challenge_response);
  assert.equal(hex(parsed.ntChallengeResponse), v2.nt_challenge_response);
  assert.equal(
    hex(parsed.encryptedRandomSessionKey),
    v2.encrypted_random_session_key,
  );
  assert.equal(parsed.mic, null);

  const verified = verifyAuthenticate({
    negotiate: buildNegotiate(),
    challenge: unhex(v2.challenge_message),
    authenticate: message,
    password: PASSWORD,
  });
  assert.equal(hex(verified.exportedSessionKey), common.random_session_key);
  assert.equal(verified.micVerified, false);
  assert.throws(
    () =>
      verifyAuthenticate({
        negotiate: buildNegotiate(),
        challenge: unhex(v2.challenge_message),
        authenticate: message,
        password: "wrong",
      }),
    NtlmError,
  );
});

Deno.test("NtlmSession reproduces the derived multi-message vectors (seq 0-2, both directions)", () => {
  const { client, server } = ntlmSessions(V2_KEYS);
  for (const message of derived) {
    const sender = message.direction === "client-to-server" ? client : server;
    const receiver = sender === client ? server : client;
    assert.equal(sender.outboundSequence, message.seq);
    const out = sender.seal(unhex(message.plaintext_hex));
    assert.equal(
      hex(out.sealed),
      message.sealed_hex,
      `${message.direction} seq ${message.seq}`,
    );
    assert.equal(
      hex(out.signature),
      message.signature_hex,
      `${message.direction} seq ${message.seq}`,
    );
    assert.equal(
      hex(receiver.unseal(out.sealed, out.signature)),
      message.plaintext_hex,
    );
  }
  assert.equal(client.outboundSequence, 3);
  assert.equal(client.inboundSequence, 3);
});

// ---------------------------------------------------------------- NTLMv1 (MS-NLMP 4.2.2, 4.2.3)
// Test-only reference code: production refuses NTLMv1 and sealing without
// extended session security. DES comes from node:crypto's des-ede3-cbc with
// three equal keys and a zero IV, which is single DES on one block.

function desKey(key7: Uint8Array): Uint8Array {
  const k = (i: number): number => key7[i] ?? 0;
  const out = new Uint8Array([
    k(0),
    (k(0) << 7) | (k(1) >> 1),
    (k(1) << 6) | (k(2) >> 2),
    (k(2) << 5) | (k(3) >> 3),
    (k(3) << 4) | (k(4) >> 4),
    (k(4) << 3) | (k(5) >> 5),
    (k(5) << 2) | (k(6) >> 6),
    k(6) << 1,
  ]);
  return out.map((b) => b & 0xfe);
}

function des(key7: Uint8Array, block: Uint8Array): Uint8Array {
  const key = desKey(key7);
  const cipher = createCipheriv(
    "des-ede3-cbc",
    concatBytes(key, key, key),
    new Uint8Array(8),
  );
  cipher.setAutoPadding(false);
  return new Uint8Array(cipher.update(block)).subarray(0, 8);
}

function desl(key16: Uint8Array, data: Uint8Array): Uint8Array {
  const last = concatBytes(key16.subarray(14, 16), new Uint8Array(5));
  return concatBytes(
    des(key16.subarray(0, 7), data),
    des(key16.subarray(7, 14), data),
    des(last, data),
  );
}

function lmowfV1(password: string): Uint8Array {
  const oem = new Uint8Array(14);
  oem.set(new TextEncoder().encode(password.toUpperCase()).subarray(0, 14));
  const magic = new TextEncoder().encode("KGS!@#$%");
  return concatBytes(
    des(oem.subarray(0, 7), magic),
    des(oem.subarray(7, 14), magic),
  );
}

function md4(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("md4").update(data).digest());
}

function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) {
      crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
    }
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function le32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0, true);
  return out;
}

Deno.test("test-only NTLMv1 reference reproduces MS-NLMP 4.2.2 (LMOWFv1, NTOWFv1, response, keys, seal)", () => {
  assert.equal(hex(lmowfV1(PASSWORD)), v1.lmowfv1);
  const ntowf = ntowfV1(PASSWORD);
  assert.equal(hex(ntowf), v1.ntowfv1);
  assert.equal(hex(desl(ntowf, SERVER_CHALLENGE)), v1.nt_challenge_response);
  const sessionBaseKey = md4(ntowf);
  assert.equal(hex(sessionBaseKey), v1.session_base_key_and_key_exchange_key);
  assert.equal(
    hex(rc4k(sessionBaseKey, SESSION_KEY)),
    v1.encrypted_random_session_key,
  );

  // Without ESS: one RC4 handle keyed with the session key, CRC32 checksum, RandomPad zeroed.
  const handle = new Rc4(SESSION_KEY);
  const sealed = handle.update(PLAINTEXT);
  handle.update(new Uint8Array(4));
  const checksum = handle.update(le32(crc32(PLAINTEXT)));
  const seq = handle.update(le32(0));
  assert.equal(hex(sealed), v1.sealed_plaintext);
  assert.equal(
    hex(concatBytes(le32(1), new Uint8Array(4), checksum, seq)),
    v1.signature,
  );
});

Deno.test("NTLMv1 with ESS (MS-NLMP 4.2.3): reference responses and KXKEY, then NtlmSession seals as documented", () => {
  const lm = concatBytes(CLIENT_CHALLENGE, new Uint8Array(16));
  assert.equal(hex(lm), v1Ess.lm_challenge_response);
  const ntowf = ntowfV1(PASSWORD);
  const nt = desl(
    ntowf,
    md5(SERVER_CHALLENGE, CLIENT_CHALLENGE).subarray(0, 8),
  );
  assert.equal(hex(nt), v1Ess.nt_challenge_response);
  const kxkey = hmacMd5(md4(ntowf), SERVER_CHALLENGE, lm.subarray(0, 8));
  assert.equal(hex(kxkey), v1Ess.key_exchange_key);

  // No KEY_EXCH, so the exported session key is the KXKEY; 56-bit ESS sealing is production code.
  const session = ntlmSession("client", {
    exportedSessionKey: kxkey,
    flags: flagsBe(v1Ess.negotiate_flags),
  });
  const out = session.seal(PLAINTEXT);
  assert.equal(hex(out.sealed), v1Ess.sealed_plaintext);
  assert.equal(hex(out.signature), v1Ess.signature);
});

Deno.test("NtlmSession refuses flags without extended session security (NTLMv1 flags of 4.2.2)", () => {
  assert.throws(
    () =>
      ntlmSession("client", {
        exportedSessionKey: SESSION_KEY,
        flags: flagsBe(v1.negotiate_flags),
      }),
    NtlmError,
  );
});

// ---------------------------------------------------------------- client <-> server round trip

interface Handshake {
  client: NtlmSession;
  server: NtlmSession;
  negotiate: Uint8Array;
  challenge: Uint8Array;
  authenticate: Uint8Array;
}

const RT_PASSWORD = "S3cret-pässword!";

/** The AUTHENTICATE of user "u" in domain "d" with RT_PASSWORD, in answer to `challenge`. */
function authenticateAsU(
  negotiate: Uint8Array,
  challenge: Uint8Array,
): AuthenticateResult {
  return buildAuthenticate({
    negotiate,
    challenge,
    user: "u",
    domain: "d",
    password: RT_PASSWORD,
  });
}

function handshake(): Handshake {
  const negotiate = buildNegotiate();
  const challenge = respondToNegotiate(negotiate, { domainName: "CORP" });
  const { user, domain } = parseWindowsUser("CORP\\svc-winrm");
  const auth = buildAuthenticate({
    negotiate,
    challenge,
    user,
    domain,
    password: RT_PASSWORD,
    workstation: "MCP",
    targetName: "HTTP/winrm-test.corp.example",
  });
  assert.equal(auth.micPresent, true);
  const verified = verifyAuthenticate({
    negotiate,
    challenge,
    authenticate: auth.message,
    password: RT_PASSWORD,
  });
  assert.equal(verified.micVerified, true);
  assert.equal(verified.user, "svc-winrm");
  assert.equal(verified.domain, "CORP");
  assert.equal(verified.workstation, "MCP");
  assert.deepEqual(verified.exportedSessionKey, auth.exportedSessionKey);
  return {
    client: ntlmSession("client", auth),
    server: ntlmSession("server", verified),
    negotiate,
    challenge,
    authenticate: auth.message,
  };
}

Deno.test("round trip: NEGOTIATE -> CHALLENGE -> AUTHENTICATE with a MIC the server verifies", () => {
  const { negotiate, challenge, authenticate } = handshake();
  assert.equal(parseNegotiate(negotiate).flags, WINRM_NEGOTIATE_FLAGS);
  const parsedChallenge = parseChallenge(challenge);
  assert.notEqual(parsedChallenge.timestamp, null);
  const parsed = parseAuthenticate(authenticate);
  assert.equal(parsed.flags, WINRM_NEGOTIATE_FLAGS);
  assert.equal(hex(parsed.lmChallengeResponse), "00".repeat(24));
  assert.notEqual(parsed.mic, null);
  const pairs = new Map(
    parsed.clientTargetInfo.map((pair) => [pair.id, pair.value]),
  );
  assert.deepEqual(pairs.get(AV_ID.FLAGS), new Uint8Array([2, 0, 0, 0]));
  assert.deepEqual(
    pairs.get(AV_ID.TARGET_NAME),
    utf16le("HTTP/winrm-test.corp.example"),
  );
  assert.deepEqual(pairs.get(AV_ID.TIMESTAMP), parsedChallenge.timestamp);
  // The NTLMv2 timestamp is the server's, not the client's clock.
  assert.deepEqual(
    parsed.ntChallengeResponse.subarray(24, 32),
    parsedChallenge.timestamp,
  );
});

Deno.test("round trip: several messages seal and unseal both ways with rising sequence numbers", () => {
  const { client, server } = handshake();
  const encoder = new TextEncoder();
  for (let i = 0; i < 5; i++) {
    const request = encoder.encode(
      `<s:Envelope>request ${i} ${"x".repeat(i * 1000)}</s:Envelope>`,
    );
    const sent = client.seal(request);
    assert.equal(new DataView(sent.signature.buffer).getUint32(12, true), i);
    assert.deepEqual(server.unseal(sent.sealed, sent.signature), request);

    const reply = encoder.encode(`<s:Envelope>reply ${i}</s:Envelope>`);
    const back = server.seal(reply);
    assert.equal(new DataView(back.signature.buffer).getUint32(12, true), i);
    assert.deepEqual(client.unseal(back.sealed, back.signature), reply);
  }
  assert.equal(client.outboundSequence, 5);
  assert.equal(server.inboundSequence, 5);
});

Deno.test("round trip: a tampered ciphertext is rejected and the session stays closed", () => {
  const { client, server } = handshake();
  const sent = client.seal(
    new TextEncoder().encode("<s:Envelope>Get-Process</s:Envelope>"),
  );
  const tampered = sent.sealed.slice();
  tampered[3]! ^= 0x01;
  assert.throws(
    () => server.unseal(tampered, sent.signature),
    /checksum mismatch/,
  );
  // The RC4 stream moved on: even the genuine message is refused now.
  assert.throws(
    () => server.unseal(sent.sealed, sent.signature),
    /after a rejected message/,
  );
  assert.throws(() => server.seal(new Uint8Array(1)), NtlmError);
});

Deno.test("round trip: a tampered signature, a replay and a reordering are rejected", () => {
  const encoder = new TextEncoder();
  {
    const { client, server } = handshake();
    const sent = client.seal(encoder.encode("one"));
    const signature = sent.signature.slice();
    signature[5]! ^= 0x80;
    assert.throws(() => server.unseal(sent.sealed, signature), NtlmError);
  }
  {
    const { client, server } = handshake();
    const first = client.seal(encoder.encode("one"));
    server.unseal(first.sealed, first.signature);
    assert.throws(
      () => server.unseal(first.sealed, first.signature),
      /sequence number 0, expected 1/,
    );
  }
  {
    const { client, server } = handshake();
    client.seal(encoder.encode("one"));
    const second = client.seal(encoder.encode("two"));
    assert.throws(
      () => server.unseal(second.sealed, second.signature),
      NtlmError,
    );
  }
});

Deno.test("SealingChannel rejects a signature of the wrong length", () => {
  const channel = new SealingChannel({
    signKey: new Uint8Array(16),
    sealKey: new Uint8Array(16),
    keyExchange: true,
  });
  assert.throws(
    () => channel.unseal(new Uint8Array(4), new Uint8Array(15)),
    /15 bytes, not 16/,
  );
});

Deno.test("verifyAuthenticate() rejects a wrong password, a changed NEGOTIATE and an altered AUTHENTICATE", () => {
  const { negotiate, challenge, authenticate } = handshake();
  /** Verifies the handshake's messages with `changed` swapped in. */
  function verify(
    changed: Partial<VerifyAuthenticateOptions>,
  ): () => VerifiedAuthenticate {
    return () =>
      verifyAuthenticate({
        negotiate,
        challenge,
        authenticate,
        password: RT_PASSWORD,
        ...changed,
      });
  }
  assert.throws(verify({ password: "not-it" }), /wrong password or user name/);
  // A man in the middle who strips flags from the NEGOTIATE breaks the MIC.
  const downgraded = negotiate.slice();
  downgraded[15] = downgraded[15]! & ~0x40; // KEY_EXCH
  assert.throws(verify({ negotiate: downgraded }), /MIC does not match/);
  // Flags in the AUTHENTICATE header are covered by the MIC too.
  const altered = authenticate.slice();
  altered[60] = altered[60]! & ~0x20; // SEAL
  assert.throws(verify({ authenticate: altered }), /MIC does not match/);
});

Deno.test("buildAuthenticate() refuses a server that withholds SEAL or 128-bit keys, without naming the password", () => {
  for (
    const withheld of [
      NTLM_FLAGS.SEAL,
      NTLM_FLAGS.KEY_128,
      NTLM_FLAGS.EXTENDED_SESSIONSECURITY,
    ]
  ) {
    const negotiate = buildNegotiate();
    const challenge = respondToNegotiate(negotiate, {
      withholdFlags: withheld,
    });
    let message = "";
    assert.throws(() => {
      try {
        authenticateAsU(negotiate, challenge);
      } catch (error) {
        message = String(error);
        throw error;
      }
    }, NtlmError);
    assert.match(message, /did not grant/);
    assert.ok(!message.includes(RT_PASSWORD));
  }
});

Deno.test("buildAuthenticate() without a server timestamp sends no MIC and an LMv2 response", () => {
  const negotiate = buildNegotiate();
  const challenge = respondToNegotiate(negotiate, { timestamp: null });
  const auth = authenticateAsU(negotiate, challenge);
  assert.equal(auth.micPresent, false);
  const parsed = parseAuthenticate(auth.message);
  assert.equal(parsed.mic, null);
  assert.equal(parsed.lmChallengeResponse.length, 24);
  assert.notEqual(hex(parsed.lmChallengeResponse), "00".repeat(24));
  const verified = verifyAuthenticate({
    negotiate,
    challenge,
    authenticate: auth.message,
    password: RT_PASSWORD,
  });
  assert.deepEqual(verified.exportedSessionKey, auth.exportedSessionKey);
});

Deno.test("verifyAuthenticate() rejects a MIC-less AUTHENTICATE when the CHALLENGE had a timestamp", () => {
  const negotiate = buildNegotiate();
  const plain = respondToNegotiate(negotiate, {
    timestamp: null,
    serverChallenge: SERVER_CHALLENGE,
  });
  const auth = authenticateAsU(negotiate, plain);
  const withTimestamp = respondToNegotiate(negotiate, {
    serverChallenge: SERVER_CHALLENGE,
  });
  assert.throws(
    () =>
      verifyAuthenticate({
        negotiate,
        challenge: withTimestamp,
        authenticate: auth.message,
        password: RT_PASSWORD,
      }),
    /no MIC/,
  );
});

Deno.test("parseChallenge() rejects malformed messages with an NtlmError", () => {
  const good = unhex(v2.challenge_message);
  assert.throws(() => parseChallenge(good.subarray(0, 40)), /too short/);
  const badSignature = good.slice();
  badSignature[0] = 0;
  assert.throws(() => parseChallenge(badSignature), /signature is missing/);
  assert.throws(
    () => parseChallenge(buildNegotiate()),
    /message type 1, expected 2/,
  );
  const overflow = good.slice();
  overflow[40] = 0xff; // TargetInfoLen past the end
  assert.throws(() => parseChallenge(overflow), /runs past the end/);
  assert.throws(
    () => parseAvPairs(new Uint8Array([2, 0, 9, 0, 1])),
    /runs past the end/,
  );
  assert.throws(() => parseAvPairs(new Uint8Array([2, 0, 0, 0])), /MsvAvEOL/);
});

// ---------------------------------------------------------------- parseWindowsUser

Deno.test("parseWindowsUser() splits DOMAIN\\user and user@domain and falls back to the default domain", () => {
  for (
    const [name, defaultDomain, user, domain] of [
      ["CORP\\alice", undefined, "alice", "CORP"],
      ["alice@corp.example.com", undefined, "alice", "corp.example.com"],
      ["alice", "CORP", "alice", "CORP"],
      ["alice", undefined, "alice", ""],
      ["CORP\\alice", "OTHER", "alice", "CORP"],
      ["al@ice@corp.example", undefined, "al@ice", "corp.example"],
      ["CORP\\a@b", undefined, "a@b", "CORP"],
      [".\\Administrator", undefined, "Administrator", "."],
    ] as const
  ) {
    assert.deepEqual(
      parseWindowsUser(name, defaultDomain),
      { user, domain },
      `${name} (default domain ${defaultDomain})`,
    );
  }
  for (const bad of ["", "CORP\\", "\\alice", "alice@", "@corp"]) {
    assert.throws(() => parseWindowsUser(bad), TypeError, bad);
  }
});

Deno.test("ntowfV2() uppercases the user but not the domain", () => {
  assert.deepEqual(
    ntowfV2(PASSWORD, "user", DOMAIN),
    ntowfV2(PASSWORD, "USER", DOMAIN),
  );
  assert.notDeepEqual(
    ntowfV2(PASSWORD, USER, "domain"),
    ntowfV2(PASSWORD, USER, DOMAIN),
  );
});
