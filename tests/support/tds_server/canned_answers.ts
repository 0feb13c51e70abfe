/**
 * Answers several tests give their TDS server for the same situations, so
 * that each is written once: SQL Server's syntax error, a 30 s WAITFOR, and
 * the transaction check of the SQL Server executor's read-only mode.
 *
 * @module
 */
import type {
  TdsErrorResult,
  TdsQueryContext,
  TdsQueryResult,
  TdsResultSet,
} from "./types.ts";

/** SQL Server's answer to a syntax error (error 102, class 15). */
export const SYNTAX_ERROR: TdsErrorResult = {
  error: {
    number: 102,
    state: 1,
    class: 15,
    message: "Incorrect syntax near '1'.",
  },
};

/** A batch that waits 30 s, long past any test's time limit. */
export const WAITFOR_30S = "WAITFOR DELAY '00:00:30'";

/** The server's answer to {@linkcode WAITFOR_30S}: nothing for 30 s. */
export const WAITFOR_30S_ANSWER: TdsQueryResult = { delayMs: 30_000 };

/**
 * What the SQL Server executor asks before and after a read-only batch, to
 * see whether the batch ended the transaction it runs in.
 */
export const TRANSACTION_STATE_QUERY =
  "SELECT @@TRANCOUNT AS trancount, CURRENT_TRANSACTION_ID() AS transaction_id";

/**
 * SQL Server's answer to {@linkcode TRANSACTION_STATE_QUERY} from the
 * session's transaction: `@@TRANCOUNT` 1 and the open transaction's id, or
 * 0 and the id of the statement's own autocommit transaction (a new one).
 * The test server uses the transaction descriptor as the transaction id.
 */
export function answerTransactionState(ctx: TdsQueryContext): TdsResultSet {
  const { active, descriptor } = ctx.transaction;
  return {
    columns: [
      { name: "trancount", type: "int", nullable: false },
      { name: "transaction_id", type: "bigint", nullable: false },
    ],
    rows: [[active ? 1 : 0, active ? descriptor : descriptor + 1000n]],
  };
}
