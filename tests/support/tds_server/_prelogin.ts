/**
 * PRELOGIN (MS-TDS 2.2.6.5): the client's options, and the server's answer
 * that decides whether TLS follows.
 *
 * @module
 */

import { ByteWriter, readU16be, slice } from "./_bytes.ts";
import { SERVER_VERSION } from "./_constants.ts";
import type { TdsEncryptionOption, TdsPreLoginRecord } from "./types.ts";

const PRELOGIN_VERSION = 0x00;
const PRELOGIN_ENCRYPTION = 0x01;
const PRELOGIN_INSTOPT = 0x02;
const PRELOGIN_THREADID = 0x03;
const PRELOGIN_MARS = 0x04;
const PRELOGIN_TERMINATOR = 0xff;

const ENCRYPT_OFF = 0x00;
const ENCRYPT_ON = 0x01;
const ENCRYPT_NOT_SUP = 0x02;
const ENCRYPT_REQ = 0x03;

/** The server's side of a PRELOGIN exchange. */
export interface PreLoginAnswer {
  /** What the client asked for and what the server answered. */
  record: TdsPreLoginRecord;
  /** The PRELOGIN response payload. */
  response: Uint8Array;
}

/**
 * Answers a client's PRELOGIN. Without TLS the answer is ENCRYPT_NOT_SUP;
 * with TLS it is ENCRYPT_ON, or ENCRYPT_REQ (`"required"`) to a client that
 * cannot encrypt, which then has to give up.
 *
 * @throws {RangeError} when an option runs past the message
 */
export function answerPreLogin(
  payload: Uint8Array,
  tlsWanted: boolean,
): PreLoginAnswer {
  const options = parsePreLoginOptions(payload);
  const version = options.get(PRELOGIN_VERSION);
  const clientEncryption = options.get(PRELOGIN_ENCRYPTION)?.[0] ??
    ENCRYPT_OFF;
  let answer: number;
  if (!tlsWanted) {
    answer = ENCRYPT_NOT_SUP;
  } else if (clientEncryption === ENCRYPT_NOT_SUP) {
    answer = ENCRYPT_REQ; // the client then has to give up (MS-TDS 2.2.6.5)
  } else {
    answer = ENCRYPT_ON;
  }
  const record: TdsPreLoginRecord = {
    version: version === undefined || version.length < 6
      ? ""
      : `${version[0]}.${version[1]}.${readU16be(version, 2)}.${
        readU16be(version, 4)
      }`,
    encryption: encryptionName(clientEncryption),
    mars: (options.get(PRELOGIN_MARS)?.[0] ?? 0) === 1,
    answered: encryptionName(answer),
  };

  const build = SERVER_VERSION.build;
  const response = buildPreLoginOptions([
    [PRELOGIN_VERSION, [
      SERVER_VERSION.major,
      SERVER_VERSION.minor,
      build >> 8,
      build & 0xff,
      0,
      0,
    ]],
    [PRELOGIN_ENCRYPTION, [answer]],
    [PRELOGIN_INSTOPT, [0]],
    [PRELOGIN_THREADID, []],
    [PRELOGIN_MARS, [0]],
  ]);
  return { record, response };
}

function parsePreLoginOptions(payload: Uint8Array): Map<number, Uint8Array> {
  const options = new Map<number, Uint8Array>();
  let offset = 0;
  while (offset < payload.length && payload[offset] !== PRELOGIN_TERMINATOR) {
    if (offset + 5 > payload.length) {
      throw new RangeError("A PRELOGIN option header runs past the message");
    }
    const token = payload[offset] as number;
    const dataOffset = readU16be(payload, offset + 1);
    const dataLength = readU16be(payload, offset + 3);
    options.set(token, slice(payload, dataOffset, dataLength, "PRELOGIN"));
    offset += 5;
  }
  return options;
}

function buildPreLoginOptions(options: [number, number[]][]): Uint8Array {
  const headerLength = options.length * 5 + 1;
  const w = new ByteWriter();
  let dataOffset = headerLength;
  for (const [token, data] of options) {
    w.u8(token);
    w.u16be(dataOffset);
    w.u16be(data.length);
    dataOffset += data.length;
  }
  w.u8(PRELOGIN_TERMINATOR);
  for (const [, data] of options) w.bytes(new Uint8Array(data));
  return w.finish();
}

function encryptionName(value: number): TdsEncryptionOption {
  switch (value) {
    case ENCRYPT_OFF:
      return "off";
    case ENCRYPT_ON:
      return "on";
    case ENCRYPT_NOT_SUP:
      return "not_supported";
    default:
      return "required";
  }
}
