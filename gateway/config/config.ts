/**
 * The shape of the validated configuration, section by section. Each
 * section is filled by the file named after it; {@linkcode Config} is what
 * `loadConfig()` returns.
 *
 * @module
 */
import type {
  MssqlTls,
  MysqlTls,
  PostgresTls,
  PowershellOperation,
} from "../../executors/protocol/mod.ts";
import type { HandleScopeRules } from "../../vault/handle_scope.ts";
import type { Approver } from "../approvals/approval.ts";
import type { Policy } from "../policy/policy.ts";
import type { RedisConnectionOptions } from "../../vault/redis_handle_store.ts";
import type { Secret } from "../../vault/secret.ts";
import type { KeyStrength } from "./key_strength.ts";

/** Log levels accepted in `LOG_LEVEL`. */
export type LogLevelName = "debug" | "info" | "warning" | "error";

/** Log output formats accepted in `LOG_FORMAT`. */
export type LogFormat = "json" | "console";

/** How SSH host keys are checked. */
export type SshKnownHosts =
  | { mode: "file"; path: string }
  | { mode: "disable" };

/** CyberArk CCP settings. */
export interface CyberArkConfig {
  /** The full Accounts endpoint, without a query string. */
  ccpUrl: URL;
  appId: string;
  /** `false` only when the operator set `CYBERARK_VERIFY_SSL=false`. */
  verifyTls: boolean;
  /** A PEM CA bundle used instead of the system roots (named in messages). */
  caBundlePath?: string;
  /** The PEM text of `caBundlePath`, read and checked once at start-up. */
  caPem?: string;
  /** PKCS#12 client certificate for mTLS. */
  pfxPath?: string;
  pfxPassword?: Secret;
  timeoutMs: number;
}

/** How HTTPS WinRM listeners' certificates are checked. */
export interface WinrmTlsConfig {
  /** `false` only when the operator set `WINRM_VERIFY_SSL=false`. */
  verifyTls: boolean;
  /** A PEM CA bundle trusted in addition to the built-in roots (named in messages). */
  caBundlePath?: string;
  /** The PEM text of `caBundlePath`, read and checked once at start-up. */
  caPem?: string;
}

/** WinRM authentication schemes, as the PowerShell executor names them. */
export type WinrmAuth = PowershellOperation["auth"];

/** Handle vault settings. */
export interface HandleConfig {
  ttlSeconds: number;
  singleUse: boolean;
  hostBinding: boolean;
  /** `HANDLE_SCOPE_BINDING`: refuse a handle used by another protocol or on another port. */
  scopeBinding: boolean;
  /** `PLATFORM_PROTOCOLS`, `PLATFORM_PORTS` and `UNMAPPED_PLATFORM`. */
  scopeRules: HandleScopeRules;
}

/** Where handles live: this process's memory, or Redis shared by every replica. */
export type HandleStoreConfig =
  | { kind: "memory" }
  | {
    kind: "redis";
    /** Prefix of every Redis key (`REDIS_KEY_PREFIX`). */
    keyPrefix: string;
    /** From `REDIS_URL` (the password as a {@linkcode Secret}) and `REDIS_CA_BUNDLE`. */
    connection: RedisConnectionOptions;
  };

/** Where a principal's key was configured. */
export type ApiKeySource = "MCP_API_KEYS" | "MCP_API_KEYS_FILE";

/** One named caller and the SHA-256 digest of its API key. */
export interface ApiKeyPrincipal {
  /** The principal's name, as audit lines show it. */
  readonly name: string;
  /** Lowercase hex SHA-256 of the key (hidden like a secret; never logged). */
  readonly sha256: Secret;
  readonly source: ApiKeySource;
  /** Measured at load for keys from `MCP_API_KEYS`; a digest cannot be judged. */
  readonly strength?: KeyStrength;
}

/** The callers: `MCP_API_KEYS` and `MCP_API_KEYS_FILE` together. */
export interface ApiKeyConfig {
  /** At least one (none when `MCP_AUTH=oauth`), names and keys unique. */
  readonly principals: readonly ApiKeyPrincipal[];
  /** The `MCP_API_KEYS_FILE` read, `~` expanded. */
  readonly file?: string;
}

/** `MCP_AUTH`: which credentials the MCP endpoints accept. */
export type McpAuthMode = "api_key" | "oauth" | "both";

/** `OAUTH_TOKEN_MODE`: how bearer tokens are checked. */
export type OAuthTokenMode = "jwt" | "introspection" | "auto";

/** The client the gateway authenticates as at the RFC 7662 introspection endpoint. */
export interface OAuthIntrospectionClient {
  /** `OAUTH_INTROSPECTION_CLIENT_ID`. */
  readonly clientId: string;
  /** `OAUTH_INTROSPECTION_CLIENT_SECRET` (never shown). */
  readonly clientSecret: Secret;
}

/**
 * `MCP_AUTH` and the `OAUTH_*` settings: the MCP endpoints as an OAuth 2.1
 * resource server. `issuer` and `resource` are set whenever `mode` is not
 * `api_key`.
 */
export interface OAuthConfig {
  /** `MCP_AUTH`: `api_key` without OAUTH_ISSUER, `both` with it, unless set. */
  readonly mode: McpAuthMode;
  /**
   * `OAUTH_ISSUER` exactly as configured (trimmed): the metadata's `issuer`
   * and every token's `iss` must equal it character for character.
   */
  readonly issuer?: string;
  /** `OAUTH_RESOURCE` exactly as configured: the audience tokens must name (RFC 8707). */
  readonly resource?: string;
  /**
   * `OAUTH_AUDIENCE`: what tokens must name in `aud` when the identity
   * provider does not put the resource URL there (Entra ID v2 tokens carry
   * the application's client id); `resource` when unset.
   */
  readonly audience?: string;
  /** `OAUTH_REQUIRED_SCOPES`: every token must carry all of them. */
  readonly requiredScopes: readonly string[];
  /** `OAUTH_PRINCIPAL_CLAIM` (default `sub`). */
  readonly principalClaim: string;
  /** `OAUTH_GROUPS_CLAIM`; no groups without it. */
  readonly groupsClaim?: string;
  /** `OAUTH_TOKEN_MODE` (default `jwt`). */
  readonly tokenMode: OAuthTokenMode;
  /** Both `OAUTH_INTROSPECTION_CLIENT_*` settings, when set. */
  readonly introspection?: OAuthIntrospectionClient;
  /** `OAUTH_CA_BUNDLE`, `~` expanded (for messages). */
  readonly caBundlePath?: string;
  /** The PEM text of `caBundlePath`, trusted in addition to the system roots. */
  readonly caPem?: string;
  /** `OAUTH_CLOCK_SKEW_SECONDS` (default 60, at most 300). */
  readonly clockSkewSeconds: number;
}

/** `POLICY_FILE`: who may do what, read and validated at start-up. */
export interface PolicyConfig {
  /** The file (`~` expanded); `undefined` when POLICY_FILE is not set. */
  readonly file: string | undefined;
  /** The policy loaded from it; `undefined` (everything allowed) without a file. */
  readonly policy: Policy | undefined;
}

/** Four-eyes approvals: who approves, how long a call waits, where requests are announced. */
export interface ApprovalsConfig {
  /** `APPROVERS` and `APPROVERS_FILE` together; names and keys unique, no key also an API key. */
  readonly approvers: readonly Approver[];
  /** `APPROVAL_TIMEOUT_SECONDS`: how long a call waits for a decision. */
  readonly timeoutSeconds: number;
  /** `APPROVAL_WEBHOOK_URL` (holds a token: never log more than its origin). */
  readonly webhookUrl?: URL;
  /** `APPROVAL_CONSOLE_URL`: the console's public URL, linked in webhook messages. */
  readonly consoleUrl?: URL;
  /** `APPROVAL_SESSION_SECONDS`: lifetime of a console session. */
  readonly sessionSeconds: number;
  /** The `APPROVERS_FILE` read, `~` expanded. */
  readonly file?: string;
}

/** HTTP listener settings. */
export interface HttpConfig {
  hostname: string;
  port: number;
  /** Addresses or CIDRs whose `X-Forwarded-For` is believed. */
  trustedProxies: string[];
  /** Accepted `Host` / `Origin` host names; `["*"]` turns the check off. */
  allowedHosts: string[];
  maxRequestBytes: number;
  /** `HTTP_MAX_CONNECTIONS`: client connections open at once; more are closed at once. */
  maxConnections: number;
  /** `HTTP_HEADER_TIMEOUT_SECONDS`: from a request's first byte until its headers are in. */
  headerTimeoutSeconds: number;
  /** `HTTP_BODY_TIMEOUT_SECONDS`: from a request's headers until its body is in. */
  bodyTimeoutSeconds: number;
  /** `HTTP_IDLE_TIMEOUT_SECONDS`: a connection with no request in flight and no bytes either way. */
  idleTimeoutSeconds: number;
}

/** One rate limit: at most `limit` events per `windowSeconds`; `limit` 0 is off. */
export interface RateLimitWindow {
  limit: number;
  windowSeconds: number;
}

/** `AUTH_FAILURE_*` and `TOOL_CALL_*`. */
export interface RateLimitConfig {
  /** Failed authentications per client address. */
  authFailures: RateLimitWindow;
  /** Tool calls per principal. */
  toolCalls: RateLimitWindow;
}

/** Executor (child process) limits. */
export interface ExecutorConfig {
  /** Executors running at once; more calls wait in a queue. */
  maxConcurrent: number;
  /** Calls waiting for a slot before "busy" errors. */
  maxQueued: number;
  /** Time limit of a call that sets none. */
  defaultTimeoutSeconds: number;
  /** Largest `timeout_seconds` a tool call may ask for. */
  maxTimeoutSeconds: number;
  /** Cap on each captured output stream. */
  maxOutputBytes: number;
  /** Memory limit of one executor (MiB). */
  maxMemoryMb: number;
  /**
   * Executors started ahead of a handle's predicted call, waiting at once
   * (`EXECUTOR_WARM_MAX`; 0: warming off). Not counted in `maxConcurrent`.
   */
  warmMax: number;
}

/** `db_query` settings: output caps and TLS per engine. */
export interface DatabaseConfig {
  /** Rows kept per result set when a call sets no `max_rows`. */
  defaultMaxRows: number;
  /** Largest `max_rows` a call may ask for. */
  maxRows: number;
  /** Characters kept per cell; longer cells are cut with a notice. */
  maxCellChars: number;
  /** PostgreSQL TLS (`ca` holds the PEM text of `PG_SSL_CA`). */
  postgres: PostgresTls;
  /** MySQL / MariaDB TLS (`ca` holds the PEM text of `MYSQL_SSL_CA`). */
  mysql: MysqlTls;
  /** SQL Server TLS (`ca` holds the PEM text of `MSSQL_SSL_CA`). */
  mssql: MssqlTls;
}

/** `METRICS_HOST` and `METRICS_PORT`: the Prometheus listener, off unless a port is set. */
export type MetricsConfig =
  | { enabled: false }
  | { enabled: true; hostname: string; port: number };

/** The tamper-evident audit chain (`AUDIT_*`). */
export interface AuditChainConfig {
  /** The HMAC key; without it lines carry a sequence number but no chain. */
  key?: Secret;
  /** This replica's chain name, in every audit line (`AUDIT_REPLICA`). */
  replica: string;
  /** How often a checkpoint line is written (s; 0: never). */
  checkpointSeconds: number;
}

/** `SHUTDOWN_GRACE_SECONDS`: how long a stopping gateway drains. */
export interface ShutdownConfig {
  /** Time in-flight operations get to finish after SIGTERM (s). */
  graceSeconds: number;
}

/** The validated configuration of the whole service. */
export interface Config {
  /** The principals and digests of the API keys accepted in `X-API-Key`. */
  apiKeys: ApiKeyConfig;
  cyberark: CyberArkConfig;
  handles: HandleConfig;
  handleStore: HandleStoreConfig;
  winrmAuth: WinrmAuth;
  winrmTls: WinrmTlsConfig;
  sshKnownHosts: SshKnownHosts;
  log: { format: LogFormat; level: LogLevelName };
  http: HttpConfig;
  rateLimits: RateLimitConfig;
  executors: ExecutorConfig;
  databases: DatabaseConfig;
  /** The policy file and the policy read from it at start-up. */
  policy: PolicyConfig;
  /** Approvers and the settings of four-eyes approvals. */
  approvals: ApprovalsConfig;
  /** `MCP_AUTH` and the OAuth resource-server settings. */
  oauth: OAuthConfig;
  /** The Prometheus listener. */
  metrics: MetricsConfig;
  /** The audit log's HMAC chain. */
  auditChain: AuditChainConfig;
  /** Draining on SIGTERM. */
  shutdown: ShutdownConfig;
  /** Non-fatal findings to log as warnings once logging is up. */
  warnings: string[];
}
