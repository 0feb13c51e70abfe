/**
 * A wire-level TDS 7.4 test server that stands in for SQL Server, so tests can
 * drive the real `mssql` (tedious) driver without a database engine.
 *
 * The bytes follow Microsoft's MS-TDS specification: PRELOGIN (with
 * ENCRYPT_NOT_SUP, or ENCRYPT_ON and a TLS 1.2 handshake carried in PRELOGIN
 * packets), LOGIN7 with SQL authentication, SQL batches, `sp_executesql` RPC
 * requests, transaction manager requests and ATTENTION. Every statement the
 * client sends is answered by a handler the test supplies; a handler's answer
 * may begin, commit or roll back the session's transaction as a T-SQL
 * statement would (ENVCHANGE 8, 9, 10). The server records each login's
 * ReadOnlyIntent flag and each request's transaction descriptor.
 *
 * Note that mssql's `request.query()` arrives as an `sp_executesql` RPC, with
 * or without parameters; only `request.batch()` sends a SQL batch.
 *
 * Not served: TDS before 7.2, TDS 8 (`encrypt: "strict"`), TLS 1.3, MARS,
 * integrated (SSPI/NTLM) and federated authentication, bulk load, RPCs other
 * than `sp_executesql`, and output parameters (no RETURNVALUE tokens).
 *
 * Layout, one TDS concern per file: `types.ts` (what tests configure and
 * read), `start_tds_server.ts` (the listener), `_session.ts` (one
 * connection's loop), `_packets.ts` (framing), `_prelogin.ts` and
 * `_tls_relay.ts` (PRELOGIN and TLS), `login7.ts` and `_login_response.ts`
 * (LOGIN7), `_session_statements.ts`, `_transactions.ts`, `_results.ts`
 * (response tokens), `_type_encoders.ts` and `_rpc_params.ts` (values on the
 * wire), `_tokens.ts`, `_constants.ts`, `_bytes.ts`, `_io.ts` and
 * `_certificate.ts`; `canned_answers.ts` holds answers several tests share.
 *
 * @module
 */

export {
  deobfuscateLogin7Password,
  type Login7Message,
  obfuscateLogin7Password,
  parseLogin7,
} from "./login7.ts";
export { startTdsServer } from "./start_tds_server.ts";
export {
  answerTransactionState,
  SYNTAX_ERROR,
  TRANSACTION_STATE_QUERY,
  WAITFOR_30S,
  WAITFOR_30S_ANSWER,
} from "./canned_answers.ts";
export type {
  RunningTdsServer,
  TdsColumn,
  TdsColumnType,
  TdsDelayedResult,
  TdsEncryptionOption,
  TdsErrorResult,
  TdsInfoResult,
  TdsLoginRecord,
  TdsPreLoginRecord,
  TdsQueryContext,
  TdsQueryHandler,
  TdsQueryResult,
  TdsRequestRecord,
  TdsResultPart,
  TdsResultSet,
  TdsRowsAffected,
  TdsServerMessage,
  TdsServerOptions,
  TdsTransactionChange,
  TdsTransactionState,
} from "./types.ts";
