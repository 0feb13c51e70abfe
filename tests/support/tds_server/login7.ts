/**
 * LOGIN7 (MS-TDS 2.2.6.4): parsing the message and its password
 * obfuscation. Exported for the server's own unit tests.
 *
 * @module
 */

import { ByteReader, decodeUtf16, encodeUtf16, slice } from "./_bytes.ts";

/** The fields of a LOGIN7 message (MS-TDS 2.2.6.4). */
export interface Login7Message {
  /** TDSVersion as a little-endian DWORD (0x74000004 for TDS 7.4). */
  tdsVersion: number;
  /** The packet size the client asks for. */
  packetSize: number;
  /** The client program version. */
  clientProgVer: number;
  /** The client process id. */
  clientPid: number;
  /** The connection id. */
  connectionId: number;
  /** OptionFlags1. */
  optionFlags1: number;
  /** OptionFlags2. */
  optionFlags2: number;
  /** TypeFlags. */
  typeFlags: number;
  /** OptionFlags3. */
  optionFlags3: number;
  /** ClientTimeZone in minutes. */
  clientTimeZone: number;
  /** ClientLCID. */
  clientLcid: number;
  /** The workstation name. */
  hostName: string;
  /** The login name. */
  userName: string;
  /** The password after undoing the obfuscation. */
  password: string;
  /** The application name. */
  appName: string;
  /** The server name. */
  serverName: string;
  /** The client library name. */
  libraryName: string;
  /** The initial language. */
  language: string;
  /** The initial database. */
  database: string;
  /** ClientID, six bytes (often a MAC address). */
  clientId: Uint8Array;
  /** SSPI data for integrated authentication; empty for SQL logins. */
  sspi: Uint8Array;
  /** The database file to attach. */
  attachDbFile: string;
  /** The new password, for a password change. */
  changePassword: string;
  /** FeatureExt entries (TDS 7.4), by FeatureId. */
  features: { id: number; data: Uint8Array }[];
}

/**
 * Obfuscates a LOGIN7 password: UTF-16LE, then for each byte swap the high
 * and low four bits and XOR with 0xA5 (MS-TDS 2.2.6.4).
 */
export function obfuscateLogin7Password(password: string): Uint8Array {
  const bytes = encodeUtf16(password);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    bytes[i] = (((b << 4) & 0xf0) | (b >> 4)) ^ 0xa5;
  }
  return bytes;
}

/** Reverses {@linkcode obfuscateLogin7Password}: XOR 0xA5, swap nibbles. */
export function deobfuscateLogin7Password(bytes: Uint8Array): string {
  const plain = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const b = (bytes[i] as number) ^ 0xa5;
    plain[i] = ((b << 4) & 0xf0) | (b >> 4);
  }
  return decodeUtf16(plain);
}

/**
 * Parses a LOGIN7 message payload (without the 8-byte packet header).
 *
 * @throws {RangeError} when an offset or length points outside the payload
 */
export function parseLogin7(payload: Uint8Array): Login7Message {
  const r = new ByteReader(payload);
  const length = r.u32le();
  if (length > payload.length || length < 94) {
    throw new RangeError(
      `Cannot parse LOGIN7: length ${length} does not fit the ${payload.length}-byte message`,
    );
  }
  const tdsVersion = r.u32le();
  const packetSize = r.u32le();
  const clientProgVer = r.u32le();
  const clientPid = r.u32le();
  const connectionId = r.u32le();
  const optionFlags1 = r.u8();
  const optionFlags2 = r.u8();
  const typeFlags = r.u8();
  const optionFlags3 = r.u8();
  const clientTimeZone = r.i32le();
  const clientLcid = r.u32le();
  const pairs: [number, number][] = [];
  for (let i = 0; i < 9; i++) pairs.push([r.u16le(), r.u16le()]);
  const clientId = r.bytes(6);
  const sspiPair: [number, number] = [r.u16le(), r.u16le()];
  const attachPair: [number, number] = [r.u16le(), r.u16le()];
  const changePair: [number, number] = [r.u16le(), r.u16le()];
  const sspiLong = r.u32le();

  const text = ([offset, chars]: [number, number]): string =>
    decodeUtf16(slice(payload, offset, chars * 2, "LOGIN7"));
  const pair = (i: number): [number, number] => pairs[i] as [number, number];

  const passwordBytes = slice(payload, pair(2)[0], pair(2)[1] * 2, "LOGIN7");
  const changeBytes = slice(
    payload,
    changePair[0],
    changePair[1] * 2,
    "LOGIN7",
  );
  const sspiLength = sspiPair[1] === 0xffff ? sspiLong : sspiPair[1];
  const features: { id: number; data: Uint8Array }[] = [];
  const F_EXTENSION = 0x10;
  if ((optionFlags3 & F_EXTENSION) !== 0 && pair(5)[1] >= 4) {
    // ibExtension points at a DWORD holding the offset of FeatureExt.
    const pointer = new ByteReader(slice(payload, pair(5)[0], 4, "LOGIN7"));
    const fr = new ByteReader(payload, pointer.u32le());
    for (;;) {
      const id = fr.u8();
      if (id === 0xff) break;
      const dataLength = fr.u32le();
      features.push({ id, data: fr.bytes(dataLength) });
    }
  }
  return {
    tdsVersion,
    packetSize,
    clientProgVer,
    clientPid,
    connectionId,
    optionFlags1,
    optionFlags2,
    typeFlags,
    optionFlags3,
    clientTimeZone,
    clientLcid,
    hostName: text(pair(0)),
    userName: text(pair(1)),
    password: deobfuscateLogin7Password(passwordBytes),
    appName: text(pair(3)),
    serverName: text(pair(4)),
    libraryName: text(pair(6)),
    language: text(pair(7)),
    database: text(pair(8)),
    clientId,
    sspi: slice(payload, sspiPair[0], sspiLength, "LOGIN7").slice(),
    attachDbFile: text(attachPair),
    changePassword: deobfuscateLogin7Password(changeBytes),
    features,
  };
}
