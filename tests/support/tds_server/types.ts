/**
 * The public types of the TDS test server: what a test configures, what a
 * query handler returns, and what the server records.
 *
 * @module
 */

/** Column types the server can describe in COLMETADATA and encode in rows. */
export type TdsColumnType =
  | "tinyint"
  | "smallint"
  | "int"
  | "bigint"
  | "bit"
  | "float"
  | "real"
  | "decimal"
  | "nvarchar"
  | "varchar"
  | "varbinary"
  | "datetime"
  | "datetime2"
  | "date"
  | "uniqueidentifier";

/**
 * One column of a result set.
 *
 * Values per type: integers as `number` (`bigint` also as `bigint` or a
 * string of digits), `bit` as `boolean`, `float`/`real` as `number`,
 * `decimal` as `number`, `bigint` or a decimal string, strings as `string`
 * (`varchar` is sent in code page 1252; other characters become `?`),
 * `varbinary` as `Uint8Array`, dates as `Date` (read as UTC) or a string
 * `Date` parses, `uniqueidentifier` as its usual string form; `null` or
 * `undefined` for NULL.
 */
export interface TdsColumn {
  /** The column name; `""` for an unnamed column. */
  name: string;
  /** The SQL Server type. */
  type: TdsColumnType;
  /** Whether NULL is allowed; true unless set to false. */
  nullable?: boolean;
  /**
   * Maximum length: characters for `nvarchar`, bytes for `varchar` and
   * `varbinary`; `"max"` sends values as PLP streams. Defaults to 4000
   * (nvarchar) or 8000.
   */
  length?: number | "max";
  /** Precision of a `decimal` (1-38, default 18). */
  precision?: number;
  /** Scale of a `decimal` (default 0) or `datetime2` (0-7, default 7). */
  scale?: number;
}

/** A result set: column descriptions and rows of values in column order. */
export interface TdsResultSet {
  /** The columns; at least one. */
  columns: readonly TdsColumn[];
  /** The rows, each with one value per column. */
  rows: readonly (readonly unknown[])[];
}

/** A statement that changed rows and returned none (INSERT, UPDATE, DELETE). */
export interface TdsRowsAffected {
  /** The row count reported in the DONE token. */
  rowsAffected: number;
}

/** The fields of an ERROR or INFO token. */
export interface TdsServerMessage {
  /** The message number, for example 102 for a syntax error. */
  number: number;
  /** The error state. */
  state: number;
  /** The severity class: 0-10 informational, 11-16 user errors. */
  class: number;
  /** The message text. */
  message: string;
  /** The line in the batch; 1 when omitted. */
  lineNumber?: number;
  /** The stored procedure name; empty when omitted. */
  procName?: string;
}

/** A statement that failed: an ERROR token followed by DONE with DONE_ERROR. */
export interface TdsErrorResult {
  /** The error to report. */
  error: TdsServerMessage;
}

/** An informational message (like PRINT output): an INFO token. */
export interface TdsInfoResult {
  /** The message to report. */
  info: TdsServerMessage;
}

/**
 * A T-SQL `BEGIN TRANSACTION`, `COMMIT` or `ROLLBACK` in the batch: the
 * server sends the ENVCHANGE SQL Server sends for it (types 8, 9 and 10,
 * MS-TDS 2.2.7.9, with the transaction descriptor) and updates the session's
 * transaction, so later requests see it in {@linkcode TdsQueryContext}.
 */
export interface TdsTransactionChange {
  /** What the statement did to the session's transaction. */
  transaction: "begin" | "commit" | "rollback";
}

/** One piece of a response, in the order the statements produced it. */
export type TdsResultPart =
  | TdsResultSet
  | TdsRowsAffected
  | TdsErrorResult
  | TdsInfoResult
  | TdsTransactionChange;

/**
 * A response that arrives after `delayMs`, like a long-running query. An
 * ATTENTION from the client (sent on a request timeout or cancel) ends the
 * wait and the server acknowledges it instead of sending `result`.
 */
export interface TdsDelayedResult {
  /** How long the "query" runs before `result` is sent. */
  delayMs: number;
  /** What to send when the delay ends; an empty DONE when omitted. */
  result?: TdsQueryResult;
}

/** What a query handler returns for one batch or RPC statement. */
export type TdsQueryResult =
  | TdsResultPart
  | readonly TdsResultPart[]
  | TdsDelayedResult;

/** What the handler knows about the request being answered. */
export interface TdsQueryContext {
  /** The login name of the session. */
  user: string;
  /** The current database of the session. */
  database: string;
  /** A SQL batch, or an `sp_executesql` RPC request. */
  kind: "sql_batch" | "rpc";
  /** The `sp_executesql` parameters by name without `@`; empty for batches. */
  params: Readonly<Record<string, unknown>>;
  /** The session's transaction when the request arrived. */
  transaction: TdsTransactionState;
  /** Aborted when the client sends ATTENTION or disconnects. */
  signal: AbortSignal;
}

/** A session's transaction, as the server keeps it. */
export interface TdsTransactionState {
  /** Whether a transaction is open (`@@TRANCOUNT` > 0). */
  readonly active: boolean;
  /** The descriptor of the latest transaction (0 before the first). */
  readonly descriptor: bigint;
}

/** Answers one statement text; may be async. */
export type TdsQueryHandler = (
  sql: string,
  ctx: TdsQueryContext,
) => TdsQueryResult | Promise<TdsQueryResult>;

/** The ENCRYPTION values of PRELOGIN (MS-TDS 2.2.6.5). */
export type TdsEncryptionOption = "off" | "on" | "not_supported" | "required";

/** How to start a {@linkcode startTdsServer}. */
export interface TdsServerOptions {
  /** Logins and their passwords. */
  users: Readonly<Record<string, string>>;
  /** Databases a login may open; the first is the default database. */
  databases: readonly string[];
  /** Answers statements; without it every statement fails with error 50000. */
  onQuery?: TdsQueryHandler;
  /**
   * `"not_supported"` (default) answers PRELOGIN with ENCRYPT_NOT_SUP and
   * never uses TLS. `"on"` answers ENCRYPT_ON (ENCRYPT_REQ to a client that
   * cannot encrypt) and runs TLS 1.2 with {@linkcode TdsServerOptions.tls}
   * or a throwaway self-signed certificate.
   */
  encryption?: "not_supported" | "on";
  /** PEM certificate and key for `encryption: "on"`. */
  tls?: { cert: string; key: string };
  /**
   * Packet size to announce in ENVCHANGE instead of the one the client asked
   * for (512-32767); a small size exercises packet splitting both ways.
   */
  packetSize?: number;
  /**
   * Whether the server itself answers what drivers send on their own:
   * batches made only of `SET` statements (tedious's session setup),
   * `SELECT 1` (the mssql pool's connection check) and `USE <database>`.
   * Default true; such statements then never reach `onQuery` or `batches`.
   */
  answerSessionStatements?: boolean;
  /** The server name in messages; default `"TDSTEST"`. */
  serverName?: string;
}

/** One LOGIN7 the server received; the password itself is never kept. */
export interface TdsLoginRecord {
  /** The login name sent. */
  user: string;
  /** The database asked for, or the default one when none was sent. */
  database: string;
  /** The client's application name. */
  appName: string;
  /** The client's workstation name. */
  hostName: string;
  /** The client library name. */
  libraryName: string;
  /** The server name the client connected to. */
  serverName: string;
  /** The TDS version the client asked for, as in LOGIN7 (0x74000004). */
  tdsVersion: number;
  /** The packet size the client asked for. */
  packetSize: number;
  /** Whether the password matched the one configured for `user`. */
  passwordOk: boolean;
  /** Whether the login was accepted. */
  succeeded: boolean;
  /** Whether the login arrived over TLS. */
  encrypted: boolean;
  /**
   * LOGIN7 TypeFlags fReadOnlyIntent (0x20): the client declared a
   * read-only workload (ApplicationIntent=ReadOnly).
   */
  readOnlyIntent: boolean;
}

/** One PRELOGIN the server received. */
export interface TdsPreLoginRecord {
  /** The client's version as `major.minor.build.subbuild`. */
  version: string;
  /** The client's ENCRYPTION option. */
  encryption: TdsEncryptionOption;
  /** Whether the client asked for MARS. */
  mars: boolean;
  /** What the server answered. */
  answered: TdsEncryptionOption;
}

/** One request after login. */
export interface TdsRequestRecord {
  /** The request type. */
  kind: "sql_batch" | "rpc" | "transaction";
  /** The SQL text, the procedure name, or the transaction request name. */
  sql: string;
  /** The `sp_executesql` parameters; empty otherwise. */
  params: Readonly<Record<string, unknown>>;
  /** The session's login. */
  user: string;
  /** The session's database when the request arrived. */
  database: string;
  /** Who produced the response. */
  answeredBy: "handler" | "server";
  /** Whether an ATTENTION canceled the request before it was answered. */
  canceled: boolean;
  /** The transaction descriptor the client sent in ALL_HEADERS (0 for none). */
  transactionDescriptor: bigint;
}

/** A running test server; close it to release its port and sockets. */
export interface RunningTdsServer extends AsyncDisposable {
  /** Always `127.0.0.1`. */
  readonly hostname: string;
  /** The ephemeral port. */
  readonly port: number;
  /** Every PRELOGIN received, in order. */
  readonly preLogins: readonly TdsPreLoginRecord[];
  /** Every LOGIN7 received, in order. */
  readonly logins: readonly TdsLoginRecord[];
  /** The SQL texts handed to `onQuery` (batches and `sp_executesql`). */
  readonly batches: readonly string[];
  /** Every request after login, including those the server answered. */
  readonly requests: readonly TdsRequestRecord[];
  /** How many ATTENTION messages arrived. */
  readonly attentions: number;
  /** How many TCP connections were accepted. */
  readonly connections: number;
  /**
   * Protocol errors that made the server drop a connection (a malformed
   * packet, an unexpected message); empty when all went well.
   */
  readonly errors: readonly Error[];
  /** Stops listening, closes every connection and waits for them to end. */
  close(): Promise<void>;
}
