/**
 * The service configuration: read from the environment (and an optional
 * `.env` file) in this one place, validated once with zod at start-up.
 *
 * An invalid value becomes one {@linkcode ConfigError} line that names the
 * variable, what is wrong and how to fix it; the value of a secret variable is
 * never echoed.
 *
 * @module
 */
import { z } from "zod";
import type {
  MssqlTls,
  MysqlTls,
  PostgresTls,
} from "../../executors/protocol/mod.ts";
import type { RedisConnectionOptions } from "../../vault/redis_handle_store.ts";
import { Secret } from "../../vault/secret.ts";
import { parseDotenv } from "../dotenv.ts";

/** Log levels accepted in `LOG_LEVEL`. */
export type LogLevelName = "debug" | "info" | "warning" | "error";

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
  /** A PEM CA bundle used instead of the system roots. */
  caBundlePath?: string;
  /** PKCS#12 client certificate for mTLS. */
  pfxPath?: string;
  pfxPassword?: Secret;
  timeoutMs: number;
}

/** How HTTPS WinRM listeners' certificates are checked. */
export interface WinrmTlsConfig {
  /** `false` only when the operator set `WINRM_VERIFY_SSL=false`. */
  verifyTls: boolean;
  /** A PEM CA bundle trusted in addition to the built-in roots. */
  caBundlePath?: string;
}

/** Handle vault settings. */
export interface HandleConfig {
  ttlSeconds: number;
  singleUse: boolean;
  hostBinding: boolean;
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

/** HTTP listener settings. */
export interface HttpConfig {
  hostname: string;
  port: number;
  /** Addresses or CIDRs whose `X-Forwarded-For` is believed. */
  trustedProxies: string[];
  /** Accepted `Host` / `Origin` host names; `["*"]` turns the check off. */
  allowedHosts: string[];
  maxRequestBytes: number;
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

/** The validated configuration of the whole service. */
export interface Config {
  /** API keys accepted in `X-API-Key`. */
  apiKeys: Secret[];
  cyberark: CyberArkConfig;
  handles: HandleConfig;
  handleStore: HandleStoreConfig;
  winrmAuth: "ntlm" | "basic";
  winrmTls: WinrmTlsConfig;
  sshKnownHosts: SshKnownHosts;
  log: { format: "json" | "console"; level: LogLevelName };
  http: HttpConfig;
  executors: ExecutorConfig;
  databases: DatabaseConfig;
  /** Non-fatal findings to log as warnings once logging is up. */
  warnings: string[];
}

/** One invalid setting, as one line: variable, problem, fix. */
export class ConfigError extends Error {
  /** The environment variable at fault. */
  readonly variable: string;

  /** Creates the error for one variable. */
  constructor(variable: string, message: string) {
    super(`Invalid configuration: ${variable} ${message}`);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

/** Where configuration is read from. */
export interface LoadConfigOptions {
  /** Environment variables; defaults to the process environment. */
  env?: Record<string, string>;
  /** A `.env` file whose values fill in what the environment lacks. */
  envFile?: string;
  /** The home directory for `~` in paths. */
  home?: string;
}

const MIN_API_KEY_LENGTH = 32;
const KEY_HINT = "generate one with: openssl rand -hex 32";
const BOOLEAN_WORDS = new Map([
  ["true", true],
  ["false", false],
  ["1", true],
  ["0", false],
  ["yes", true],
  ["no", false],
]);

/** Zod schema for a whole number in a range, with a message that names the fix. */
function wholeNumber(
  min: number,
  max: number,
  what: string,
  fallback: number,
): z.ZodType<number, string | undefined> {
  return z.string().optional().transform((raw, ctx) => {
    if (raw === undefined || raw.trim() === "") return fallback;
    const text = raw.trim();
    const value = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      ctx.addIssue({
        code: "custom",
        message:
          `is "${text}", not a whole number of ${what} from ${min} to ${max}; set it in that range (default ${fallback})`,
      });
      return z.NEVER;
    }
    return value;
  });
}

function flag(fallback: boolean): z.ZodType<boolean, string | undefined> {
  return z.string().optional().transform((raw, ctx) => {
    if (raw === undefined || raw.trim() === "") return fallback;
    const value = BOOLEAN_WORDS.get(raw.trim().toLowerCase());
    if (value === undefined) {
      ctx.addIssue({
        code: "custom",
        message: `is "${raw}"; set it to true or false (default ${fallback})`,
      });
      return z.NEVER;
    }
    return value;
  });
}

function oneOf<const T extends string>(
  values: readonly T[],
  fallback: T,
): z.ZodType<T, string | undefined> {
  return z.string().optional().transform((raw, ctx): T => {
    if (raw === undefined || raw.trim() === "") return fallback;
    const value = raw.trim().toLowerCase() as T;
    if (!values.includes(value)) {
      ctx.addIssue({
        code: "custom",
        message: `is "${raw}"; set it to one of ${
          values.join(", ")
        } (default ${fallback})`,
      });
      return z.NEVER;
    }
    return value;
  });
}

function commaList(): z.ZodType<string[], string | undefined> {
  return z.string().optional().transform((raw) =>
    raw === undefined || raw.trim() === ""
      ? []
      : raw.split(",").map((s) => s.trim()).filter((s) => s !== "")
  );
}

const apiKeysSchema = z.string({
  error:
    `is not set; set one or more comma-separated keys of at least ${MIN_API_KEY_LENGTH} characters (${KEY_HINT})`,
}).transform((raw, ctx) => {
  const keys = raw.split(",");
  if (raw.trim() === "") {
    ctx.addIssue({
      code: "custom",
      message:
        `is empty; set one or more comma-separated keys of at least ${MIN_API_KEY_LENGTH} characters (${KEY_HINT})`,
    });
    return z.NEVER;
  }
  for (const [index, key] of keys.entries()) {
    const which = keys.length > 1
      ? `key ${index + 1} of ${keys.length}`
      : "the key";
    const problem = key.trim() !== key || key === ""
      ? "is empty or has spaces around a comma; list keys as KEY1,KEY2 with no spaces"
      : /changeme/i.test(key)
      ? `contains the placeholder "changeme"; replace it with a random key (${KEY_HINT})`
      : key.length < MIN_API_KEY_LENGTH
      ? `is ${key.length} characters long; use at least ${MIN_API_KEY_LENGTH} (${KEY_HINT})`
      : !/^[\x21-\x7e]+$/.test(key)
      ? `has characters that cannot travel in an HTTP header; use letters and digits (${KEY_HINT})`
      : undefined;
    if (problem !== undefined) {
      ctx.addIssue({ code: "custom", message: `${which} ${problem}` });
      return z.NEVER;
    }
  }
  return keys.map((key) => new Secret(key));
});

const ccpUrlSchema = z.string({
  error:
    "is not set; set it to the CCP Accounts endpoint, e.g. https://cyberark.example.internal/AIMWebService/api/Accounts",
}).transform((raw, ctx) => {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    ctx.addIssue({
      code: "custom",
      message:
        `is not a URL; set it to the CCP Accounts endpoint, e.g. https://cyberark.example.internal/AIMWebService/api/Accounts`,
    });
    return z.NEVER;
  }
  const problem = url.protocol !== "https:" && url.protocol !== "http:"
    ? "must start with https://"
    : url.username !== "" || url.password !== ""
    ? "must not contain a user name or password; the CCP authenticates the AppID by address or certificate"
    : url.search !== "" || url.hash !== ""
    ? "must not contain a query string or fragment; the service adds AppID, Safe and Object itself"
    : undefined;
  if (problem !== undefined) {
    ctx.addIssue({
      code: "custom",
      message:
        `${problem}; set it to the CCP Accounts endpoint, e.g. https://cyberark.example.internal/AIMWebService/api/Accounts`,
    });
    return z.NEVER;
  }
  return url;
});

const appIdSchema = z.string({
  error:
    "is not set; set it to the Application ID registered in PVWA, e.g. MCP-Privileged-Service",
}).transform((raw, ctx) => {
  const value = raw.trim();
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(value)) {
    ctx.addIssue({
      code: "custom",
      message: value === ""
        ? "is empty; set it to the Application ID registered in PVWA, e.g. MCP-Privileged-Service"
        : `is "${value}"; an AppID here may contain only letters, digits, '.', '_' and '-' (CyberArk forbids spaces, + & % and ;)`,
    });
    return z.NEVER;
  }
  return value;
});

function hostList(fallback: string[]): z.ZodType<string[], string | undefined> {
  return commaList().transform((values) =>
    values.length === 0 ? fallback : values.map((v) => v.toLowerCase())
  );
}

const envSchema = z.object({
  MCP_API_KEYS: apiKeysSchema,
  CYBERARK_CCP_URL: ccpUrlSchema,
  CYBERARK_APP_ID: appIdSchema,
  CYBERARK_VERIFY_SSL: z.string().optional(),
  CYBERARK_CERT_PFX_PATH: z.string().optional(),
  CYBERARK_CERT_PFX_PASSWORD: z.string().optional(),
  CYBERARK_TIMEOUT_SECONDS: wholeNumber(1, 300, "seconds", 30),
  HANDLE_TTL_SECONDS: wholeNumber(5, 3600, "seconds", 300),
  HANDLE_SINGLE_USE: flag(true),
  HANDLE_HOST_BINDING: flag(true),
  HANDLE_STORE: oneOf(["memory", "redis"] as const, "memory"),
  REDIS_URL: z.string().optional(),
  REDIS_KEY_PREFIX: z.string().optional(),
  REDIS_CA_BUNDLE: z.string().optional(),
  WINRM_AUTH: oneOf(["ntlm", "basic"] as const, "ntlm"),
  WINRM_VERIFY_SSL: z.string().optional(),
  SSH_KNOWN_HOSTS: z.string().optional(),
  LOG_FORMAT: oneOf(["json", "console"] as const, "json"),
  LOG_LEVEL: z.string().optional(),
  HOST: z.string().optional(),
  PORT: wholeNumber(0, 65535, "a TCP port", 8443),
  TRUSTED_PROXIES: commaList(),
  ALLOWED_HOSTS: hostList(["localhost", "127.0.0.1", "::1"]),
  MAX_REQUEST_BYTES: wholeNumber(1024, 64 * 1024 * 1024, "bytes", 1024 * 1024),
  EXECUTOR_MAX_CONCURRENT: wholeNumber(1, 256, "executors", 8),
  EXECUTOR_MAX_QUEUED: wholeNumber(0, 10_000, "calls", 64),
  EXECUTOR_TIMEOUT_SECONDS: wholeNumber(1, 3600, "seconds", 60),
  EXECUTOR_MAX_TIMEOUT_SECONDS: wholeNumber(1, 3600, "seconds", 600),
  EXECUTOR_MAX_OUTPUT_BYTES: wholeNumber(
    1024,
    64 * 1024 * 1024,
    "bytes",
    1024 * 1024,
  ),
  DB_DEFAULT_MAX_ROWS: wholeNumber(1, 1_000_000, "rows", 1000),
  DB_MAX_ROWS: wholeNumber(1, 1_000_000, "rows", 10_000),
  DB_MAX_CELL_CHARS: wholeNumber(16, 1_000_000, "characters", 2000),
  PG_SSLMODE: oneOf(
    ["disable", "prefer", "require", "verify-ca", "verify-full"] as const,
    "verify-full",
  ),
  PG_SSL_CA: z.string().optional(),
  MYSQL_SSL: oneOf(
    [
      "disabled",
      "preferred",
      "required",
      "verify_ca",
      "verify_identity",
    ] as const,
    "verify_identity",
  ),
  MYSQL_SSL_CA: z.string().optional(),
  MSSQL_ENCRYPT: flag(true),
  MSSQL_TRUST_SERVER_CERTIFICATE: flag(false),
  MSSQL_SSL_CA: z.string().optional(),
});

const LOG_LEVELS = new Map<string, LogLevelName>([
  ["debug", "debug"],
  ["info", "info"],
  ["warning", "warning"],
  ["warn", "warning"],
  ["error", "error"],
]);

/** Every environment variable the service reads (for docs checks and doctor). */
export const CONFIG_VARIABLES: readonly string[] = [
  ...Object.keys(envSchema.shape),
  "ENV_FILE",
];

/**
 * Reads and validates the configuration.
 *
 * @throws {ConfigError} for the first invalid value, as one line that names the fix
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env: Record<string, string> = { ...readEnvFile(options.envFile) };
  Object.assign(env, options.env ?? Deno.env.toObject());
  const home = options.home ?? env.HOME ?? "";

  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(
      String(issue.path[0] ?? "configuration"),
      issue.message,
    );
  }
  const v = parsed.data;
  const warnings: string[] = [];

  const verify = parseVerifySsl(v.CYBERARK_VERIFY_SSL, home);
  if (!verify.verifyTls) {
    warnings.push(
      "CYBERARK_VERIFY_SSL=false: the CyberArk certificate is not verified; never use this in production",
    );
  }
  if (v.CYBERARK_CCP_URL.protocol === "http:") {
    warnings.push(
      "CYBERARK_CCP_URL uses http://: secrets cross the network in clear text; use https://",
    );
  }
  const pfx = parsePfx(
    v.CYBERARK_CERT_PFX_PATH,
    v.CYBERARK_CERT_PFX_PASSWORD,
    home,
  );
  if (pfx.pfxPath !== undefined && v.CYBERARK_CCP_URL.protocol !== "https:") {
    throw new ConfigError(
      "CYBERARK_CERT_PFX_PATH",
      "is set but CYBERARK_CCP_URL is http://; client certificates need https://",
    );
  }
  if (!v.HANDLE_HOST_BINDING) {
    warnings.push(
      "HANDLE_HOST_BINDING=false: a handle can be used against any host, not only the account's Address",
    );
  }
  if (!v.HANDLE_SINGLE_USE) {
    warnings.push(
      "HANDLE_SINGLE_USE=false: a handle can be redeemed until it expires",
    );
  }
  const handleStore = parseHandleStore(v, home, warnings);
  const winrmTls = parseVerifySsl(v.WINRM_VERIFY_SSL, home, "WINRM_VERIFY_SSL");
  if (!winrmTls.verifyTls) {
    warnings.push(
      "WINRM_VERIFY_SSL=false: WinRM HTTPS certificates are not verified (a warning is logged on every call); never use this in production",
    );
  }
  const sshKnownHosts = parseKnownHostsSetting(v.SSH_KNOWN_HOSTS, home);
  if (sshKnownHosts.mode === "disable") {
    warnings.push(
      "SSH_KNOWN_HOSTS=disable: SSH host keys are not verified; never use this in production",
    );
  }
  const level = v.LOG_LEVEL === undefined || v.LOG_LEVEL.trim() === ""
    ? "info"
    : LOG_LEVELS.get(v.LOG_LEVEL.trim().toLowerCase());
  if (level === undefined) {
    throw new ConfigError(
      "LOG_LEVEL",
      `is "${v.LOG_LEVEL}"; set it to one of DEBUG, INFO, WARNING, ERROR (default INFO)`,
    );
  }
  const hostname = parseListenHost(v.HOST);
  for (const proxy of v.TRUSTED_PROXIES) {
    if (!isAddressOrCidr(proxy)) {
      throw new ConfigError(
        "TRUSTED_PROXIES",
        `entry "${proxy}" is not an IP address or CIDR; list proxy addresses like 127.0.0.1,10.0.0.0/24`,
      );
    }
  }
  if (v.ALLOWED_HOSTS.includes("*")) {
    warnings.push(
      "ALLOWED_HOSTS=*: Host and Origin headers are not checked (no DNS-rebinding protection)",
    );
  }
  for (const host of v.ALLOWED_HOSTS) {
    if (host !== "*" && !/^[a-z0-9.:\[\]-]+$/.test(host)) {
      throw new ConfigError(
        "ALLOWED_HOSTS",
        `entry "${host}" is not a host name; list the names clients use to reach the service, e.g. mcp.example.internal,localhost`,
      );
    }
  }

  if (v.DB_DEFAULT_MAX_ROWS > v.DB_MAX_ROWS) {
    throw new ConfigError(
      "DB_DEFAULT_MAX_ROWS",
      `is ${v.DB_DEFAULT_MAX_ROWS}, above DB_MAX_ROWS (${v.DB_MAX_ROWS}); lower it or raise the maximum`,
    );
  }
  const databases = parseDatabaseTls(v, home, warnings);

  if (v.EXECUTOR_TIMEOUT_SECONDS > v.EXECUTOR_MAX_TIMEOUT_SECONDS) {
    throw new ConfigError(
      "EXECUTOR_TIMEOUT_SECONDS",
      `is ${v.EXECUTOR_TIMEOUT_SECONDS}, above EXECUTOR_MAX_TIMEOUT_SECONDS (${v.EXECUTOR_MAX_TIMEOUT_SECONDS}); lower it or raise the maximum`,
    );
  }

  return {
    apiKeys: v.MCP_API_KEYS,
    cyberark: {
      ccpUrl: v.CYBERARK_CCP_URL,
      appId: v.CYBERARK_APP_ID,
      ...verify,
      ...pfx,
      timeoutMs: v.CYBERARK_TIMEOUT_SECONDS * 1000,
    },
    handles: {
      ttlSeconds: v.HANDLE_TTL_SECONDS,
      singleUse: v.HANDLE_SINGLE_USE,
      hostBinding: v.HANDLE_HOST_BINDING,
    },
    handleStore,
    winrmAuth: v.WINRM_AUTH,
    winrmTls,
    sshKnownHosts,
    log: { format: v.LOG_FORMAT, level },
    http: {
      hostname,
      port: v.PORT,
      trustedProxies: v.TRUSTED_PROXIES,
      allowedHosts: v.ALLOWED_HOSTS.map((h) => h.replace(/^\[|\]$/g, "")),
      maxRequestBytes: v.MAX_REQUEST_BYTES,
    },
    executors: {
      maxConcurrent: v.EXECUTOR_MAX_CONCURRENT,
      maxQueued: v.EXECUTOR_MAX_QUEUED,
      defaultTimeoutSeconds: v.EXECUTOR_TIMEOUT_SECONDS,
      maxTimeoutSeconds: v.EXECUTOR_MAX_TIMEOUT_SECONDS,
      maxOutputBytes: v.EXECUTOR_MAX_OUTPUT_BYTES,
    },
    databases: {
      defaultMaxRows: v.DB_DEFAULT_MAX_ROWS,
      maxRows: v.DB_MAX_ROWS,
      maxCellChars: v.DB_MAX_CELL_CHARS,
      ...databases,
    },
    warnings,
  };
}

const DEFAULT_REDIS_KEY_PREFIX = "mcp-privileged:handle:";
const REDIS_URL_HINT =
  "set it to redis://HOST:6379/0, or rediss://:PASSWORD@HOST:6380/0 for TLS (the value is not shown: it may hold a password)";

function parseHandleStore(
  v: z.infer<typeof envSchema>,
  home: string,
  warnings: string[],
): HandleStoreConfig {
  const rawUrl = v.REDIS_URL?.trim() ?? "";
  const rawPrefix = v.REDIS_KEY_PREFIX?.trim() ?? "";
  const rawCa = v.REDIS_CA_BUNDLE?.trim() ?? "";
  if (v.HANDLE_STORE === "memory") {
    const unused = [
      ["REDIS_URL", rawUrl],
      ["REDIS_KEY_PREFIX", rawPrefix],
      ["REDIS_CA_BUNDLE", rawCa],
    ].filter(([, value]) => value !== "").map(([name]) => name);
    if (unused.length > 0) {
      warnings.push(
        `${
          unused.join(", ")
        } set but HANDLE_STORE=memory, so not used; set HANDLE_STORE=redis to share handles between replicas`,
      );
    }
    return { kind: "memory" };
  }
  if (rawUrl === "") {
    throw new ConfigError(
      "REDIS_URL",
      `is not set but HANDLE_STORE=redis needs it; ${REDIS_URL_HINT}`,
    );
  }
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new ConfigError("REDIS_URL", `is not a URL; ${REDIS_URL_HINT}`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const path = url.pathname;
  const problem = url.protocol !== "redis:" && url.protocol !== "rediss:"
    ? "must start with redis:// or rediss://"
    : host === ""
    ? "has no host name"
    : url.search !== "" || url.hash !== ""
    ? "must not contain a query string or fragment"
    : !/^(\/(\d{1,5})?)?$/.test(path)
    ? "has a path that is not a database number such as /0"
    : undefined;
  if (problem !== undefined) {
    throw new ConfigError("REDIS_URL", `${problem}; ${REDIS_URL_HINT}`);
  }
  const tls = url.protocol === "rediss:";
  let username: string;
  let password: string;
  try {
    username = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  } catch {
    throw new ConfigError(
      "REDIS_URL",
      `has a user name or password with a broken %-escape; percent-encode special characters (e.g. @ as %40); ${REDIS_URL_HINT}`,
    );
  }
  const keyPrefix = rawPrefix === "" ? DEFAULT_REDIS_KEY_PREFIX : rawPrefix;
  if (!/^[A-Za-z0-9:_.\/-]{1,128}$/.test(keyPrefix)) {
    throw new ConfigError(
      "REDIS_KEY_PREFIX",
      `is "${keyPrefix}"; use 1 to 128 letters, digits and : _ . / - (default ${DEFAULT_REDIS_KEY_PREFIX}); replicas that share handles need the same prefix`,
    );
  }
  const caPem = readCaFile("REDIS_CA_BUNDLE", v.REDIS_CA_BUNDLE, home);
  if (caPem !== undefined && !tls) {
    warnings.push(
      "REDIS_CA_BUNDLE is set but REDIS_URL uses redis:// (no TLS), so it is not used; use rediss://",
    );
  }
  if (!tls && !isLoopback(host)) {
    warnings.push(
      `REDIS_URL uses redis:// to ${host}: the Redis password and the (encrypted) handle entries cross the network in clear text; use rediss://`,
    );
  }
  return {
    kind: "redis",
    keyPrefix,
    connection: {
      host,
      port: url.port === "" ? 6379 : Number(url.port),
      db: path.length > 1 ? Number(path.slice(1)) : 0,
      tls,
      ...(username === "" ? {} : { username }),
      ...(password === "" ? {} : { password: new Secret(password) }),
      ...(caPem !== undefined && tls ? { caPem } : {}),
    },
  };
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/**
 * Why a database TLS setting is insecure, as the warning logged at start-up
 * and on every connection it applies to; null when it verifies fully.
 */
export function insecureDbTls(
  engine: "postgres" | "mysql" | "mssql",
  tls: PostgresTls | MysqlTls | MssqlTls,
): string | null {
  if (engine === "postgres" && "sslmode" in tls) {
    switch (tls.sslmode) {
      case "disable":
        return "PG_SSLMODE=disable: PostgreSQL queries and results cross the network in clear text";
      case "prefer":
        return "PG_SSLMODE=prefer: the PostgreSQL certificate is not verified and a server without TLS is used in clear text";
      case "require":
        return "PG_SSLMODE=require: the PostgreSQL certificate is not verified (anyone on the path can impersonate the server)";
      case "verify-ca":
        return "PG_SSLMODE=verify-ca: the PostgreSQL certificate's host name is not checked";
      default:
        return null;
    }
  }
  if (engine === "mysql" && "mode" in tls) {
    switch (tls.mode) {
      case "disabled":
        return "MYSQL_SSL=disabled: MySQL queries and results cross the network in clear text";
      case "preferred":
        return "MYSQL_SSL=preferred: the MySQL certificate is not verified and a server without TLS is used in clear text";
      case "required":
        return "MYSQL_SSL=required: the MySQL certificate is not verified (anyone on the path can impersonate the server)";
      case "verify_ca":
        return "MYSQL_SSL=verify_ca: the MySQL certificate's host name is not checked";
      default:
        return null;
    }
  }
  if (engine === "mssql" && "encrypt" in tls) {
    if (!tls.encrypt) {
      return "MSSQL_ENCRYPT=false: SQL Server queries and results cross the network in clear text (at most the login is encrypted)";
    }
    if (tls.trustServerCertificate) {
      return "MSSQL_TRUST_SERVER_CERTIFICATE=true: the SQL Server certificate is not verified (anyone on the path can impersonate the server)";
    }
  }
  return null;
}

function parseDatabaseTls(
  v: z.infer<typeof envSchema>,
  home: string,
  warnings: string[],
): Pick<DatabaseConfig, "postgres" | "mysql" | "mssql"> {
  const pgCa = readCaFile("PG_SSL_CA", v.PG_SSL_CA, home);
  const mysqlCa = readCaFile("MYSQL_SSL_CA", v.MYSQL_SSL_CA, home);
  const mssqlCa = readCaFile("MSSQL_SSL_CA", v.MSSQL_SSL_CA, home);
  const postgres: PostgresTls = {
    sslmode: v.PG_SSLMODE,
    ...(pgCa === undefined ? {} : { ca: pgCa }),
  };
  const mysql: MysqlTls = {
    mode: v.MYSQL_SSL,
    ...(mysqlCa === undefined ? {} : { ca: mysqlCa }),
  };
  const mssql: MssqlTls = {
    encrypt: v.MSSQL_ENCRYPT,
    trustServerCertificate: v.MSSQL_TRUST_SERVER_CERTIFICATE,
    ...(mssqlCa === undefined ? {} : { ca: mssqlCa }),
  };
  const unused = (variable: string, setting: string, fix: string): void => {
    warnings.push(
      `${variable} is set but ${setting} does not verify certificates, so it is not used; ${fix}`,
    );
  };
  if (pgCa !== undefined && !v.PG_SSLMODE.startsWith("verify")) {
    unused(
      "PG_SSL_CA",
      `PG_SSLMODE=${v.PG_SSLMODE}`,
      "set PG_SSLMODE=verify-full",
    );
  }
  if (mysqlCa !== undefined && !v.MYSQL_SSL.startsWith("verify")) {
    unused(
      "MYSQL_SSL_CA",
      `MYSQL_SSL=${v.MYSQL_SSL}`,
      "set MYSQL_SSL=verify_identity",
    );
  }
  if (
    mssqlCa !== undefined &&
    (!v.MSSQL_ENCRYPT || v.MSSQL_TRUST_SERVER_CERTIFICATE)
  ) {
    unused(
      "MSSQL_SSL_CA",
      v.MSSQL_ENCRYPT
        ? "MSSQL_TRUST_SERVER_CERTIFICATE=true"
        : "MSSQL_ENCRYPT=false",
      "set MSSQL_ENCRYPT=true and MSSQL_TRUST_SERVER_CERTIFICATE=false",
    );
  }
  for (
    const [engine, tls] of [
      ["postgres", postgres],
      ["mysql", mysql],
      ["mssql", mssql],
    ] as const
  ) {
    const warning = insecureDbTls(engine, tls);
    if (warning !== null) {
      warnings.push(`${warning}; never use this in production`);
    }
  }
  return { postgres, mysql, mssql };
}

/** Reads a PEM CA bundle named by a variable; undefined when the variable is unset. */
function readCaFile(
  variable: string,
  raw: string | undefined,
  home: string,
): string | undefined {
  const value = raw?.trim() ?? "";
  if (value === "") return undefined;
  const path = expandHome(value, home);
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    throw new ConfigError(
      variable,
      `"${path}" cannot be read (${
        errorName(error)
      }); set it to the path of a PEM CA bundle readable by the service user`,
    );
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ConfigError(
      variable,
      `points to "${path}", which holds no PEM certificate; point it at a PEM CA bundle (-----BEGIN CERTIFICATE-----)`,
    );
  }
  return text;
}

function readEnvFile(path: string | undefined): Record<string, string> {
  if (path === undefined) return {};
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw new ConfigError(
      "ENV_FILE",
      `"${path}" cannot be read (${
        errorName(error)
      }); make it readable by the service user (chmod 600, owned by that user)`,
    );
  }
  try {
    return Object.fromEntries(parseDotenv(text, path));
  } catch (error) {
    throw new ConfigError("ENV_FILE", (error as Error).message);
  }
}

function expandHome(path: string, home: string): string {
  return path === "~"
    ? home
    : path.startsWith("~/")
    ? `${home}${path.slice(1)}`
    : path;
}

function parseVerifySsl(
  raw: string | undefined,
  home: string,
  variable = "CYBERARK_VERIFY_SSL",
): { verifyTls: boolean; caBundlePath?: string } {
  const value = raw?.trim() ?? "";
  if (value === "" || /^(true|1|yes)$/i.test(value)) return { verifyTls: true };
  if (/^(false|0|no)$/i.test(value)) return { verifyTls: false };
  const path = expandHome(value, home);
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    throw new ConfigError(
      variable,
      `is neither true, false nor a readable CA bundle: "${path}" (${
        errorName(error)
      }); set true, or the path of a PEM CA bundle readable by the service user`,
    );
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ConfigError(
      variable,
      `points to "${path}", which holds no PEM certificate; point it at a PEM CA bundle (-----BEGIN CERTIFICATE-----)`,
    );
  }
  return { verifyTls: true, caBundlePath: path };
}

function parsePfx(
  rawPath: string | undefined,
  rawPassword: string | undefined,
  home: string,
): { pfxPath?: string; pfxPassword?: Secret } {
  const path = rawPath?.trim() ?? "";
  if (path === "") {
    if (rawPassword !== undefined && rawPassword !== "") {
      throw new ConfigError(
        "CYBERARK_CERT_PFX_PASSWORD",
        "is set but CYBERARK_CERT_PFX_PATH is not; set the path of the PFX file too, or remove the password",
      );
    }
    return {};
  }
  const full = expandHome(path, home);
  try {
    const info = Deno.statSync(full);
    if (!info.isFile) throw new Deno.errors.NotFound("not a file");
    Deno.openSync(full, { read: true }).close();
  } catch (error) {
    throw new ConfigError(
      "CYBERARK_CERT_PFX_PATH",
      `"${full}" cannot be read (${
        errorName(error)
      }); check that the file exists and is readable by the service user (chmod 400, owned by it)`,
    );
  }
  return { pfxPath: full, pfxPassword: new Secret(rawPassword ?? "") };
}

function parseKnownHostsSetting(
  raw: string | undefined,
  home: string,
): SshKnownHosts {
  const value = raw?.trim() ?? "";
  if (value.toLowerCase() === "disable") return { mode: "disable" };
  return {
    mode: "file",
    path: expandHome(value === "" ? "~/.ssh/known_hosts" : value, home),
  };
}

function parseListenHost(raw: string | undefined): string {
  const value = raw?.trim() ?? "";
  if (value === "") return "0.0.0.0";
  const bare = value.replace(/^\[|\]$/g, "");
  if (isIp(bare) || /^[a-zA-Z0-9.-]{1,253}$/.test(bare)) return bare;
  throw new ConfigError(
    "HOST",
    `is "${value}"; set it to the address to listen on, e.g. 0.0.0.0 or 127.0.0.1`,
  );
}

/** True for an IPv4 or IPv6 literal. */
export function isIp(value: string): boolean {
  return isIpv4(value) || isIpv6(value);
}

function isIpv4(value: string): boolean {
  const parts = value.split(".");
  return parts.length === 4 &&
    parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

function isIpv6(value: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(value) || !value.includes(":")) return false;
  try {
    new URL(`http://[${value}]/`);
    return true;
  } catch {
    return false;
  }
}

function isAddressOrCidr(value: string): boolean {
  const [address, bits, extra] = value.split("/");
  if (extra !== undefined || address === undefined || !isIp(address)) {
    return false;
  }
  if (bits === undefined) return true;
  const max = isIpv4(address) ? 32 : 128;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= max;
}

function errorName(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "not found";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) {
    return "not allowed by Deno permissions";
  }
  return error instanceof Error ? error.name : "unreadable";
}
