/**
 * Transaction manager requests (MS-TDS 2.2.6.9): TM_BEGIN_XACT,
 * TM_COMMIT_XACT and TM_ROLLBACK_XACT, answered with the ENVCHANGE tokens
 * that carry the transaction descriptor.
 *
 * @module
 */

import { ByteReader, ByteWriter } from "./_bytes.ts";
import {
  DONE_FINAL,
  ENV_BEGIN_TRAN,
  ENV_COMMIT_TRAN,
  ENV_ROLLBACK_TRAN,
  TOKEN_DONE,
} from "./_constants.ts";
import { skipAllHeaders } from "./_packets.ts";
import { errorResponse, writeDone, writeEnvChangeBytes } from "./_tokens.ts";

/** A session's transaction state; {@linkcode answerTransactionRequest} updates it. */
export interface TransactionState {
  /** The descriptor of the latest transaction. */
  transactionId: bigint;
  /** Whether a transaction is open. */
  inTransaction: boolean;
}

/**
 * Writes the ENVCHANGE of a transaction that began, committed or rolled back
 * (types 8, 9, 10, MS-TDS 2.2.7.9) and updates `state`; a commit or
 * rollback without an open transaction changes nothing and writes nothing.
 */
export function writeTransactionChange(
  w: ByteWriter,
  change: "begin" | "commit" | "rollback",
  state: TransactionState,
): void {
  const descriptor = (id: bigint): Uint8Array => {
    const d = new ByteWriter();
    d.u64le(id);
    return d.finish();
  };
  const none = new Uint8Array(0);
  if (change === "begin") {
    state.transactionId++;
    state.inTransaction = true;
    writeEnvChangeBytes(
      w,
      ENV_BEGIN_TRAN,
      descriptor(state.transactionId),
      none,
    );
    return;
  }
  if (state.inTransaction) {
    writeEnvChangeBytes(
      w,
      change === "commit" ? ENV_COMMIT_TRAN : ENV_ROLLBACK_TRAN,
      none,
      descriptor(state.transactionId),
    );
  }
  state.inTransaction = false;
}

/** The answer to one request, and its name for the request log. */
export interface TransactionAnswer {
  /** `begin transaction`, `commit transaction`, ... or `request <type>`. */
  name: string;
  /** The response tokens, ending with DONE. */
  tokens: Uint8Array;
}

/**
 * Answers a transaction manager request and updates `state`.
 *
 * @throws {RangeError} when the request is truncated
 */
export function answerTransactionRequest(
  payload: Uint8Array,
  state: TransactionState,
  serverName: string,
): TransactionAnswer {
  const r = new ByteReader(payload);
  skipAllHeaders(r);
  const requestType = r.u16le();
  const w = new ByteWriter();
  let name: string;
  switch (requestType) {
    case 5: // TM_BEGIN_XACT
      name = "begin transaction";
      writeTransactionChange(w, "begin", state);
      break;
    case 7: // TM_COMMIT_XACT
      name = "commit transaction";
      writeTransactionChange(w, "commit", state);
      break;
    case 8: // TM_ROLLBACK_XACT
      name = "rollback transaction";
      writeTransactionChange(w, "rollback", state);
      break;
    default:
      return {
        name: `request ${requestType}`,
        tokens: errorResponse({
          number: 50000,
          state: 1,
          class: 16,
          message:
            `The TDS test server does not handle transaction manager request ${requestType}`,
        }, serverName),
      };
  }
  writeDone(w, TOKEN_DONE, DONE_FINAL, 0, 0);
  return { name, tokens: w.finish() };
}
