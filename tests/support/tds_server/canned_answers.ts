/**
 * Answers several tests give their TDS server for the same situations, so
 * that each is written once: SQL Server's syntax error and a 30 s WAITFOR.
 *
 * @module
 */
import type { TdsErrorResult, TdsQueryResult } from "./types.ts";

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
