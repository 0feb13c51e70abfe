/**
 * PostgreSQL executor child: runs one query with `pg`.
 *
 * Spawned with `--allow-net=HOST:PORT --allow-env=PG*` (pg probes PG*
 * variables; the environment is cleared). Reads one request from stdin,
 * writes one response to stdout and exits.
 *
 * The query goes out as one simple-protocol query, so several statements run
 * as one implicit transaction and each one's outcome is reported. Rows arrive
 * as the server's text (no type parsing), so numbers keep their precision;
 * bytea becomes `0x...` hex and timestamps ISO 8601. Outcomes past
 * `MAX_RESULT_SETS` (or the output cap) are counted and dropped while the
 * query runs to its end: pg keeps nothing per result set of a submittable,
 * so draining costs no memory and keeps the implicit transaction whole. The
 * server enforces the timeout (`statement_timeout`, sent at start-up) and the
 * child gives up at its own deadline.
 *
 * A read-only operation is enforced by the server, not by reading the SQL:
 * the session starts with `default_transaction_read_only=on`, then `BEGIN
 * TRANSACTION READ ONLY` and a `SELECT 1` that takes the transaction's first
 * snapshot (after which PostgreSQL refuses `SET TRANSACTION READ WRITE` and
 * `set_config('transaction_read_only', 'off', ...)`); the text then goes out
 * through the extended query protocol, which accepts exactly one statement,
 * so it cannot `COMMIT` and go on writing; then `ROLLBACK`. See
 * docs/read-only-queries.md.
 *
 * @module
 */
import pg from "pg";
import {
  collectQuery,
  connectionFailure,
  type DbRunContext,
  type DriverError,
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
  PostgresOperation,
  PostgresTls,
} from "../protocol/mod.ts";

// Type OIDs of pg_type that get converted.
const BOOL = 16;
const BYTEA = 17;
const TIMESTAMP = 1114;
const TIMESTAMPTZ = 1184;

/** The fields of an ErrorResponse, as pg-protocol parses them. */
interface PgDatabaseError extends DriverError {
  severity?: string;
  code?: string;
  detail?: string;
  hint?: string;
  position?: string;
}

interface PgField {
  name: string;
  dataTypeID: number;
}

interface PgConnection {
  query(text: string): void;
  parse(message: { text: string }): void;
  bind(message: Record<string, never>): void;
  describe(message: { type: "P" }): void;
  execute(message: Record<string, never>): void;
  sync(): void;
  sendCopyFail(message: string): void;
  stream: { cork?: () => void; uncork?: () => void };
}

/**
 * How a query goes out: `simple` (one Query message, any number of
 * statements) or `extended` (Parse, Bind, Describe, Execute, Sync: the
 * server accepts exactly one statement).
 */
type QueryProtocol = "simple" | "extended";

/**
 * A pg "submittable": pg hands it every protocol message of the query, so
 * result sets are seen in order (including empty ones) and rows past the cap
 * are counted without being kept.
 */
class StreamingQuery {
  readonly #text: string;
  readonly #protocol: QueryProtocol;
  readonly #collector: ResultSetCollector;
  #types: number[] = [];
  readonly done: Promise<void>;
  #resolve!: () => void;
  #reject!: (error: unknown) => void;
  #failed = false;

  constructor(
    text: string,
    collector: ResultSetCollector,
    protocol: QueryProtocol,
  ) {
    this.#text = text;
    this.#protocol = protocol;
    this.#collector = collector;
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  submit(connection: PgConnection): null {
    if (this.#protocol === "simple") {
      connection.query(this.#text);
      return null;
    }
    // The unnamed statement and portal, text results, no parameters; one
    // write for the five messages.
    connection.stream.cork?.();
    try {
      connection.parse({ text: this.#text });
      connection.bind({});
      connection.describe({ type: "P" });
      connection.execute({});
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  handleRowDescription(message: { fields: PgField[] }): void {
    this.#types = message.fields.map((f) => f.dataTypeID);
    this.#collector.begin(message.fields.map((f) => f.name));
  }

  handleDataRow(message: { fields: (string | null)[] }): void {
    this.#collector.row(
      message.fields.map((value, i) => cellText(value, this.#types[i] ?? 0)),
    );
  }

  handleCommandComplete(message: { text?: string; command?: string }): void {
    // "INSERT 0 2", "UPDATE 3", "SELECT 5", "CREATE TABLE": the last number
    // is the row count.
    const tag = message.text ?? message.command ?? "";
    const match = /^(.*?)((?: \d+)*)$/.exec(tag);
    const command = match?.[1] ?? "";
    const count = Number(match?.[2]?.trim().split(" ").pop() ?? "");
    this.#collector.end({
      command: command === "" ? null : command,
      affectedRows: match?.[2] !== "" && Number.isSafeInteger(count)
        ? count
        : null,
    });
  }

  handleEmptyQuery(): void {}

  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: PgConnection): void {
    connection.sendCopyFail("COPY FROM STDIN is not supported by db_query");
  }

  handleCopyData(): void {}

  handleError(error: unknown): void {
    this.#failed = true;
    this.#reject(error);
  }

  handleReadyForQuery(): void {
    if (!this.#failed) this.#resolve();
  }
}

function cellText(value: string | null, type: number): string | null {
  if (value === null) return null;
  switch (type) {
    case BYTEA:
      // bytea_output = hex (the default since 9.0): "\x0102".
      return value.startsWith("\\x") ? `0x${value.slice(2)}` : value;
    case TIMESTAMP:
    case TIMESTAMPTZ:
      return isoTimestamp(value);
    case BOOL:
      return value === "t" ? "true" : value === "f" ? "false" : value;
    default:
      return value;
  }
}

/** The `ssl` option of pg for one sslmode (`prefer` first tries TLS). */
function sslOption(tls: PostgresTls): false | Record<string, unknown> {
  const ca = tls.ca === undefined ? {} : { ca: tls.ca };
  switch (tls.sslmode) {
    case "disable":
      return false;
    case "prefer":
    case "require":
      return { rejectUnauthorized: false };
    case "verify-ca":
      // The chain is verified; the host name is not (libpq's verify-ca).
      return { ...ca, rejectUnauthorized: true, checkServerIdentity: noCheck };
    case "verify-full":
      return { ...ca, rejectUnauthorized: true };
  }
}

function noCheck(): undefined {
  return undefined;
}

const TLS_FIX: TlsFix = {
  serverWithoutTls:
    "enable ssl in the server's postgresql.conf, or (insecure) set PG_SSLMODE=disable or prefer",
  certificate:
    "set PG_SSL_CA to the CA bundle that signed the server's certificate and use a host name the certificate holds",
};

function describe(error: PgDatabaseError): string {
  const parts = [
    `${error.severity ?? "ERROR"}${
      error.code === undefined ? "" : ` ${error.code}`
    }: ${error.message}`,
  ];
  if (error.position !== undefined) {
    parts.push(`(at character ${error.position})`);
  }
  if (error.detail !== undefined) parts.push(`DETAIL: ${error.detail}`);
  if (error.hint !== undefined) parts.push(`HINT: ${error.hint}`);
  return parts.join(" ");
}

/** Maps an error while connecting or logging in. */
function connectFailure(
  error: PgDatabaseError,
  context: DbRunContext<PostgresOperation>,
): ExecutorFailure {
  const { where, request, operation } = context;
  const user = request.credential.username;
  const isServerError = typeof error.code === "string" &&
    /^[0-9A-Z]{5}$/.test(error.code) && error.severity !== undefined;
  if (isServerError) {
    if (error.code === "28P01" || error.code === "28000") {
      return {
        code: "auth_failed",
        message:
          `PostgreSQL at ${where} refused the login of "${user}" to database "${operation.database}": ${
            describe(error)
          }`,
      };
    }
    return {
      code: "driver_error",
      message:
        `PostgreSQL at ${where} refused the connection to database "${operation.database}": ${
          describe(error)
        }`,
    };
  }
  const mapped = connectionFailure(error, where, TLS_FIX);
  if (mapped !== null) return mapped;
  if (/timeout/i.test(error.message)) {
    return {
      code: "connection_failed",
      message:
        `no PostgreSQL session within the time limit (${error.message}); check that the port serves PostgreSQL and the server is not overloaded`,
    };
  }
  return {
    code: "connection_failed",
    message:
      `${error.message}; check that the port serves PostgreSQL and the server's log`,
  };
}

function queryFailure(
  error: PgDatabaseError,
  context: DbRunContext<PostgresOperation>,
): ExecutorFailure {
  const { where, operation } = context;
  if (error.code === "57014") {
    return {
      code: "timeout",
      message: `PostgreSQL at ${where} cancelled the query at the time limit: ${
        describe(error)
      }`,
    };
  }
  if (error.severity === undefined) {
    return queryConnectionFailure(error, where, { tlsFix: TLS_FIX });
  }
  if (operation.readOnly) {
    const refusal = readOnlyRefusal(error);
    if (refusal !== null) {
      return {
        code: "driver_error",
        message:
          `${refusal}: PostgreSQL (${operation.database} at ${where}) returned ${
            describe(error)
          }`,
      };
    }
  }
  return {
    code: "driver_error",
    message: `PostgreSQL (${operation.database} at ${where}) returned ${
      describe(error)
    }`,
  };
}

/**
 * Why PostgreSQL refused a statement of a read-only operation, in words the
 * caller can act on; null for an error that has nothing to do with it.
 */
function readOnlyRefusal(error: PgDatabaseError): string | null {
  // 42601 syntax_error is also a text of several statements, which the
  // extended protocol refuses.
  if (error.code === "42601" && /multiple commands/i.test(error.message)) {
    return "read-only queries run one statement per call: send each statement in its own db_query call";
  }
  switch (error.code) {
    case "25006": // read_only_sql_transaction
      return "this query runs read-only (the policy rule that allowed it says read_only) and the database refused a write";
    case "25001": // active_sql_transaction: SET TRANSACTION READ WRITE too late
    case "2D000": // invalid_transaction_termination: COMMIT inside a procedure
      return "this query runs read-only (the policy rule that allowed it says read_only) inside a read-only transaction it cannot change or end";
  }
  return null;
}

function newClient(
  context: DbRunContext<PostgresOperation>,
  ssl: false | Record<string, unknown>,
): pg.Client {
  const { request, operation, deadline } = context;
  return new pg.Client({
    host: request.target.host,
    port: request.target.port,
    user: request.credential.username,
    password: request.credential.secret,
    database: operation.database,
    ssl,
    application_name: "mcp-privileged",
    // Sent in the start-up packet: every transaction of the session starts
    // read-only (defence in depth behind BEGIN TRANSACTION READ ONLY).
    ...(operation.readOnly
      ? { options: "-c default_transaction_read_only=on" }
      : {}),
    // Sent in the start-up packet: the server cancels the statement itself.
    statement_timeout: deadline.serverTimeoutMs(),
    connectionTimeoutMillis: deadline.remainingMs(),
  });
}

async function connect(
  context: DbRunContext<PostgresOperation>,
): Promise<pg.Client> {
  const tls = context.operation.tls;
  const client = newClient(context, sslOption(tls));
  client.on("error", () => {
    // Reported through the pending connect or query.
  });
  try {
    await client.connect();
    return client;
  } catch (error) {
    const refused = error instanceof Error &&
      /does not support SSL/i.test(error.message);
    if (tls.sslmode !== "prefer" || !refused) throw error;
  }
  // sslmode=prefer: the server has no TLS, so log in without it (libpq does too).
  const plain = newClient(context, false);
  plain.on("error", () => {});
  await plain.connect();
  return plain;
}

function stream(
  client: pg.Client,
  text: string,
  collector: ResultSetCollector,
  protocol: QueryProtocol,
): Promise<void> {
  const query = new StreamingQuery(text, collector, protocol);
  // deno-lint-ignore no-explicit-any -- pg's types do not describe submittables
  client.query(query as any);
  return query.done;
}

/**
 * Runs one statement in a read-only transaction that has taken its first
 * snapshot, then rolls it back.
 */
async function runReadOnly(
  client: pg.Client,
  text: string,
  collector: ResultSetCollector,
): Promise<void> {
  // The SELECT takes the snapshot that makes the read-only mode final.
  await client.query("BEGIN TRANSACTION READ ONLY; SELECT 1");
  await stream(client, text, collector, "extended");
  await client.query("ROLLBACK");
}

async function runPostgres(
  context: DbRunContext<PostgresOperation>,
): Promise<ExecutorResponse> {
  const { operation } = context;
  let client: pg.Client;
  try {
    client = await connect(context);
  } catch (error) {
    return failed(connectFailure(error as PgDatabaseError, context));
  }
  return collectQuery("postgres", context, {
    run: (collector) =>
      operation.readOnly
        ? runReadOnly(client, operation.query, collector)
        : stream(client, operation.query, collector, "simple"),
    failure: (error) => queryFailure(error as PgDatabaseError, context),
    close: () => client.end().catch(() => {}),
  });
}

if (import.meta.main) {
  await runDbExecutor("postgres", "PostgreSQL", runPostgres);
}
