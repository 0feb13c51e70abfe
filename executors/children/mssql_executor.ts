/**
 * SQL Server executor child: runs one query with `mssql` (tedious).
 *
 * Spawned with `--allow-net=HOST:PORT --allow-env` (the `debug` package under
 * tedious enumerates the environment at import; the environment is cleared).
 * `options.workstationId` is set, so tedious never calls `os.hostname()`
 * (which would need `--allow-sys`). Reads one request from stdin, writes one
 * response to stdout and exits.
 *
 * The query goes out as one SQL batch (as sqlcmd sends it), so several
 * statements run and each result set or row count is reported. The server
 * enforces the timeout: on `requestTimeout` tedious sends ATTENTION, which
 * cancels the batch on the server; the child gives up at its own deadline.
 * After `MAX_RESULT_SETS` outcomes (or the output cap) the connection is
 * closed, which stops the rest of the batch.
 *
 * SQL Server has no read-only transaction, so a read-only operation is only
 * partly enforced by the server (see docs/read-only-queries.md): the login
 * declares ApplicationIntent=ReadOnly (LOGIN7 fReadOnlyIntent), which an
 * Availability Group enforces by routing to, or only admitting on, a
 * read-only replica; and the batch runs inside a transaction (TM_BEGIN_XACT
 * on the one connection the transaction holds) that is always rolled back.
 * The batch can end that transaction itself (COMMIT, ROLLBACK) and go on
 * writing: the executor checks `@@TRANCOUNT` and `CURRENT_TRANSACTION_ID()`
 * before and after in requests of its own and reports such a batch as
 * failed, but what it wrote after ending the transaction stays written.
 * `XACT_ABORT` stays off so that a failing statement leaves the transaction
 * open and the check can still run.
 *
 * Note that mssql's `connect()` logs in twice: a probe connection that it
 * closes, then the pooled connection that runs the batch.
 *
 * @module
 */
import sql from "mssql";
import {
  collectQuery,
  connectionFailure,
  type DbRunContext,
  type DriverError,
  hexText,
  queryConnectionFailure,
  ResultSetCollector,
  runDbExecutor,
  type TlsFix,
} from "./_db_child.ts";
import { failed } from "./_kit.ts";
import type {
  ExecutorFailure,
  ExecutorResponse,
  MssqlOperation,
} from "../protocol/mod.ts";

/** The workstation name sent in LOGIN7 (also keeps tedious off os.hostname()). */
const WORKSTATION_ID = "mcp-privileged";

// mssql ships no types: these describe only what this file uses.
interface MssqlError extends DriverError {
  number?: number;
  state?: number;
  class?: number;
  lineNumber?: number;
  serverName?: string;
  procName?: string;
  originalError?: MssqlError;
}
interface MssqlColumn {
  name: string;
  type?: { declaration?: string };
}
interface MssqlRequest {
  stream: boolean;
  arrayRowMode: boolean;
  on(event: "recordset", listener: (columns: MssqlColumn[]) => void): this;
  on(event: "row", listener: (row: unknown[]) => void): this;
  on(event: "rowsaffected", listener: (count: number) => void): this;
  on(event: "error", listener: (error: MssqlError) => void): this;
  on(event: "done", listener: () => void): this;
  batch(text: string): Promise<MssqlBatchResult>;
}
interface MssqlBatchResult {
  recordset?: Record<string, unknown>[];
}
/** What hands out requests: the pool, or a transaction holding one connection. */
interface MssqlRequester {
  request(overrides: { requestTimeout: number }): MssqlRequest;
}
interface MssqlTransaction extends MssqlRequester {
  begin(): Promise<MssqlTransaction>;
  rollback(): Promise<void>;
}
interface MssqlPool extends MssqlRequester {
  connect(): Promise<MssqlPool>;
  transaction(overrides: { requestTimeout: number }): MssqlTransaction;
  close(): Promise<void>;
  on(event: "error", listener: (error: MssqlError) => void): this;
}
const { ConnectionPool } = sql as unknown as {
  ConnectionPool: new (config: Record<string, unknown>) => MssqlPool;
};

function cellText(value: unknown, declaration: string): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Uint8Array) return hexText(value);
  if (value instanceof Date) {
    const iso = value.toISOString();
    switch (declaration) {
      case "date":
        return iso.slice(0, 10);
      case "time":
        return iso.slice(11, 23);
      case "datetimeoffset":
        return iso;
      default:
        // datetime, datetime2, smalldatetime carry no zone: tedious read
        // them as UTC (useUTC), so drop the Z rather than claim one.
        return iso.slice(0, 23);
    }
  }
  if (typeof value === "string") return value;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

const TLS_FIX: TlsFix = {
  serverWithoutTls:
    "install a certificate on the server and force encryption, or (insecure) set MSSQL_ENCRYPT=false",
  certificate:
    "set MSSQL_SSL_CA to the CA bundle that signed the server's certificate and use a host name the certificate holds (or, insecure, set MSSQL_TRUST_SERVER_CERTIFICATE=true)",
};

function describe(error: MssqlError): string {
  const inner = error.originalError ?? error;
  const number = error.number ?? inner.number;
  if (number === undefined) return error.message;
  const level = error.class ?? inner.class;
  const state = error.state ?? inner.state;
  const line = error.lineNumber ?? inner.lineNumber;
  return `Msg ${number}, Level ${level ?? "?"}, State ${state ?? "?"}${
    line === undefined ? "" : `, Line ${line}`
  }: ${error.message}`;
}

function connectFailure(
  error: MssqlError,
  context: DbRunContext<MssqlOperation>,
): ExecutorFailure {
  const { where, request, operation } = context;
  if (error.code === "ELOGIN") {
    if (/^Login failed/i.test(error.message)) {
      return {
        code: "auth_failed",
        message:
          `SQL Server at ${where} refused the login of "${request.credential.username}": ${error.message}`,
      };
    }
    return {
      code: "driver_error",
      message:
        `SQL Server at ${where} refused the connection to database "${operation.database}": ${error.message}`,
    };
  }
  if (error.code === "EENCRYPT") {
    return {
      code: "tls_failed",
      message: `TLS to ${where} failed: ${
        error.message.replace(/ Set '.*$/, "")
      }; ${
        /did not negotiate/i.test(error.message)
          ? TLS_FIX.serverWithoutTls
          : "set MSSQL_ENCRYPT=true"
      }`,
    };
  }
  for (const cause of causes(error)) {
    const mapped = connectionFailure(cause, where, TLS_FIX);
    if (mapped !== null) return mapped;
  }
  if (error.code === "ETIMEOUT") {
    return {
      code: "connection_failed",
      message:
        `no SQL Server session within the time limit (${error.message}); check that the port serves SQL Server and a firewall allows the gateway`,
    };
  }
  return {
    code: "connection_failed",
    message:
      `${error.message}; check that the port serves SQL Server and the server's error log`,
  };
}

function queryFailure(
  error: MssqlError,
  context: DbRunContext<MssqlOperation>,
): ExecutorFailure {
  const { where, operation } = context;
  if (error instanceof ReadOnlyBreach) {
    const also = error.cause === undefined
      ? ""
      : `; the batch also failed: ${describe(error.cause)}`;
    return {
      code: "driver_error",
      message:
        `SQL Server (${operation.database} at ${where}) ran a read-only query (the policy rule that allowed it says read_only), but ${error.message}${also}`,
    };
  }
  if (error.code === "ETIMEOUT") {
    return {
      code: "timeout",
      message:
        `SQL Server at ${where} was told to cancel the batch (ATTENTION) at the time limit: ${error.message}`,
    };
  }
  if (error.code === "EREQUEST" || error.number !== undefined) {
    return {
      code: "driver_error",
      message: `SQL Server (${operation.database} at ${where}) returned ${
        describe(error)
      }`,
    };
  }
  return queryConnectionFailure(error, where, {
    tlsFix: TLS_FIX,
    causes: causes(error),
  });
}

/**
 * The error and what it wraps, innermost first: mssql's `originalError`,
 * tedious's `cause`, and the per-address errors of an AggregateError
 * ("Could not connect (sequence)" hides an ECONNREFUSED).
 */
function causes(error: MssqlError): MssqlError[] {
  const out: MssqlError[] = [];
  const visit = (value: unknown, depth: number): void => {
    if (!(value instanceof Error) || depth > 4) return;
    out.push(value as MssqlError);
    const record = value as MssqlError & { cause?: unknown; errors?: unknown };
    visit(record.originalError, depth + 1);
    visit(record.cause, depth + 1);
    if (Array.isArray(record.errors)) {
      for (const inner of record.errors) visit(inner, depth + 1);
    }
  };
  visit(error, 0);
  return out.reverse();
}

/**
 * A read-only batch that ended, or may have ended, the transaction the
 * executor runs it in; `message` says which, `cause` is the batch's own
 * error, if any.
 */
class ReadOnlyBreach extends Error {
  override name = "ReadOnlyBreach";
  override readonly cause: MssqlError | undefined;

  constructor(message: string, cause: MssqlError | undefined) {
    super(message);
    this.cause = cause;
  }
}

/** What the transaction check asks; the TDS test server's canned answers know it. */
const TRANSACTION_STATE_QUERY =
  "SELECT @@TRANCOUNT AS trancount, CURRENT_TRANSACTION_ID() AS transaction_id";

interface TransactionState {
  trancount: number;
  transactionId: string;
}

async function transactionState(
  requester: MssqlRequester,
  requestTimeout: number,
): Promise<TransactionState> {
  const result = await requester.request({ requestTimeout }).batch(
    TRANSACTION_STATE_QUERY,
  );
  const row = result.recordset?.[0];
  if (row === undefined) {
    throw new TypeError("The transaction check returned no row");
  }
  return {
    trancount: Number(row.trancount),
    transactionId: String(row.transaction_id),
  };
}

const ENDED_TRANSACTION =
  "the batch ended the transaction the executor runs it in (a COMMIT, a ROLLBACK, or an error that aborts it), so anything it wrote after that may have been kept: SQL Server has no read-only transaction and the executor can check only afterwards; review what the batch did, and give read-only rules a login with read-only grants";

/**
 * Runs one batch inside a transaction that is always rolled back, and
 * checks in requests of its own that the batch left that transaction open.
 *
 * @throws {ReadOnlyBreach} when the batch ended the transaction or could not
 * be checked
 */
async function runReadOnly(
  pool: MssqlPool,
  text: string,
  collector: ResultSetCollector,
  requestTimeout: number,
): Promise<void> {
  // The transaction holds one connection for all three requests: a batch
  // never runs on a fresh connection outside it.
  const transaction = pool.transaction({ requestTimeout });
  await transaction.begin();
  const before = await transactionState(transaction, requestTimeout);
  if (before.trancount !== 1) {
    throw new ReadOnlyBreach(
      `the transaction to run it in did not begin (@@TRANCOUNT ${before.trancount}), so the batch was not sent`,
      undefined,
    );
  }
  let failure: MssqlError | undefined;
  try {
    await stream(pool, transaction, text, collector, requestTimeout);
  } catch (error) {
    failure = error as MssqlError;
  }
  if (collector.closed) {
    throw new ReadOnlyBreach(
      "it returned more result sets than the cap, so the executor closed the connection (which rolls the transaction back) before it could check that the batch had not ended the transaction itself; make the batch return fewer result sets",
      undefined,
    );
  }
  let after: TransactionState | null = null;
  try {
    after = await transactionState(transaction, requestTimeout);
  } catch {
    // mssql refuses requests of a transaction the server rolled back.
  }
  if (
    after === null || after.trancount < 1 ||
    after.transactionId !== before.transactionId
  ) {
    throw new ReadOnlyBreach(ENDED_TRANSACTION, failure);
  }
  await transaction.rollback();
  if (failure !== undefined) throw failure;
}

function stream(
  pool: MssqlPool,
  requester: MssqlRequester,
  text: string,
  collector: ResultSetCollector,
  requestTimeout: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let declarations: string[] = [];
    let failed: MssqlError | null = null;
    const request = requester.request({ requestTimeout });
    // mssql keeps every result set's columns (arrayRowMode) until the batch
    // ends, so a loop of SELECTs would grow this process without bound if
    // drained. Once the collector is cut, close the connection (the server
    // then aborts the batch): cancelling with ATTENTION instead would still
    // read and parse all the server sent before it stopped, which grew the
    // child by the size of that backlog.
    const stopIfCut = (): void => {
      const closing = collector.closeWhenCut(() => {
        void pool.close().catch(() => {});
      });
      if (closing) resolve();
    };
    request.stream = true;
    request.arrayRowMode = true;
    request.on("recordset", (columns) => {
      if (collector.open) collector.end({});
      declarations = columns.map((c) => c.type?.declaration ?? "");
      collector.begin(columns.map((c) => c.name));
      stopIfCut();
    });
    request.on("row", (row) => {
      if (!collector.open || collector.closed) return;
      collector.row(
        row.map((value, i) => cellText(value, declarations[i] ?? "")),
      );
    });
    request.on("rowsaffected", (count) => {
      // After a result set this is its row count (already counted);
      // otherwise it is the count of an INSERT, UPDATE or DELETE.
      if (collector.open) collector.end({});
      else collector.end({ affectedRows: count });
      stopIfCut();
    });
    request.on("error", (error) => {
      failed ??= error;
    });
    request.on("done", () => {
      if (collector.open) collector.end({});
      if (failed === null) resolve();
      else reject(failed);
    });
    // Streaming: the outcome arrives through the events above.
    request.batch(text).catch(() => {});
  });
}

async function runMssql(
  context: DbRunContext<MssqlOperation>,
): Promise<ExecutorResponse> {
  const { operation, request, deadline } = context;
  const { tls } = operation;
  const pool = new ConnectionPool({
    server: request.target.host,
    port: request.target.port,
    user: request.credential.username,
    password: request.credential.secret,
    database: operation.database,
    connectionTimeout: deadline.remainingMs(),
    pool: { min: 0, max: 1 },
    validateConnection: false,
    options: {
      encrypt: tls.encrypt,
      trustServerCertificate: tls.trustServerCertificate,
      ...(tls.ca === undefined
        ? {}
        : { cryptoCredentialsDetails: { ca: tls.ca } }),
      workstationId: WORKSTATION_ID,
      appName: "mcp-privileged",
      // A failed login is reported once, not retried with the same secret.
      maxRetriesOnTransientErrors: 0,
      // LOGIN7 fReadOnlyIntent (ApplicationIntent=ReadOnly).
      readOnlyIntent: operation.readOnly,
      useUTC: true,
    },
  });
  pool.on("error", () => {
    // Reported through the pending connect or request.
  });
  try {
    await pool.connect();
  } catch (error) {
    return failed(connectFailure(error as MssqlError, context));
  }
  return collectQuery("mssql", context, {
    // Set now, after the (double) login: past it tedious sends ATTENTION,
    // which cancels the batch on the server.
    run: (collector) =>
      operation.readOnly
        ? runReadOnly(
          pool,
          operation.query,
          collector,
          deadline.serverTimeoutMs(),
        )
        : stream(
          pool,
          pool,
          operation.query,
          collector,
          deadline.serverTimeoutMs(),
        ),
    failure: (error) => queryFailure(error as MssqlError, context),
    close: () => void pool.close().catch(() => {}),
  });
}

if (import.meta.main) {
  await runDbExecutor("mssql", "SQL Server", runMssql);
}
