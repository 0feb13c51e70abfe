/**
 * What the three database executor children (PostgreSQL, MySQL, SQL Server)
 * share: the request/response loop with its own deadline, the collection of
 * result sets within the row, cell and byte caps, and the mapping of network
 * and TLS failures. Imports only the protocol, like the children themselves.
 *
 * Trust boundary: the credential arrives on stdin and goes only to the
 * driver. Messages are built from fixed text and the database's own words;
 * a final pass redacts the secret in case a driver ever echoes it, and the
 * parent scrubs everything again.
 *
 * @module
 */
import {
  type DbCell,
  type DbOperation,
  type DbResult,
  type DbResultSet,
  type DbResultSetsCut,
  type ExecutorFailure,
  type ExecutorRequest,
  type ExecutorResponse,
  MAX_RESULT_SETS,
} from "../protocol/mod.ts";
import {
  Deadline,
  type DriverError,
  failed,
  failure,
  isSandboxDenial,
  sandboxDenied,
  serveOneRequest,
  success,
} from "./_kit.ts";

/** Fixed bytes counted per cell besides its text (JSON quotes, comma, null). */
const CELL_OVERHEAD_BYTES = 4;
/** Fixed bytes counted per column name besides its text (JSON quotes, comma). */
const COLUMN_OVERHEAD_BYTES = 4;
/**
 * Fixed bytes counted per statement outcome: the JSON of an empty
 * {@linkcode DbResultSet} is about 95 bytes.
 */
const RESULT_SET_OVERHEAD_BYTES = 100;

/** Limits of one collection. */
export interface CollectorLimits {
  /** Rows kept per result set. */
  readonly maxRows: number;
  /** Characters kept per cell. */
  readonly maxCellChars: number;
  /**
   * Bytes kept over all result sets: cell text, column names and a fixed
   * overhead per statement and per cell.
   */
  readonly maxBytes: number;
  /** Statement outcomes kept (default {@linkcode MAX_RESULT_SETS}). */
  readonly maxResultSets?: number;
}

/**
 * Collects the statements' outcomes in order, keeping at most `maxRows` rows
 * per result set, `maxResultSets` outcomes and `maxBytes` overall; rows past
 * a cap are counted and dropped, so the database can finish the statement
 * (closing the connection instead would roll back a multi-statement query).
 *
 * Outcomes past the result-set cap, or whose column names no longer fit in
 * `maxBytes`, are only counted: the collector's memory stays bounded however
 * many result sets (empty ones included) a query produces. Once
 * {@linkcode ResultSetCollector.cut} is set, a driver that itself keeps
 * something per result set must stop the query and say how
 * ({@linkcode ResultSetCollector.closeWhenCut}).
 */
export class ResultSetCollector {
  readonly #limits: CollectorLimits;
  readonly #maxResultSets: number;
  readonly #sets: DbResultSet[] = [];
  #current: DbResultSet | null = null;
  /** A result set past the cap is open: its rows are ignored. */
  #skipping = false;
  #bytes = 0;
  #cut: DbResultSetsCut["reason"] | null = null;
  #dropped = 0;
  #rest: DbResultSetsCut["rest"] = "drained";

  /** Creates a collector with these limits. */
  constructor(limits: CollectorLimits) {
    this.#limits = limits;
    this.#maxResultSets = limits.maxResultSets ?? MAX_RESULT_SETS;
  }

  /** Starts a result set with these column names. */
  begin(columns: readonly string[]): void {
    if (!this.#admit(columns)) {
      this.#current = null;
      this.#skipping = true;
      return;
    }
    this.#skipping = false;
    this.#current = {
      columns: [...columns],
      rows: [],
      rowCount: 0,
      rowsTruncated: null,
      affectedRows: null,
      command: null,
    };
    this.#sets.push(this.#current);
  }

  /** Whether a result set is open (begun and not ended). */
  get open(): boolean {
    return this.#current !== null || this.#skipping;
  }

  /**
   * Which cap stopped the collection of outcomes, or null while every
   * outcome is kept.
   */
  get cut(): DbResultSetsCut["reason"] | null {
    return this.#cut;
  }

  /**
   * For a driver that keeps something per result set until the query ends:
   * once a cap is reached, stops the query by calling `close` (once) and
   * records that the connection was closed instead of drained. True while
   * the query is stopped: the caller resolves, and ignores later events.
   */
  closeWhenCut(close: () => void): boolean {
    if (this.#rest === "connection_closed") return true;
    if (this.#cut === null) return false;
    this.#rest = "connection_closed";
    close();
    return true;
  }

  /** Whether {@linkcode ResultSetCollector.closeWhenCut} stopped the query. */
  get closed(): boolean {
    return this.#rest === "connection_closed";
  }

  /** Adds one row of cell texts to the open result set. */
  row(cells: readonly (string | null)[]): void {
    if (this.#skipping) return;
    const set = this.#current;
    if (set === null) {
      throw new TypeError("A row arrived before its column description");
    }
    set.rowCount++;
    if (set.rowsTruncated !== null) return;
    if (set.rows.length >= this.#limits.maxRows) {
      set.rowsTruncated = "max_rows";
      return;
    }
    const row = cells.map((cell) => cutCell(cell, this.#limits.maxCellChars));
    const bytes = row.reduce(
      (sum, cell) =>
        sum + CELL_OVERHEAD_BYTES +
        (cell === null
          ? 0
          : typeof cell === "string"
          ? cell.length
          : cell.text.length),
      0,
    );
    if (this.#bytes + bytes > this.#limits.maxBytes) {
      set.rowsTruncated = "max_bytes";
      return;
    }
    this.#bytes += bytes;
    set.rows.push(row);
  }

  /**
   * Ends the open result set, or records a statement without one, with what
   * the database reported about it.
   */
  end(report: { affectedRows?: number | null; command?: string | null }): void {
    if (this.#skipping) {
      this.#skipping = false;
      return;
    }
    const set = this.#current ?? this.#statement();
    this.#current = null;
    if (set === null) return;
    if (report.affectedRows !== undefined && set.columns.length === 0) {
      set.affectedRows = report.affectedRows;
    }
    if (report.command !== undefined) {
      set.command = report.command === null
        ? null
        : report.command.slice(0, 64);
    }
  }

  /** The outcomes kept, in statement order. */
  get resultSets(): DbResultSet[] {
    return this.#sets;
  }

  /** Why outcomes were not kept and what became of the rest; null if none. */
  get resultSetsCut(): DbResultSetsCut | null {
    if (this.#cut === null) return null;
    return {
      reason: this.#cut,
      rest: this.#rest,
      dropped: this.#rest === "drained" ? this.#dropped : null,
    };
  }

  /**
   * Counts one more outcome against the caps: true when it is kept; false
   * (and counted as dropped) once a cap is reached.
   */
  #admit(columns: readonly string[]): boolean {
    if (this.#cut === null) {
      const bytes = columns.reduce(
        (sum, name) => sum + COLUMN_OVERHEAD_BYTES + name.length,
        RESULT_SET_OVERHEAD_BYTES,
      );
      if (this.#sets.length >= this.#maxResultSets) {
        this.#cut = "max_result_sets";
      } else if (this.#bytes + bytes > this.#limits.maxBytes) {
        this.#cut = "max_bytes";
      } else {
        this.#bytes += bytes;
        return true;
      }
    }
    this.#dropped++;
    return false;
  }

  #statement(): DbResultSet | null {
    if (!this.#admit([])) return null;
    const set: DbResultSet = {
      columns: [],
      rows: [],
      rowCount: 0,
      rowsTruncated: null,
      affectedRows: null,
      command: null,
    };
    this.#sets.push(set);
    return set;
  }
}

/** Cuts a cell at `maxChars` characters, never inside a surrogate pair. */
export function cutCell(text: string | null, maxChars: number): DbCell {
  if (text === null || text.length <= maxChars) return text;
  let cut = maxChars;
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--;
  return {
    text: text.slice(0, cut),
    textTruncated: true,
    chars: [...text].length,
  };
}

/** Bytes as `0x` and lower-case hex, as SQL Server and MySQL print them. */
export function hexText(bytes: Uint8Array): string {
  let out = "0x";
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0");
  return out;
}

/**
 * `2024-01-02 03:04:05.678+01` (as PostgreSQL and MySQL print timestamps) as
 * ISO 8601: `T` between date and time, and a `+HH:MM` offset. Anything else
 * is returned unchanged.
 */
export function isoTimestamp(text: string): string {
  const match =
    /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d(?::?\d\d(?::?\d\d)?)?)?$/
      .exec(text);
  if (match === null) return text;
  const offset = match[3] ?? "";
  const zone = /^[+-]\d\d$/.test(offset) ? `${offset}:00` : offset;
  return `${match[1]}T${match[2]}${zone}`;
}

export type { DriverError };

const TLS_CODES =
  /^(?:ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HANDSHAKE_SSL_ERROR|HANDSHAKE_NO_SSL_SUPPORT)/;
const TLS_WORDS =
  /certificate|self[- ]signed|altnames|does not support (?:SSL|secure)|\bTLS\b|\bSSL\b|handshake failure|unknown ?issuer|invalid ?peer/i;

/** Whether a connection error is about TLS (refused, unverifiable, wrong name). */
export function isTlsError(error: DriverError): boolean {
  return (typeof error.code === "string" && TLS_CODES.test(error.code)) ||
    TLS_WORDS.test(error.message);
}

/**
 * Maps an error of the connection phase that is not the database's own
 * answer: network, sandbox, TLS. Returns null for anything else.
 */
export function connectionFailure(
  error: DriverError,
  where: string,
  tlsFix: TlsFix,
): ExecutorFailure | null {
  if (isSandboxDenial(error)) {
    return sandboxDenied(where);
  }
  switch (error.code) {
    case "ECONNREFUSED":
      return {
        code: "connection_failed",
        message:
          `connection refused (${error.code}); check the host and port and that the database server is running and listening on TCP`,
      };
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return {
        code: "connection_failed",
        message:
          `the host name does not resolve (${error.code}); check the spelling or use the IP address`,
      };
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return {
        code: "connection_failed",
        message:
          `no route or no answer (${error.code}); check that the host is up and a firewall allows the gateway`,
      };
    case "ECONNRESET":
    case "EPIPE":
      return {
        code: "connection_failed",
        message:
          `the server closed the connection (${error.code}); check the server's log and connection limits`,
      };
  }
  if (isTlsError(error)) {
    const noTls = NO_TLS.test(error.message) ||
      error.code === "HANDSHAKE_NO_SSL_SUPPORT";
    return {
      code: "tls_failed",
      message: `TLS to ${where} failed: ${error.message}; ${
        noTls ? tlsFix.serverWithoutTls : tlsFix.certificate
      }`,
    };
  }
  return null;
}

/**
 * A failure of the connection once the query ran: the first network or TLS
 * cause among `causes` (default: the error itself), else a lost connection.
 */
export function queryConnectionFailure(
  error: DriverError,
  where: string,
  options: { tlsFix: TlsFix; causes?: readonly DriverError[] },
): ExecutorFailure {
  for (const cause of options.causes ?? [error]) {
    const mapped = connectionFailure(cause, where, options.tlsFix);
    if (mapped !== null) return mapped;
  }
  return {
    code: "connection_failed",
    message:
      `The connection to ${where} failed during the query: ${error.message}`,
  };
}

const NO_TLS = /does not support (?:SSL|secure)|did not negotiate encryption/i;

/** How to fix a TLS failure, per engine and cause. */
export interface TlsFix {
  /** The server refused TLS. */
  readonly serverWithoutTls: string;
  /** The server's certificate failed verification. */
  readonly certificate: string;
}

/** What a child's run function gets. */
export interface DbRunContext<T extends DbOperation> {
  readonly request: ExecutorRequest;
  readonly operation: T;
  /** `host:port`, for messages. */
  readonly where: string;
  /** When the child must have answered. */
  readonly deadline: Deadline;
  /** Where the run is; set `stage` to `query` once logged in. */
  readonly progress: { stage: "connect" | "query" };
}

/**
 * Runs one database executor: reads the request, checks its kind, runs it
 * before the deadline the request's limits set, writes exactly one response
 * with the secret redacted, and exits.
 */
export function runDbExecutor<K extends DbOperation["kind"]>(
  kind: K,
  engine: string,
  run: (
    context: DbRunContext<Extract<DbOperation, { kind: K }>>,
  ) => Promise<ExecutorResponse>,
): Promise<never> {
  return serveOneRequest(kind, engine, (request, operation) => {
    const { host, port } = request.target;
    const where = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    const deadline = new Deadline(request.limits);
    const progress: DbRunContext<DbOperation>["progress"] = {
      stage: "connect",
    };
    return deadline.race(
      run({
        request,
        operation: operation as Extract<DbOperation, { kind: K }>,
        where,
        deadline,
        progress,
      }),
      () =>
        progress.stage === "connect"
          ? failure(
            "connection_failed",
            `no ${engine} session within ${request.limits.timeoutMs} ms (stuck connecting or logging in); check that the host is up, the port serves ${engine} and a firewall allows the gateway`,
          )
          : failure(
            "timeout",
            `The query on ${where} did not finish within ${request.limits.timeoutMs} ms and the executor gave up; pass a larger timeout_seconds or make the query cheaper`,
          ),
    );
  });
}

/** A successful response of a database executor. */
function dbSuccess<K extends DbOperation["kind"]>(
  kind: K,
  collector: ResultSetCollector,
  elapsedMs: number,
): ExecutorResponse {
  const cut = collector.resultSetsCut;
  return success({
    kind,
    resultSets: collector.resultSets,
    ...(cut === null ? {} : { resultSetsCut: cut }),
    elapsedMs: Math.round(elapsedMs * 10) / 10,
  } as DbResult);
}

/**
 * The query stage every database executor shares: a collector bounded by the
 * operation's and the request's limits, the stage marked for the deadline's
 * message, the elapsed time measured, a driver error mapped by the caller.
 * `close` runs after a successful query only (on failure the process exits).
 */
export async function collectQuery<K extends DbOperation["kind"]>(
  kind: K,
  context: DbRunContext<Extract<DbOperation, { kind: K }>>,
  steps: {
    run: (collector: ResultSetCollector) => Promise<void>;
    failure: (error: unknown) => ExecutorFailure;
    close: () => void;
  },
): Promise<ExecutorResponse> {
  const collector = new ResultSetCollector({
    maxRows: context.operation.maxRows,
    maxCellChars: context.operation.maxCellChars,
    maxBytes: context.request.limits.maxOutputBytes,
  });
  context.progress.stage = "query";
  const started = performance.now();
  try {
    await steps.run(collector);
  } catch (error) {
    return failed(steps.failure(error));
  }
  const elapsed = performance.now() - started;
  steps.close();
  return dbSuccess(kind, collector, elapsed);
}
