/**
 * Statements the server answers itself, because drivers send them on their
 * own: batches of `SET` only (tedious's session setup), `SELECT 1` (the
 * mssql pool's connection check) and `USE <database>`.
 *
 * @module
 */

import { ByteWriter } from "./_bytes.ts";
import {
  DONE_FINAL,
  ENV_DATABASE,
  TOKEN_DONE,
  TOKEN_INFO,
} from "./_constants.ts";
import { encodeResponse } from "./_results.ts";
import {
  errorResponse,
  writeDone,
  writeEnvChange,
  writeMessageToken,
} from "./_tokens.ts";

/** The session state a built-in answer depends on. */
export interface SessionStatementContext {
  /** Databases a login may open. */
  databases: readonly string[];
  /** The session's current database. */
  database: string;
  /** The server name in messages. */
  serverName: string;
}

/** A built-in answer, as batch response tokens. */
export interface SessionStatementAnswer {
  /** The tokens, ending with DONE. */
  tokens: Uint8Array;
  /** Whether the statement failed. */
  failed: boolean;
  /** The session's new database, after a successful `USE`. */
  database?: string;
}

/** Answers a driver's own statement, or returns undefined for any other. */
export function answerSessionStatement(
  sql: string,
  context: SessionStatementContext,
): SessionStatementAnswer | undefined {
  const trimmed = sql.trim().replace(/;$/, "").trim();
  const statements = sql.split(/[\n;]/).map((s) => s.trim()).filter((s) =>
    s !== ""
  );
  if (
    statements.length > 0 && statements.every((s) => /^set\s/i.test(s))
  ) {
    const w = new ByteWriter();
    writeDone(w, TOKEN_DONE, DONE_FINAL, 0, 0);
    return { tokens: w.finish(), failed: false };
  }
  if (/^select\s+1$/i.test(trimmed)) {
    return {
      tokens: encodeResponse([{
        columns: [{ name: "", type: "int", nullable: false }],
        rows: [[1]],
      }], { rpc: false, sql, serverName: context.serverName }),
      failed: false,
    };
  }
  const use = /^use\s+(?:\[([^\]]+)\]|(\S+))$/i.exec(trimmed);
  if (use !== null) {
    const target = use[1] ?? use[2] ?? "";
    const w = new ByteWriter();
    if (!context.databases.includes(target)) {
      return {
        tokens: errorResponse({
          number: 911,
          state: 1,
          class: 16,
          message:
            `Database '${target}' does not exist. Make sure that the name is entered correctly.`,
        }, context.serverName),
        failed: true,
      };
    }
    writeEnvChange(w, ENV_DATABASE, target, context.database);
    writeMessageToken(w, TOKEN_INFO, {
      number: 5701,
      state: 1,
      class: 0,
      message: `Changed database context to '${target}'.`,
    }, context.serverName);
    writeDone(w, TOKEN_DONE, DONE_FINAL, 0, 0);
    return { tokens: w.finish(), failed: false, database: target };
  }
  return undefined;
}
