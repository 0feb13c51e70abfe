/**
 * `db_query(host, database, db_type, query, secret_handle[, port,
 * timeout_seconds, max_rows])` on `/mcp/database`: redeems a handle and runs
 * SQL in a sandboxed PostgreSQL, MySQL / MariaDB or SQL Server executor.
 *
 * @module
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { getLogger } from "@logtape/logtape";
import { z } from "zod";
import type {
  DbOperation,
  ExecutorFailure,
} from "../../executors/protocol/mod.ts";
import { type Config, insecureDbTls } from "../config/mod.ts";
import { type DbType, validateDatabaseName } from "../database_name.ts";
import { formatDbResult } from "../format_db_result.ts";
import { callControl, type ToolExtra } from "../call_control.ts";
import { observedToolCall } from "../call_events.ts";
import type { ToolContext } from "../tool_context.ts";
import {
  genericFailureText,
  hostArgument,
  hostPort,
  type OperationGrant,
  portArgument,
  runTargetOperation,
  secretHandleArgument,
  type TargetTool,
  timeoutArgument,
} from "./_operation.ts";

/** Tool name, as in the operations manual. */
export const DB_QUERY = "db_query";

/** Default port per engine. */
export const DEFAULT_DB_PORTS: Readonly<Record<DbType, number>> = {
  postgres: 5432,
  mysql: 3306,
  mssql: 1433,
};

const ENGINES: Readonly<Record<DbType, string>> = {
  postgres: "PostgreSQL",
  mysql: "MySQL",
  mssql: "SQL Server",
};

const log = getLogger(["gateway", "database"]);
const MAX_QUERY_CHARS = 512 * 1024;
/** Longest query text written to an audit line (the rest is cut). */
const MAX_AUDITED_QUERY_CHARS = 16 * 1024;

/**
 * The tool's arguments. `timeout_seconds` and `max_rows` are bounded by
 * configuration when the tool is registered ({@linkcode registerDbQuery}).
 */
export const DbQueryArguments = z.object({
  host: hostArgument("Database"),
  database: z.string().min(1).max(128).describe(
    'Database to connect to, e.g. "orders" (letters, digits, _ $ -)',
  ),
  db_type: z.enum(["postgres", "mysql", "mssql"]).describe(
    "Engine: postgres, mysql (also MariaDB) or mssql (SQL Server)",
  ),
  query: z.string().min(1).max(MAX_QUERY_CHARS).describe(
    'SQL to run, e.g. "SELECT COUNT(*) AS n FROM orders"',
  ),
  secret_handle: secretHandleArgument,
  port: portArgument("Port (default 5432 postgres, 3306 mysql, 1433 mssql)"),
  timeout_seconds: z.number().int().min(1).optional(),
  max_rows: z.number().int().min(1).optional(),
});

/** The arguments of one call. */
export type DbQueryArgs = z.infer<typeof DbQueryArguments>;

/** Registers the tool on an MCP server for one request. */
export function registerDbQuery(server: McpServer, context: ToolContext): void {
  const { executors: limits, databases } = context.services.config;
  server.registerTool(
    DB_QUERY,
    {
      title: "Run SQL on a database",
      description:
        "Run SQL on PostgreSQL, MySQL/MariaDB or SQL Server with a credential handle from get_credential. " +
        "Use the host from the handle's Address. Several statements may be sent at once; each result set is shown as a text table " +
        "(NULL as NULL, binary as 0x hex, dates ISO 8601) and statements without rows report the rows affected. " +
        "Rows beyond max_rows and very long cells are cut with a notice; prefer LIMIT / TOP and selected columns. " +
        "Writes are executed: be deliberate. When handles are single-use, call get_credential again before each db_query.",
      inputSchema: {
        ...DbQueryArguments.shape,
        timeout_seconds: timeoutArgument(limits),
        max_rows: z.number().int().min(1).max(databases.maxRows).optional()
          .describe(
            `Rows shown per result set (default ${databases.defaultMaxRows}, at most ${databases.maxRows})`,
          ),
      },
      annotations: { destructiveHint: true, openWorldHint: true },
    },
    (args: DbQueryArgs, extra: ToolExtra): Promise<CallToolResult> =>
      observedToolCall(DB_QUERY, () =>
        runTargetOperation(
          dbTool(args, context),
          {
            host: args.host,
            port: args.port ?? DEFAULT_DB_PORTS[args.db_type],
            secretHandle: args.secret_handle,
            timeoutSeconds: args.timeout_seconds,
            args,
            refusalFields: { db_type: args.db_type },
          },
          context,
          callControl(extra),
        )),
  );
}

/** What db_query adds to the shared pipeline. */
export function dbTool(
  args: Pick<DbQueryArgs, "database" | "db_type" | "query" | "max_rows">,
  context: ToolContext,
): TargetTool<DbType, DbOperation> {
  const { config } = context.services;
  const dbType = args.db_type;
  return {
    name: DB_QUERY,
    command: args.query,
    event: "db_queried",
    protocol: dbType,
    prepare: () =>
      dbOperation(validateDatabaseName(args.database, dbType), args, config),
    warnInsecure: ({ target, prepared }) => {
      const insecure = insecureDbTls(dbType, prepared.tls);
      if (insecure !== null) {
        log.warn("{warning} (connection to {host}:{port})", {
          warning: insecure,
          host: target.host,
          port: target.port,
        });
      }
    },
    // A policy rule with read_only: true makes the database refuse writes.
    operation: (operation, grant) => ({
      ...operation,
      readOnly: grant.readOnly,
    }),
    approvalDatabase: (operation) => `${operation.database} (${dbType})`,
    auditFields: (operation, grant) => ({
      read_only: grant.readOnly,
      database: operation.database,
      db_type: dbType,
      query: args.query.length > MAX_AUDITED_QUERY_CHARS
        ? `${args.query.slice(0, MAX_AUDITED_QUERY_CHARS)}...`
        : args.query,
      query_chars: args.query.length,
    }),
    succeeded: (result, { target, prepared: operation }) => {
      const sets = result.resultSets;
      return {
        audit: {
          rows: sets.reduce((sum, s) => sum + s.rowCount, 0),
          rows_affected: sets.reduce(
            (sum, s) => sum + (s.affectedRows ?? 0),
            0,
          ),
          result_sets: sets.length,
          // Past the result-set cap: why, how the query ended, and how many
          // outcomes were counted and dropped (null when not counted).
          result_sets_cut: result.resultSetsCut?.reason ?? null,
          result_sets_rest: result.resultSetsCut?.rest ?? null,
          result_sets_dropped: result.resultSetsCut?.dropped ?? null,
          truncated: result.resultSetsCut !== undefined ||
            sets.some((s) =>
              s.rowsTruncated !== null ||
              s.rows.some((row) =>
                row.some((c) => c !== null && typeof c !== "string")
              )
            ),
          elapsed_ms: Math.round(result.elapsedMs),
        },
        text: formatDbResult(result, {
          host: target.host,
          database: operation.database,
          dbType,
          query: args.query,
          maxRows: operation.maxRows,
          maxRowsLimit: config.databases.maxRows,
          maxCellChars: operation.maxCellChars,
          maxOutputBytes: config.executors.maxOutputBytes,
        }),
      };
    },
    failed: (failure, { target, limitMs, grant }) => ({
      audit: { rows: null, elapsed_ms: null, error_code: failure.code },
      text: withReadOnlyNote(
        dbFailureText(failure, dbType, target, { limitMs, config }),
        failure,
        grant,
      ),
    }),
  };
}

/**
 * Names the policy rule that made the call read-only; the executor's text
 * already says what read-only refused (a write, several statements, a
 * batch that ended its transaction).
 */
function withReadOnlyNote(
  text: string,
  failure: ExecutorFailure,
  grant: OperationGrant,
): string {
  if (!grant.readOnly || failure.code !== "driver_error") return text;
  return `${text} [read-only by policy rule "${grant.rule ?? ""}"]`;
}

function dbOperation(
  database: string,
  args: Pick<DbQueryArgs, "db_type" | "query" | "max_rows">,
  config: Config,
): DbOperation {
  const common = {
    database,
    query: args.query,
    // Read-write until the policy decides: operation() sets the grant's flag.
    readOnly: false,
    maxRows: Math.min(
      args.max_rows ?? config.databases.defaultMaxRows,
      config.databases.maxRows,
    ),
    maxCellChars: config.databases.maxCellChars,
  };
  switch (args.db_type) {
    case "postgres":
      return { kind: "postgres", ...common, tls: config.databases.postgres };
    case "mysql":
      return { kind: "mysql", ...common, tls: config.databases.mysql };
    case "mssql":
      return { kind: "mssql", ...common, tls: config.databases.mssql };
  }
}

/** What a failure text of db_query depends on besides the failure. */
export interface DbFailureContext {
  /** The effective time limit (ms). */
  readonly limitMs: number;
  /** The configuration (limits named in the fix). */
  readonly config: Config;
}

/** The tool error text for a database executor failure. */
export function dbFailureText(
  failure: ExecutorFailure,
  dbType: DbType,
  target: { host: string; port: number },
  context: DbFailureContext,
): string {
  const { limitMs, config } = context;
  const engine = ENGINES[dbType];
  const where = hostPort(target);
  switch (failure.code) {
    case "auth_failed":
      return `Login refused: ${failure.message}. Check the credential in CyberArk (PVWA test retrieval), ` +
        `that ${engine} lets this account log in from the gateway's address (${
          LOGIN_RULES[dbType]
        }) and that the account is not locked or expired`;
    case "timeout":
      return `Query timed out after ${
        Math.round(limitMs / 1000)
      } s and was stopped: ${failure.message}. Pass a larger timeout_seconds (at most ${config.executors.maxTimeoutSeconds}), or make the query cheaper (WHERE, LIMIT / TOP, an index)`;
    case "connection_failed":
      return `Cannot connect to ${engine} at ${where}: ${failure.message}`;
    case "driver_error":
      return `Query failed: ${failure.message}`;
    default:
      return genericFailureText(failure, target, limitMs);
  }
}

const LOGIN_RULES: Readonly<Record<DbType, string>> = {
  postgres: "pg_hba.conf",
  mysql: "the 'user'@'host' accounts",
  mssql: "SQL Server authentication enabled, the login mapped to the database",
};
