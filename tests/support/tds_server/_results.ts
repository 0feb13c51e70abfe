/**
 * Response encoding: what a query handler returned, as TDS tokens (result
 * sets, row counts, errors and messages, each closed by its DONE).
 *
 * @module
 */

import { ByteWriter } from "./_bytes.ts";
import {
  DONE_COUNT,
  DONE_ERROR,
  DONE_FINAL,
  DONE_MORE,
  TOKEN_COLMETADATA,
  TOKEN_DONE,
  TOKEN_DONEINPROC,
  TOKEN_DONEPROC,
  TOKEN_ERROR,
  TOKEN_INFO,
  TOKEN_NBCROW,
  TOKEN_RETURNSTATUS,
  TOKEN_ROW,
} from "./_constants.ts";
import { writeDone, writeMessageToken } from "./_tokens.ts";
import {
  type TransactionState,
  writeTransactionChange,
} from "./_transactions.ts";
import { planColumn, writeTypeInfo, writeValue } from "./_type_encoders.ts";
import type {
  TdsDelayedResult,
  TdsQueryResult,
  TdsResultPart,
  TdsResultSet,
} from "./types.ts";

const CMD_SELECT = 0xc1;
const CMD_INSERT = 0xc3;
const CMD_DELETE = 0xc4;
const CMD_UPDATE = 0xc5;

/** How {@linkcode encodeResponse} ends the response. */
export interface EncodeOptions {
  rpc: boolean;
  sql: string;
  serverName: string;
  /** The session's transaction, for the parts that change it. */
  transaction?: TransactionState;
}

/** Whether the handler asked for a delayed answer. */
export function isDelayed(result: TdsQueryResult): result is TdsDelayedResult {
  return !Array.isArray(result) && typeof result === "object" &&
    result !== null && "delayMs" in result;
}

function commandFor(sql: string): number {
  const verb = /^\s*(\w+)/.exec(sql)?.[1]?.toLowerCase();
  switch (verb) {
    case "insert":
      return CMD_INSERT;
    case "delete":
      return CMD_DELETE;
    case "update":
      return CMD_UPDATE;
    default:
      return CMD_SELECT;
  }
}

/**
 * Encodes result parts as tokens. A batch ends each part with DONE (DONE_MORE
 * on all but the last); an RPC uses DONEINPROC and then RETURNSTATUS and
 * DONEPROC.
 */
export function encodeResponse(
  parts: readonly TdsResultPart[],
  options: EncodeOptions,
): Uint8Array {
  interface Segment {
    tokens: Uint8Array;
    status: number;
    curCmd: number;
    rowCount: number;
  }
  const segments: Segment[] = [];
  let pending = new ByteWriter();
  let failed = false;
  for (const part of parts) {
    if ("columns" in part) {
      encodeResultSet(pending, part);
      segments.push({
        tokens: pending.finish(),
        status: DONE_COUNT,
        curCmd: CMD_SELECT,
        rowCount: part.rows.length,
      });
      pending = new ByteWriter();
    } else if ("rowsAffected" in part) {
      segments.push({
        tokens: pending.finish(),
        status: DONE_COUNT,
        curCmd: commandFor(options.sql),
        rowCount: part.rowsAffected,
      });
      pending = new ByteWriter();
    } else if ("error" in part) {
      failed = true;
      writeMessageToken(pending, TOKEN_ERROR, part.error, options.serverName);
      segments.push({
        tokens: pending.finish(),
        status: DONE_ERROR,
        curCmd: 0,
        rowCount: 0,
      });
      pending = new ByteWriter();
    } else if ("info" in part) {
      writeMessageToken(pending, TOKEN_INFO, part.info, options.serverName);
    } else if ("transaction" in part) {
      if (options.transaction === undefined) {
        throw new TypeError("A transaction change needs the session's state");
      }
      writeTransactionChange(pending, part.transaction, options.transaction);
    } else {
      throw new TypeError(
        "A result part needs columns and rows, rowsAffected, error, info or transaction",
      );
    }
  }
  const trailing = pending.finish();
  if (trailing.length > 0 || segments.length === 0) {
    segments.push({
      tokens: trailing,
      status: DONE_FINAL,
      curCmd: 0,
      rowCount: 0,
    });
  }
  const w = new ByteWriter();
  segments.forEach((segment, i) => {
    w.bytes(segment.tokens);
    const last = i === segments.length - 1;
    if (options.rpc) {
      writeDone(
        w,
        TOKEN_DONEINPROC,
        segment.status | DONE_MORE,
        segment.curCmd,
        segment.rowCount,
      );
    } else {
      writeDone(
        w,
        TOKEN_DONE,
        segment.status | (last ? 0 : DONE_MORE),
        segment.curCmd,
        segment.rowCount,
      );
    }
  });
  if (options.rpc) {
    w.u8(TOKEN_RETURNSTATUS);
    w.i32le(failed ? 1 : 0);
    writeDone(w, TOKEN_DONEPROC, failed ? DONE_ERROR : DONE_FINAL, 0, 0);
  }
  return w.finish();
}

/** COLMETADATA (MS-TDS 2.2.7.4) and ROW/NBCROW tokens for one result set. */
function encodeResultSet(w: ByteWriter, set: TdsResultSet): void {
  if (set.columns.length === 0) {
    throw new TypeError("A result set needs at least one column");
  }
  const plans = set.columns.map(planColumn);
  w.u8(TOKEN_COLMETADATA);
  w.u16le(plans.length);
  for (const plan of plans) {
    w.u32le(0); // UserType
    w.u16le(plan.nullable ? 0x0001 : 0x0000); // Flags: fNullable
    writeTypeInfo(w, plan);
    w.bVarchar(plan.column.name);
  }
  set.rows.forEach((row, rowIndex) => {
    if (row.length !== plans.length) {
      throw new TypeError(
        `Row ${rowIndex} has ${row.length} values for ${plans.length} columns`,
      );
    }
    const hasNull = row.some((v) => v === null || v === undefined);
    if (hasNull) {
      // NBCROW (MS-TDS 2.2.7.15): a null bitmap, then the non-null values.
      w.u8(TOKEN_NBCROW);
      const bitmap = new Uint8Array(Math.ceil(plans.length / 8));
      row.forEach((v, i) => {
        if (v === null || v === undefined) {
          bitmap[i >> 3] = (bitmap[i >> 3] as number) | (1 << (i & 7));
        }
      });
      w.bytes(bitmap);
    } else {
      w.u8(TOKEN_ROW);
    }
    plans.forEach((plan, i) => {
      const value = row[i];
      if (value === null || value === undefined) {
        if (!plan.nullable) {
          throw new TypeError(
            `Row ${rowIndex} has NULL in column "${plan.column.name}", which is not nullable`,
          );
        }
        return; // omitted from NBCROW
      }
      writeValue(w, plan, value);
    });
  });
}
