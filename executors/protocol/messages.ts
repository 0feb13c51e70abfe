/**
 * The messages of the gateway/executor protocol: one request, one response,
 * as zod schemas both sides parse with.
 *
 * @module
 */
import { z } from "zod";

/**
 * Versioned protocol name; both sides refuse any other. Version 2 added
 * `limits.killGraceMs`; version 3 the error code `resource_limit` and a
 * database result's `resultSetsCut`; version 4 a database operation's
 * `readOnly`.
 */
export const PROTOCOL_VERSION = "mcp-privileged.executor/4";

/** Target of one operation: validated before it reaches `--allow-net`. */
export const TargetSchema = z.object({
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535),
});
/** Target of one operation. */
export type Target = z.infer<typeof TargetSchema>;

/** The resolved credential, sent only over the child's stdin. */
export const CredentialSchema = z.object({
  username: z.string(),
  /** Password, or a private key in OpenSSH/PEM form when `kind` is `private_key`. */
  secret: z.string(),
  kind: z.enum(["password", "private_key"]),
  /** Passphrase of an encrypted private key. */
  passphrase: z.string().optional(),
  /** Windows logon domain, when the account has one. */
  domain: z.string().optional(),
});
/** The resolved credential. */
export type Credential = z.infer<typeof CredentialSchema>;

/** One acceptable or revoked host key, as in a known_hosts line. */
export const HostKeySchema = z.object({
  /** Key type, e.g. `ssh-ed25519`. */
  type: z.string(),
  /** Base64 of the SSH wire-format public key blob. */
  key: z.string(),
});
/** One host key. */
export type HostKey = z.infer<typeof HostKeySchema>;

/** How the SSH executor checks the server's host key. */
export const HostKeyPolicySchema = z.discriminatedUnion("mode", [
  z.object({
    mode: z.literal("verify"),
    /** Keys known for this host:port; empty means the host is unknown. */
    allowed: z.array(HostKeySchema),
    /** Keys marked `@revoked`: always refused. */
    revoked: z.array(HostKeySchema),
  }),
  z.object({ mode: z.literal("disabled") }),
]);
/** How the SSH executor checks the server's host key. */
export type HostKeyPolicy = z.infer<typeof HostKeyPolicySchema>;

/** Run one shell command over SSH. */
export const SshOperationSchema = z.object({
  kind: z.literal("ssh"),
  command: z.string().min(1),
  hostKeys: HostKeyPolicySchema,
});
/** Run one shell command over SSH. */
export type SshOperation = z.infer<typeof SshOperationSchema>;

/** Longest PowerShell script accepted (characters). */
export const MAX_POWERSHELL_SCRIPT_CHARS = 512 * 1024;

/** How the PowerShell executor checks the WinRM listener's certificate (HTTPS only). */
export const WinrmTlsSchema = z.object({
  /** false only when the operator set `WINRM_VERIFY_SSL=false`. */
  verify: z.boolean(),
  /** PEM CA bundle trusted in addition to the built-in roots (read by the gateway). */
  caPem: z.string().min(1).max(1024 * 1024).optional(),
});
/** How the PowerShell executor checks the WinRM certificate. */
export type WinrmTls = z.infer<typeof WinrmTlsSchema>;

/** Run one PowerShell script over WinRM (WinRS). */
export const PowershellOperationSchema = z.object({
  kind: z.literal("powershell"),
  script: z.string().min(1).max(MAX_POWERSHELL_SCRIPT_CHARS),
  /** HTTPS (true) or HTTP with NTLM sealing (false). */
  useSsl: z.boolean(),
  /** `basic` only together with `useSsl`. */
  auth: z.enum(["ntlm", "basic"]),
  tls: WinrmTlsSchema,
});
/** Run one PowerShell script over WinRM. */
export type PowershellOperation = z.infer<typeof PowershellOperationSchema>;

/** What the `probe` executor tries, to show what its sandbox allows. */
export const ProbeActionSchema = z.enum([
  "noop",
  "sleep",
  "connect_target",
  "connect_other",
  "read_file",
  "read_env",
  "spawn_process",
  "write_file",
  "import_npm",
  "fetch_url",
  "listen",
  "resolve_dns",
]);
/** What the `probe` executor tries. */
export type ProbeAction = z.infer<typeof ProbeActionSchema>;

/**
 * Try one action inside the executor sandbox (tests and the doctor self-test).
 * The probe never sends or prints the credential.
 */
export const ProbeOperationSchema = z.object({
  kind: z.literal("probe"),
  action: ProbeActionSchema,
  /** File for `read_file` and `write_file`. */
  path: z.string().min(1).max(4096).optional(),
  /** URL for `fetch_url`. */
  url: z.string().min(1).max(4096).optional(),
  /** Host and port for `connect_other` (deliberately not the target). */
  other: TargetSchema.optional(),
  /** Milliseconds for `sleep`. */
  ms: z.number().int().min(0).max(600_000).optional(),
});
/** Try one action inside the executor sandbox. */
export type ProbeOperation = z.infer<typeof ProbeOperationSchema>;

/** Longest database name any of the drivers accepts (SQL Server's sysname). */
export const MAX_DATABASE_NAME_CHARS = 128;

/** A PEM CA bundle, read by the gateway (executors cannot read files). */
const PemSchema = z.string().min(1).max(1024 * 1024);

/** What every database operation carries besides its TLS settings. */
const DB_OPERATION_FIELDS = {
  /** Database to open; checked by the gateway's strict name rule first. */
  database: z.string().min(1).max(MAX_DATABASE_NAME_CHARS),
  /**
   * SQL text, sent as one simple query / batch (several statements allowed),
   * or as exactly one statement when `readOnly` (PostgreSQL, MySQL).
   */
  query: z.string().min(1),
  /**
   * Run read-only, enforced by the database rather than by reading the SQL:
   * a read-only transaction on PostgreSQL and MySQL/MariaDB, a transaction
   * that is always rolled back (and the ReadOnlyIntent login flag) on SQL
   * Server. See docs/read-only-queries.md for what each engine guarantees.
   */
  readOnly: z.boolean(),
  /** Rows kept per result set; the rest are counted and dropped. */
  maxRows: z.number().int().positive(),
  /** Characters kept per cell; longer cells are cut (see {@linkcode DbCellSchema}). */
  maxCellChars: z.number().int().positive(),
} as const;

/**
 * TLS to PostgreSQL, with libpq's `sslmode` meanings: `disable` plaintext,
 * `prefer` TLS without verification and plaintext when refused, `require`
 * TLS without verification, `verify-ca` chain only, `verify-full` chain and
 * host name.
 */
export const PostgresTlsSchema = z.object({
  sslmode: z.enum(["disable", "prefer", "require", "verify-ca", "verify-full"]),
  /** CA bundle instead of the built-in roots. */
  ca: PemSchema.optional(),
});
/** TLS to PostgreSQL. */
export type PostgresTls = z.infer<typeof PostgresTlsSchema>;

/** Run SQL on PostgreSQL with `pg`. */
export const PostgresOperationSchema = z.object({
  kind: z.literal("postgres"),
  ...DB_OPERATION_FIELDS,
  tls: PostgresTlsSchema,
});
/** Run SQL on PostgreSQL. */
export type PostgresOperation = z.infer<typeof PostgresOperationSchema>;

/**
 * TLS to MySQL / MariaDB, with the MySQL client's `--ssl-mode` meanings
 * (`verify_identity` checks chain and host name).
 */
export const MysqlTlsSchema = z.object({
  mode: z.enum([
    "disabled",
    "preferred",
    "required",
    "verify_ca",
    "verify_identity",
  ]),
  /** CA bundle instead of the built-in roots. */
  ca: PemSchema.optional(),
});
/** TLS to MySQL / MariaDB. */
export type MysqlTls = z.infer<typeof MysqlTlsSchema>;

/** Run SQL on MySQL or MariaDB with `mysql2`. */
export const MysqlOperationSchema = z.object({
  kind: z.literal("mysql"),
  ...DB_OPERATION_FIELDS,
  tls: MysqlTlsSchema,
});
/** Run SQL on MySQL or MariaDB. */
export type MysqlOperation = z.infer<typeof MysqlOperationSchema>;

/** TLS to SQL Server, as tedious's `encrypt` and `trustServerCertificate`. */
export const MssqlTlsSchema = z.object({
  /** Encrypt the whole session (false: at most the login packet). */
  encrypt: z.boolean(),
  /** Accept any server certificate (no chain or name check). */
  trustServerCertificate: z.boolean(),
  /** CA bundle instead of the built-in roots. */
  ca: PemSchema.optional(),
});
/** TLS to SQL Server. */
export type MssqlTls = z.infer<typeof MssqlTlsSchema>;

/** Run SQL on SQL Server with `mssql` (tedious). */
export const MssqlOperationSchema = z.object({
  kind: z.literal("mssql"),
  ...DB_OPERATION_FIELDS,
  tls: MssqlTlsSchema,
});
/** Run SQL on SQL Server. */
export type MssqlOperation = z.infer<typeof MssqlOperationSchema>;

/** A database operation of any engine. */
export type DbOperation = PostgresOperation | MysqlOperation | MssqlOperation;

/** Every operation an executor can perform. */
export const OperationSchema = z.discriminatedUnion("kind", [
  SshOperationSchema,
  PowershellOperationSchema,
  ProbeOperationSchema,
  PostgresOperationSchema,
  MysqlOperationSchema,
  MssqlOperationSchema,
]);
/** Every operation an executor can perform. */
export type Operation = z.infer<typeof OperationSchema>;

/**
 * Limits the child enforces itself (the parent enforces them again). The
 * child must have answered `timeoutMs` after it read the request; the parent
 * kills it with SIGKILL `killGraceMs` after that, so work the child still does
 * past its deadline (closing a remote shell, say) must fit in the grace.
 */
export const LimitsSchema = z.object({
  timeoutMs: z.number().int().positive(),
  maxOutputBytes: z.number().int().positive(),
  killGraceMs: z.number().int().nonnegative(),
});
/** Limits the child enforces itself. */
export type Limits = z.infer<typeof LimitsSchema>;

/** The one request a child reads from stdin. */
export const ExecutorRequestSchema = z.object({
  protocol: z.literal(PROTOCOL_VERSION),
  target: TargetSchema,
  credential: CredentialSchema,
  operation: OperationSchema,
  limits: LimitsSchema,
});
/** The one request a child reads from stdin. */
export type ExecutorRequest = z.infer<typeof ExecutorRequestSchema>;

/** Result of an SSH command. A non-zero exit is a normal result. */
export const SshResultSchema = z.object({
  kind: z.literal("ssh"),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  stdoutTruncated: z.boolean(),
  stderrTruncated: z.boolean(),
  /** The presented host key (for the audit log), e.g. `SHA256:...`. */
  hostKeyFingerprint: z.string(),
});
/** Result of an SSH command. */
export type SshResult = z.infer<typeof SshResultSchema>;

/** Result of a PowerShell script. A non-zero exit or an error record is a normal result. */
export const PowershellResultSchema = z.object({
  kind: z.literal("powershell"),
  /** powershell.exe's exit code; null when WinRS reported none. */
  exitCode: z.number().int().nullable(),
  /** UTF-8 stdout with `\n` line ends. */
  stdout: z.string(),
  /** stderr with CLIXML decoded to readable text (progress records dropped). */
  stderr: z.string(),
  /** Exit code not 0, or a CLIXML error record on stderr. */
  hadErrors: z.boolean(),
  stdoutTruncated: z.boolean(),
  stderrTruncated: z.boolean(),
  /** How the script reached powershell.exe. */
  delivery: z.enum(["command_line", "stdin"]),
  /** Whether the WinRS shell was deleted afterwards. */
  shellDeleted: z.boolean(),
});
/** Result of a PowerShell script. */
export type PowershellResult = z.infer<typeof PowershellResultSchema>;

/**
 * What happened when the probe tried its action: `denied` means the sandbox
 * refused it (`Deno.errors.NotCapable`); `failed` means another error.
 */
export const ProbeResultSchema = z.object({
  kind: z.literal("probe"),
  action: ProbeActionSchema,
  outcome: z.enum(["allowed", "denied", "failed"]),
  /** Class name of the error, e.g. `NotCapable`; null when allowed. */
  errorName: z.string().nullable(),
  /** Short, secret-free detail: an error message, a byte count, a status. */
  detail: z.string().max(1000),
});
/** What happened when the probe tried its action. */
export type ProbeResult = z.infer<typeof ProbeResultSchema>;

/**
 * One cell as text: `null` for SQL NULL, or an object when the executor cut
 * the text at `maxCellChars`. The `text` / `textTruncated` pair tells the
 * parent's scrubber that the text ends in a cut, maybe inside a secret.
 */
export const DbCellSchema = z.union([
  z.string(),
  z.null(),
  z.object({
    text: z.string(),
    textTruncated: z.literal(true),
    /** Length of the whole value, in characters. */
    chars: z.number().int().nonnegative(),
  }),
]);
/** One cell as text. */
export type DbCell = z.infer<typeof DbCellSchema>;

/**
 * The outcome of one statement: a result set (`columns` not empty), or a
 * statement without one (`columns` empty, `affectedRows` as reported).
 */
export const DbResultSetSchema = z.object({
  columns: z.array(z.string()),
  /** The rows kept, each with one cell per column. */
  rows: z.array(z.array(DbCellSchema)),
  /** Rows the database sent, kept or not. */
  rowCount: z.number().int().nonnegative(),
  /** Why rows were dropped: the row cap, or the output byte cap. */
  rowsTruncated: z.enum(["max_rows", "max_bytes"]).nullable(),
  /** Rows changed by a statement without a result set, when reported. */
  affectedRows: z.number().int().nonnegative().nullable(),
  /** The statement's command tag (PostgreSQL), e.g. `UPDATE`; else null. */
  command: z.string().max(64).nullable(),
});
/** The outcome of one statement. */
export type DbResultSet = z.infer<typeof DbResultSetSchema>;

/**
 * Most statement outcomes (result sets, empty ones included, and statements
 * without one) a database executor keeps of one query; it stops collecting
 * after that many (see {@linkcode DbResultSetsCutSchema}).
 */
export const MAX_RESULT_SETS = 1000;

/**
 * Why a database executor stopped keeping the outcomes of later statements,
 * and what became of the rest of the query.
 */
export const DbResultSetsCutSchema = z.object({
  /**
   * The cap reached: {@linkcode MAX_RESULT_SETS} outcomes, or the output
   * byte cap (result sets, column names and each statement count against it).
   */
  reason: z.enum(["max_result_sets", "max_bytes"]),
  /**
   * How the query ended: `drained` ran to its end with the later outcomes
   * counted and dropped; `cancelled` the server was told to stop the batch;
   * `connection_closed` the executor closed the connection (statements not
   * yet run never ran, an open transaction rolled back).
   */
  rest: z.enum(["drained", "cancelled", "connection_closed"]),
  /** Outcomes the database sent after the cap; null unless `drained`. */
  dropped: z.number().int().nonnegative().nullable(),
});
/** Why a database executor stopped keeping outcomes. */
export type DbResultSetsCut = z.infer<typeof DbResultSetsCutSchema>;

const DB_RESULT_FIELDS = {
  /** One entry per statement, in order. */
  resultSets: z.array(DbResultSetSchema).max(MAX_RESULT_SETS),
  /** Present when outcomes past a cap were not kept. */
  resultSetsCut: DbResultSetsCutSchema.optional(),
  /** From sending the query to its last result (ms). */
  elapsedMs: z.number().nonnegative(),
} as const;

/** Result of a PostgreSQL query. */
export const PostgresResultSchema = z.object({
  kind: z.literal("postgres"),
  ...DB_RESULT_FIELDS,
});
/** Result of a MySQL / MariaDB query. */
export const MysqlResultSchema = z.object({
  kind: z.literal("mysql"),
  ...DB_RESULT_FIELDS,
});
/** Result of a SQL Server query. */
export const MssqlResultSchema = z.object({
  kind: z.literal("mssql"),
  ...DB_RESULT_FIELDS,
});
/** Result of a database query of any engine. */
export type DbResult =
  | z.infer<typeof PostgresResultSchema>
  | z.infer<typeof MysqlResultSchema>
  | z.infer<typeof MssqlResultSchema>;

/** Every result an executor can return. */
export const OperationResultSchema = z.discriminatedUnion("kind", [
  SshResultSchema,
  PowershellResultSchema,
  ProbeResultSchema,
  PostgresResultSchema,
  MysqlResultSchema,
  MssqlResultSchema,
]);
/** Every result an executor can return. */
export type OperationResult = z.infer<typeof OperationResultSchema>;

/** Failure classes the gateway maps to tool errors. */
export const ExecutorErrorCodeSchema = z.enum([
  "bad_request",
  "connection_failed",
  "auth_failed",
  "host_key_unknown",
  "host_key_mismatch",
  "host_key_revoked",
  "tls_failed",
  "timeout",
  "driver_error",
  // The executor passed its memory limit (the parent's watchdog or the V8
  // heap cap stopped it).
  "resource_limit",
  "internal",
]);
/** Failure classes the gateway maps to tool errors. */
export type ExecutorErrorCode = z.infer<typeof ExecutorErrorCodeSchema>;

/** A failure reported by the child. `message` may be shown to the model after scrubbing. */
export const ExecutorFailureSchema = z.object({
  code: ExecutorErrorCodeSchema,
  message: z.string(),
  /** The host key the server presented, for host-key failures. */
  presentedHostKey: HostKeySchema.extend({ fingerprint: z.string() })
    .optional(),
});
/** A failure reported by the child. */
export type ExecutorFailure = z.infer<typeof ExecutorFailureSchema>;

/** The one response a child writes to stdout. */
export const ExecutorResponseSchema = z.discriminatedUnion("ok", [
  z.object({
    protocol: z.literal(PROTOCOL_VERSION),
    ok: z.literal(true),
    result: OperationResultSchema,
  }),
  z.object({
    protocol: z.literal(PROTOCOL_VERSION),
    ok: z.literal(false),
    error: ExecutorFailureSchema,
  }),
]);
/** The one response a child writes to stdout. */
export type ExecutorResponse = z.infer<typeof ExecutorResponseSchema>;
