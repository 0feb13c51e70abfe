/**
 * MySQL / MariaDB executor child: runs one query with `mysql2`.
 *
 * Spawned with `--allow-net=HOST:PORT` only. Reads one request from stdin,
 * writes one response to stdout and exits.
 *
 * Several statements are allowed (`multipleStatements`) and each one's
 * outcome is reported. Values stay as the server's text where mysql2 allows
 * (big integers, decimals, dates, JSON); binary columns become `0x...` hex.
 * mysql2's code-generating row parser is off (`disableEval`): column names
 * from the server never become code. `LOAD DATA LOCAL` is refused (no
 * LOCAL_FILES capability). After `MAX_RESULT_SETS` outcomes (or the
 * output cap) the connection is closed, which stops the rest of the query.
 * The server enforces the timeout
 * (`max_statement_time` on MariaDB, `max_execution_time` for SELECT on
 * MySQL) and the child gives up at its own deadline.
 *
 * A read-only operation is enforced by the server, not by reading the SQL:
 * the connection does not allow several statements (the server refuses a
 * text of more than one as a syntax error, before any of it runs), the
 * session's transactions are made read-only (`SET SESSION TRANSACTION READ
 * ONLY`, so a statement after the implicit commit of DDL is read-only too),
 * the one statement runs inside `START TRANSACTION READ ONLY`, and the
 * transaction is rolled back. See docs/read-only-queries.md.
 *
 * @module
 */
import tls from "node:tls";
import mysql from "mysql2";
import {
  collectQuery,
  connectionFailure,
  type DbRunContext,
  type DriverError,
  hexText,
  isoTimestamp,
  queryConnectionFailure,
  ResultSetCollector,
  runDbExecutor,
  type TlsFix,
} from "./_db_child.ts";
import { failed } from "./_kit.ts";
import type {
  ExecutorFailure,
  ExecutorResponse,
  MysqlOperation,
  MysqlTls,
} from "../protocol/mod.ts";

// Column types (include/mysql_com.h) printed as timestamps.
const TYPE_TIMESTAMP = 7;
const TYPE_DATETIME = 12;

// Server error numbers (MySQL / MariaDB error reference).
const ER_UNKNOWN_SYSTEM_VARIABLE = 1193;
const ER_PARSE_ERROR = 1064;
const ER_CANT_CHANGE_TX_CHARACTERISTICS = 1568;
const ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION = 1792;
const AUTH_ERRORS = new Set([1045, 1698, 1251, 1524]);
const TIMEOUT_ERRORS = new Set([
  1317, // ER_QUERY_INTERRUPTED
  1969, // MariaDB ER_STATEMENT_TIMEOUT
  3024, // MySQL ER_QUERY_TIMEOUT
]);
const BUSY_ERRORS = new Set([1040, 1129, 1203]);

// mysql2's callback API emits a query's packets as events; its types do not
// describe them, so these describe only what this file uses.
interface MysqlError extends DriverError {
  errno?: number;
  sqlState?: string;
  sqlMessage?: string;
  fatal?: boolean;
}
interface MysqlField {
  name: string;
  columnType: number;
}
interface ResultSetHeader {
  affectedRows: number;
}
interface MysqlQuery {
  on(
    event: "fields",
    listener: (fields: MysqlField[] | undefined) => void,
  ): this;
  on(
    event: "result",
    listener: (row: unknown[] | ResultSetHeader, index: number) => void,
  ): this;
  on(event: "error", listener: (error: MysqlError) => void): this;
  on(event: "end", listener: () => void): this;
}
interface MysqlConnection {
  connect(callback: (error: MysqlError | null) => void): void;
  query(sql: string): MysqlQuery;
  query(
    sql: string,
    callback: (error: MysqlError | null) => void,
  ): MysqlQuery;
  on(event: "error", listener: (error: MysqlError) => void): this;
  destroy(): void;
}

function cellText(value: unknown, type: number): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Uint8Array) return hexText(value);
  if (typeof value === "string") {
    return type === TYPE_DATETIME || type === TYPE_TIMESTAMP
      ? isoTimestamp(value)
      : value;
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** The `ssl` option of mysql2 for one mode (`preferred` first tries TLS). */
function sslOption(
  tls: MysqlTls,
): Record<string, unknown> | undefined {
  const ca = tls.ca === undefined ? {} : { ca: tls.ca };
  switch (tls.mode) {
    case "disabled":
      return undefined;
    case "preferred":
    case "required":
      return { rejectUnauthorized: false, verifyIdentity: false };
    case "verify_ca":
      return { ...ca, rejectUnauthorized: true, verifyIdentity: false };
    case "verify_identity":
      return { ...ca, rejectUnauthorized: true, verifyIdentity: true };
  }
}

/**
 * mysql2 leaves `servername` unset for an IP address (RFC 6066 forbids IP
 * SNI) and relies on `tls.connect` to check the certificate against the
 * socket's host, as Node does; Deno's node:tls checks it against
 * "localhost" instead. This child makes exactly one connection, to `host`,
 * so the check is pinned to that address.
 */
function pinIdentityCheck(host: string): void {
  const check = tls.checkServerIdentity;
  (tls as { checkServerIdentity: typeof check }).checkServerIdentity = (
    _name,
    cert,
  ) => check(host, cert);
}

const TLS_FIX: TlsFix = {
  serverWithoutTls:
    "enable TLS on the server (ssl_cert / ssl_key), or (insecure) set MYSQL_SSL=disabled or preferred",
  certificate:
    "set MYSQL_SSL_CA to the CA bundle that signed the server's certificate and use a host name the certificate holds",
};

function describe(error: MysqlError): string {
  if (error.errno === undefined || error.sqlState === undefined) {
    return error.message;
  }
  return `ERROR ${error.errno} (${error.sqlState}): ${
    error.sqlMessage ?? error.message
  }`;
}

function isServerError(error: MysqlError): boolean {
  return typeof error.errno === "number" && error.sqlState !== undefined &&
    error.errno >= 1000;
}

function connectFailure(
  error: MysqlError,
  context: DbRunContext<MysqlOperation>,
): ExecutorFailure {
  const { where, request, operation } = context;
  if (isServerError(error)) {
    if (AUTH_ERRORS.has(error.errno!)) {
      return {
        code: "auth_failed",
        message:
          `MySQL at ${where} refused the login of "${request.credential.username}": ${
            describe(error)
          }`,
      };
    }
    if (BUSY_ERRORS.has(error.errno!)) {
      return {
        code: "connection_failed",
        message: `the server refused the connection: ${describe(error)}`,
      };
    }
    return {
      code: "driver_error",
      message:
        `MySQL at ${where} refused the connection to database "${operation.database}": ${
          describe(error)
        }`,
    };
  }
  const mapped = connectionFailure(error, where, TLS_FIX);
  if (mapped !== null) return mapped;
  return {
    code: "connection_failed",
    message:
      `${error.message}; check that the port serves MySQL or MariaDB and the server's log`,
  };
}

function queryFailure(
  error: MysqlError,
  context: DbRunContext<MysqlOperation>,
): ExecutorFailure {
  const { where, operation } = context;
  if (isServerError(error)) {
    if (TIMEOUT_ERRORS.has(error.errno!)) {
      return {
        code: "timeout",
        message: `MySQL at ${where} stopped the query at the time limit: ${
          describe(error)
        }`,
      };
    }
    const refusal = operation.readOnly ? readOnlyRefusal(error) : null;
    return {
      code: "driver_error",
      message: `${
        refusal === null ? "" : `${refusal}: `
      }MySQL (${operation.database} at ${where}) returned ${describe(error)}`,
    };
  }
  return queryConnectionFailure(error, where, { tlsFix: TLS_FIX });
}

/**
 * Why the server refused a statement of a read-only operation, in words the
 * caller can act on; null for an error that has nothing to do with it.
 */
function readOnlyRefusal(error: MysqlError): string | null {
  switch (error.errno) {
    case ER_PARSE_ERROR:
      return "read-only queries run one statement per call (a text of several statements is a syntax error here): if it holds several, send each in its own db_query call";
    case ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION:
      return "this query runs read-only (the policy rule that allowed it says read_only) and the database refused a write";
    case ER_CANT_CHANGE_TX_CHARACTERISTICS:
      return "this query runs read-only (the policy rule that allowed it says read_only) inside a read-only transaction it cannot change";
  }
  return null;
}

function open(
  context: DbRunContext<MysqlOperation>,
  ssl: Record<string, unknown> | undefined,
): Promise<MysqlConnection> {
  const { request, operation, deadline } = context;
  const connection = mysql.createConnection({
    host: request.target.host,
    port: request.target.port,
    user: request.credential.username,
    password: request.credential.secret,
    database: operation.database,
    ...(ssl === undefined ? {} : { ssl }),
    // Read-only: one statement, so the text cannot COMMIT and go on.
    multipleStatements: !operation.readOnly,
    rowsAsArray: true,
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    jsonStrings: true,
    disableEval: true,
    // Report changed rows, not matched rows, as the mysql client does; and
    // never offer LOAD DATA LOCAL.
    flags: ["-FOUND_ROWS", "-LOCAL_FILES"],
    connectTimeout: deadline.remainingMs(),
    connectAttributes: { program_name: "mcp-privileged" },
  }) as unknown as MysqlConnection;
  connection.on("error", () => {
    // Reported through the pending connect or query.
  });
  return new Promise((resolve, reject) => {
    connection.connect((error) => {
      if (error === null) {
        resolve(connection);
      } else {
        connection.destroy();
        reject(error);
      }
    });
  });
}

async function connect(
  context: DbRunContext<MysqlOperation>,
): Promise<MysqlConnection> {
  const { tls: mode } = context.operation;
  const host = context.request.target.host;
  if (mode.mode === "verify_identity" && /^[0-9.]+$|:/.test(host)) {
    pinIdentityCheck(host);
  }
  try {
    return await open(context, sslOption(mode));
  } catch (error) {
    const refused = (error as MysqlError).code === "HANDSHAKE_NO_SSL_SUPPORT";
    if (mode.mode !== "preferred" || !refused) throw error;
  }
  // preferred: the server has no TLS, so log in without it (as the mysql client does).
  return await open(context, undefined);
}

function run(connection: MysqlConnection, sql: string): Promise<void> {
  return new Promise((resolve, reject) => {
    connection.query(
      sql,
      (error) => error === null ? resolve() : reject(error),
    );
  });
}

/** Sets the server-side statement timeout, on MariaDB or else on MySQL. */
async function setServerTimeout(
  connection: MysqlConnection,
  ms: number,
): Promise<void> {
  try {
    await run(
      connection,
      `SET SESSION max_statement_time = ${(ms / 1000).toFixed(3)}`,
    );
  } catch (error) {
    if ((error as MysqlError).errno !== ER_UNKNOWN_SYSTEM_VARIABLE) throw error;
    await run(connection, `SET SESSION max_execution_time = ${ms}`);
  }
}

function stream(
  connection: MysqlConnection,
  sql: string,
  collector: ResultSetCollector,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let types: number[] = [];
    // mysql2 keeps every result set's column definitions until the query
    // ends, so a procedure looping over SELECTs would grow this process
    // without bound if drained: once the collector is cut, close the
    // connection (the server then stops the statement) and say so.
    const stopIfCut = (): void => {
      if (collector.closeWhenCut(() => connection.destroy())) resolve();
    };
    const query = connection.query(sql);
    query.on("fields", (fields) => {
      if (collector.open) collector.end({});
      if (fields === undefined) return;
      types = fields.map((f) => f.columnType);
      collector.begin(fields.map((f) => f.name));
      stopIfCut();
    });
    query.on("result", (row) => {
      if (collector.closed) return;
      if (Array.isArray(row)) {
        collector.row(row.map((value, i) => cellText(value, types[i] ?? 0)));
      } else {
        collector.end({ affectedRows: row.affectedRows });
        stopIfCut();
      }
    });
    query.on("error", reject);
    query.on("end", () => {
      if (collector.open) collector.end({});
      resolve();
    });
  });
}

/**
 * Runs one statement in a read-only transaction of a read-only session, then
 * rolls it back (unless the collector's cut closed the connection, which
 * rolls it back too).
 */
async function runReadOnly(
  connection: MysqlConnection,
  sql: string,
  collector: ResultSetCollector,
): Promise<void> {
  await run(connection, "SET SESSION TRANSACTION READ ONLY");
  await run(connection, "START TRANSACTION READ ONLY");
  await stream(connection, sql, collector);
  if (!collector.closed) await run(connection, "ROLLBACK");
}

async function runMysql(
  context: DbRunContext<MysqlOperation>,
): Promise<ExecutorResponse> {
  const { operation, deadline } = context;
  let connection: MysqlConnection;
  try {
    connection = await connect(context);
    await setServerTimeout(connection, deadline.serverTimeoutMs());
  } catch (error) {
    return failed(connectFailure(error as MysqlError, context));
  }
  return collectQuery("mysql", context, {
    run: (collector) =>
      operation.readOnly
        ? runReadOnly(connection, operation.query, collector)
        : stream(connection, operation.query, collector),
    failure: (error) => queryFailure(error as MysqlError, context),
    close: () => connection.destroy(),
  });
}

if (import.meta.main) {
  await runDbExecutor("mysql", "MySQL", runMysql);
}
