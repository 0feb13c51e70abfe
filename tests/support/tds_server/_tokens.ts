/**
 * Token writers (MS-TDS 2.2.7): DONE, ENVCHANGE, ERROR/INFO, and the
 * envelopes that end a batch or an RPC response.
 *
 * @module
 */

import { ByteWriter } from "./_bytes.ts";
import {
  DONE_ERROR,
  DONE_FINAL,
  DONE_MORE,
  TOKEN_DONE,
  TOKEN_DONEINPROC,
  TOKEN_DONEPROC,
  TOKEN_ENVCHANGE,
  TOKEN_ERROR,
  TOKEN_RETURNSTATUS,
} from "./_constants.ts";
import type { TdsServerMessage } from "./types.ts";

/** A DONE, DONEPROC or DONEINPROC token. */
export function writeDone(
  w: ByteWriter,
  token: number,
  status: number,
  curCmd: number,
  rowCount: number,
): void {
  w.u8(token);
  w.u16le(status);
  w.u16le(curCmd);
  w.u64le(BigInt(rowCount));
}

/** A token with a USHORT length before its body. */
export function writeLengthPrefixedToken(
  w: ByteWriter,
  token: number,
  body: Uint8Array,
): void {
  w.u8(token);
  w.u16le(body.length);
  w.bytes(body);
}

/** An ENVCHANGE token with B_VARCHAR values. */
export function writeEnvChange(
  w: ByteWriter,
  type: number,
  newValue: string,
  oldValue: string,
): void {
  const body = new ByteWriter();
  body.u8(type);
  body.bVarchar(newValue);
  body.bVarchar(oldValue);
  writeLengthPrefixedToken(w, TOKEN_ENVCHANGE, body.finish());
}

/** An ENVCHANGE token with B_VARBYTE values. */
export function writeEnvChangeBytes(
  w: ByteWriter,
  type: number,
  newValue: Uint8Array,
  oldValue: Uint8Array,
): void {
  const body = new ByteWriter();
  body.u8(type);
  body.u8(newValue.length);
  body.bytes(newValue);
  body.u8(oldValue.length);
  body.bytes(oldValue);
  writeLengthPrefixedToken(w, TOKEN_ENVCHANGE, body.finish());
}

/** An ERROR or INFO token. */
export function writeMessageToken(
  w: ByteWriter,
  token: number,
  message: TdsServerMessage,
  serverName: string,
): void {
  const body = new ByteWriter();
  body.i32le(message.number);
  body.u8(message.state);
  body.u8(message.class);
  body.usVarchar(message.message);
  body.bVarchar(serverName);
  body.bVarchar(message.procName ?? "");
  body.i32le(message.lineNumber ?? 1);
  writeLengthPrefixedToken(w, token, body.finish());
}

/** An ERROR token alone, for a response that adds its own DONE. */
export function errorTokens(
  message: TdsServerMessage,
  serverName: string,
): Uint8Array {
  const w = new ByteWriter();
  writeMessageToken(w, TOKEN_ERROR, message, serverName);
  return w.finish();
}

/** A whole failed batch response: ERROR, then DONE with DONE_ERROR. */
export function errorResponse(
  message: TdsServerMessage,
  serverName: string,
): Uint8Array {
  const w = new ByteWriter();
  writeMessageToken(w, TOKEN_ERROR, message, serverName);
  writeDone(w, TOKEN_DONE, DONE_ERROR, 0, 0);
  return w.finish();
}

/** `tokens` followed by a DONE with DONE_ERROR. */
export function withFinalDone(tokens: Uint8Array): Uint8Array {
  const w = new ByteWriter();
  w.bytes(tokens);
  writeDone(w, TOKEN_DONE, DONE_ERROR, 0, 0);
  return w.finish();
}

/**
 * Wraps an RPC's result tokens: RETURNSTATUS and a final DONEPROC. Any DONE
 * tokens inside must already be DONEINPROC with DONE_MORE.
 */
export function rpcEnvelope(tokens: Uint8Array, failed: boolean): Uint8Array {
  const w = new ByteWriter();
  w.bytes(convertDoneToDoneInProc(tokens));
  w.u8(TOKEN_RETURNSTATUS);
  w.i32le(failed ? 1 : 0);
  writeDone(w, TOKEN_DONEPROC, failed ? DONE_ERROR : DONE_FINAL, 0, 0);
  return w.finish();
}

/**
 * Session statements are built as batch responses; inside an RPC their
 * trailing DONE becomes DONEINPROC with DONE_MORE. Only whole responses
 * built by this server reach here, so the last 13 bytes are the DONE token.
 */
function convertDoneToDoneInProc(tokens: Uint8Array): Uint8Array {
  const out = tokens.slice();
  const doneAt = out.length - 13;
  if (doneAt >= 0 && out[doneAt] === TOKEN_DONE) {
    out[doneAt] = TOKEN_DONEINPROC;
    out[doneAt + 1] = (out[doneAt + 1] as number) | DONE_MORE;
  }
  return out;
}
