/**
 * Every environment variable the service reads, as one zod schema: the
 * checks one variable can make alone. Checks across variables, files and
 * warnings belong to the section parsers (`cyberark.ts`, `http.ts`, ...).
 *
 * Enums and limits owned elsewhere are taken from their owners: the TLS
 * modes and WinRM schemes from the executor protocol, the executor limits
 * from the spawner.
 *
 * @module
 */
import { z } from "zod";
import {
  DEFAULT_MAX_OUTPUT_BYTES,
  MysqlTlsSchema,
  PostgresTlsSchema,
  PowershellOperationSchema,
} from "../../executors/protocol/mod.ts";
import {
  DEFAULT_EXECUTOR_MEMORY_MB,
  DEFAULT_MAX_CONCURRENT,
  DEFAULT_MAX_QUEUED,
  DEFAULT_WARM_MAX,
  MAX_EXECUTOR_MEMORY_MB,
  MAX_OUTPUT_BYTES_LIMIT,
  MAX_TIMEOUT_MS,
  MAX_WARM_MAX,
  MIN_EXECUTOR_MEMORY_MB,
} from "../../executors/spawner/mod.ts";
import { UNMAPPED_PLATFORM_MODES } from "../../vault/handle_scope.ts";
import { Secret } from "../../vault/secret.ts";
import {
  commaList,
  flag,
  hostList,
  oneOf,
  wholeNumber,
} from "./_env_fields.ts";
import type { LogFormat } from "./config.ts";
import { ConfigError } from "./config_error.ts";

/** Shortest API key accepted in `MCP_API_KEYS`. */
export const MIN_API_KEY_LENGTH = 32;
/** Where handles live (`HANDLE_STORE`). */
export const HANDLE_STORES = ["memory", "redis"] as const;
/** Which credentials the MCP endpoints accept (`MCP_AUTH`). */
export const MCP_AUTH_MODES = ["api_key", "oauth", "both"] as const;
/** How bearer tokens are checked (`OAUTH_TOKEN_MODE`). */
export const OAUTH_TOKEN_MODES = ["jwt", "introspection", "auto"] as const;
/** Largest `OAUTH_CLOCK_SKEW_SECONDS`. */
export const MAX_OAUTH_CLOCK_SKEW_SECONDS = 300;
/** Log output formats (`LOG_FORMAT`). */
export const LOG_FORMATS: readonly LogFormat[] = ["json", "console"];

const KEY_HINT = "generate one with: openssl rand -hex 32";
const API_KEYS_FIX =
  `set one or more comma-separated NAME:KEY entries, keys of at least ${MIN_API_KEY_LENGTH} characters (${KEY_HINT}), or set MCP_API_KEYS_FILE`;
const APPROVERS_FIX =
  `set one or more comma-separated NAME:KEY entries, one per approver, keys of at least ${MIN_API_KEY_LENGTH} characters (${KEY_HINT}), or set APPROVERS_FILE`;
const CCP_URL_FIX =
  "set it to the CCP Accounts endpoint, e.g. https://cyberark.example.internal/AIMWebService/api/Accounts";
const APP_ID_FIX =
  "set it to the Application ID registered in PVWA, e.g. MCP-Privileged-Service";
/** Largest request body a setting may name (64 MiB). */
const MAX_BYTES_SETTING = 64 * 1024 * 1024;
/** `HTTP_MAX_CONNECTIONS` when unset: client connections open at once. */
export const DEFAULT_HTTP_MAX_CONNECTIONS = 1024;
/** Largest `HTTP_MAX_CONNECTIONS` (each connection holds three descriptors). */
const MAX_HTTP_CONNECTIONS = 100_000;
/** `HTTP_HEADER_TIMEOUT_SECONDS` when unset. */
export const DEFAULT_HTTP_HEADER_TIMEOUT_SECONDS = 10;
/** `HTTP_BODY_TIMEOUT_SECONDS` when unset. */
export const DEFAULT_HTTP_BODY_TIMEOUT_SECONDS = 30;
/** `HTTP_IDLE_TIMEOUT_SECONDS` when unset. */
export const DEFAULT_HTTP_IDLE_TIMEOUT_SECONDS = 60;
/** Largest row or character count a `DB_*` setting may name. */
const MAX_DB_SETTING = 1_000_000;
const MAX_EXECUTOR_TIMEOUT_SECONDS = MAX_TIMEOUT_MS / 1000;
/** `AUTH_FAILURE_LIMIT` when unset: failed authentications per client address and window. */
export const DEFAULT_AUTH_FAILURE_LIMIT = 10;
/** `AUTH_FAILURE_WINDOW_SECONDS` and `TOOL_CALL_WINDOW_SECONDS` when unset. */
export const DEFAULT_RATE_WINDOW_SECONDS = 60;
/** Largest `AUTH_FAILURE_LIMIT` or `TOOL_CALL_LIMIT`. */
const MAX_RATE_LIMIT = 1_000_000;
/** Longest rate-limit window (a day). */
const MAX_RATE_WINDOW_SECONDS = 86_400;

/** One `MCP_API_KEYS` entry: `NAME:KEY`, or a bare key named after its hash. */
export interface ApiKeyEntry {
  /** The principal's name; `undefined` for a bare key. */
  readonly name: string | undefined;
  readonly key: Secret;
}

/** A principal's name: letters, digits, '.', '_' and '-', at most 64. */
export const PRINCIPAL_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** How {@linkcode keyEntries} reads one list of keys. */
interface KeyEntriesOptions {
  /** The fix named when the list is empty or a key is too short. */
  readonly fix: string;
  /** Whether every entry needs a `NAME:` (approvers) or may be a bare key (API keys). */
  readonly nameRequired: boolean;
}

/**
 * A comma-separated list of `NAME:KEY` entries (or bare keys), each key at
 * least {@linkcode MIN_API_KEY_LENGTH} printable characters and never the
 * placeholder: `MCP_API_KEYS` and `APPROVERS`.
 */
function keyEntries(
  options: KeyEntriesOptions,
): z.ZodType<ApiKeyEntry[] | undefined, string | undefined> {
  return z.string().optional().transform((raw, ctx) => {
    if (raw === undefined) return undefined;
    if (raw.trim() === "") {
      ctx.addIssue({ code: "custom", message: `is empty; ${options.fix}` });
      return z.NEVER;
    }
    const entries = raw.split(",");
    const parsed: ApiKeyEntry[] = [];
    for (const [index, entry] of entries.entries()) {
      const which = entries.length > 1
        ? `key ${index + 1} of ${entries.length}`
        : "the key";
      const colon = entry.indexOf(":");
      const name = colon < 0 ? undefined : entry.slice(0, colon);
      const key = colon < 0 ? entry : entry.slice(colon + 1);
      const problem = entry.trim() !== entry || key === ""
        ? "is empty or has spaces around a comma; list keys as NAME1:KEY1,NAME2:KEY2 with no spaces"
        : name === undefined && options.nameRequired
        ? "has no NAME: in front; write it as NAME:KEY, e.g. alice:KEY"
        : name !== undefined && !PRINCIPAL_NAME_PATTERN.test(name)
        ? `has a name that is not 1 to 64 letters, digits, '.', '_' or '-'; write it as NAME:KEY, e.g. ci-bot:KEY`
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
      parsed.push({ name, key: new Secret(key) });
    }
    return parsed;
  });
}

const ccpUrlSchema = z.string({ error: `is not set; ${CCP_URL_FIX}` })
  .transform((raw, ctx) => {
    let url: URL;
    try {
      url = new URL(raw.trim());
    } catch {
      ctx.addIssue({ code: "custom", message: `is not a URL; ${CCP_URL_FIX}` });
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
      ctx.addIssue({ code: "custom", message: `${problem}; ${CCP_URL_FIX}` });
      return z.NEVER;
    }
    return url;
  });

const appIdSchema = z.string({ error: `is not set; ${APP_ID_FIX}` })
  .transform((raw, ctx) => {
    const value = raw.trim();
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(value)) {
      ctx.addIssue({
        code: "custom",
        message: value === ""
          ? `is empty; ${APP_ID_FIX}`
          : `is "${value}"; an AppID here may contain only letters, digits, '.', '_' and '-' (CyberArk forbids spaces, + & % and ;)`,
      });
      return z.NEVER;
    }
    return value;
  });

/** Raw text: read, checked and turned into a value by a section parser. */
const text = (): z.ZodOptional<z.ZodString> => z.string().optional();

const envSchema = z.object({
  MCP_API_KEYS: keyEntries({ fix: API_KEYS_FIX, nameRequired: false }),
  MCP_API_KEYS_FILE: text(),
  POLICY_FILE: text(),
  MCP_AUTH: text(),
  OAUTH_ISSUER: text(),
  OAUTH_RESOURCE: text(),
  OAUTH_AUDIENCE: text(),
  OAUTH_REQUIRED_SCOPES: text(),
  OAUTH_PRINCIPAL_CLAIM: text(),
  OAUTH_GROUPS_CLAIM: text(),
  OAUTH_TOKEN_MODE: oneOf(OAUTH_TOKEN_MODES, "jwt"),
  OAUTH_INTROSPECTION_CLIENT_ID: text(),
  OAUTH_INTROSPECTION_CLIENT_SECRET: text(),
  OAUTH_CA_BUNDLE: text(),
  OAUTH_CLOCK_SKEW_SECONDS: wholeNumber("seconds", {
    min: 0,
    max: MAX_OAUTH_CLOCK_SKEW_SECONDS,
    fallback: 60,
  }),
  APPROVERS: keyEntries({ fix: APPROVERS_FIX, nameRequired: true }),
  APPROVERS_FILE: text(),
  APPROVAL_TIMEOUT_SECONDS: wholeNumber("seconds", {
    min: 10,
    max: 3600,
    fallback: 300,
  }),
  APPROVAL_WEBHOOK_URL: text(),
  APPROVAL_CONSOLE_URL: text(),
  APPROVAL_SESSION_SECONDS: wholeNumber("seconds", {
    min: 60,
    max: 43_200,
    fallback: 900,
  }),
  CYBERARK_CCP_URL: ccpUrlSchema,
  CYBERARK_APP_ID: appIdSchema,
  CYBERARK_VERIFY_SSL: text(),
  CYBERARK_CERT_PFX_PATH: text(),
  CYBERARK_CERT_PFX_PASSWORD: text(),
  CYBERARK_TIMEOUT_SECONDS: wholeNumber("seconds", {
    min: 1,
    max: 300,
    fallback: 30,
  }),
  HANDLE_TTL_SECONDS: wholeNumber("seconds", {
    min: 5,
    max: 3600,
    fallback: 300,
  }),
  HANDLE_SINGLE_USE: flag(true),
  HANDLE_HOST_BINDING: flag(true),
  HANDLE_SCOPE_BINDING: flag(true),
  PLATFORM_PROTOCOLS: text(),
  PLATFORM_PORTS: text(),
  UNMAPPED_PLATFORM: oneOf(UNMAPPED_PLATFORM_MODES, "refuse"),
  HANDLE_STORE: oneOf(HANDLE_STORES, "memory"),
  REDIS_URL: text(),
  REDIS_KEY_PREFIX: text(),
  REDIS_CA_BUNDLE: text(),
  WINRM_AUTH: oneOf(PowershellOperationSchema.shape.auth.options, "ntlm"),
  WINRM_VERIFY_SSL: text(),
  SSH_KNOWN_HOSTS: text(),
  LOG_FORMAT: oneOf(LOG_FORMATS, "json"),
  LOG_LEVEL: text(),
  HOST: text(),
  PORT: wholeNumber("a TCP port", { min: 0, max: 65535, fallback: 8443 }),
  TRUSTED_PROXIES: commaList(),
  ALLOWED_HOSTS: hostList(["localhost", "127.0.0.1", "::1"]),
  MAX_REQUEST_BYTES: wholeNumber("bytes", {
    min: 1024,
    max: MAX_BYTES_SETTING,
    fallback: 1024 * 1024,
  }),
  HTTP_MAX_CONNECTIONS: wholeNumber("connections", {
    min: 1,
    max: MAX_HTTP_CONNECTIONS,
    fallback: DEFAULT_HTTP_MAX_CONNECTIONS,
  }),
  HTTP_HEADER_TIMEOUT_SECONDS: wholeNumber("seconds", {
    min: 1,
    max: 300,
    fallback: DEFAULT_HTTP_HEADER_TIMEOUT_SECONDS,
  }),
  HTTP_BODY_TIMEOUT_SECONDS: wholeNumber("seconds", {
    min: 1,
    max: 3600,
    fallback: DEFAULT_HTTP_BODY_TIMEOUT_SECONDS,
  }),
  HTTP_IDLE_TIMEOUT_SECONDS: wholeNumber("seconds", {
    min: 1,
    max: 3600,
    fallback: DEFAULT_HTTP_IDLE_TIMEOUT_SECONDS,
  }),
  AUTH_FAILURE_LIMIT: wholeNumber("failures (0 turns the limit off)", {
    min: 0,
    max: MAX_RATE_LIMIT,
    fallback: DEFAULT_AUTH_FAILURE_LIMIT,
  }),
  AUTH_FAILURE_WINDOW_SECONDS: wholeNumber("seconds", {
    min: 1,
    max: MAX_RATE_WINDOW_SECONDS,
    fallback: DEFAULT_RATE_WINDOW_SECONDS,
  }),
  TOOL_CALL_LIMIT: wholeNumber("calls (0 turns the limit off)", {
    min: 0,
    max: MAX_RATE_LIMIT,
    fallback: 0,
  }),
  TOOL_CALL_WINDOW_SECONDS: wholeNumber("seconds", {
    min: 1,
    max: MAX_RATE_WINDOW_SECONDS,
    fallback: DEFAULT_RATE_WINDOW_SECONDS,
  }),
  EXECUTOR_MAX_CONCURRENT: wholeNumber("executors", {
    min: 1,
    max: 256,
    fallback: DEFAULT_MAX_CONCURRENT,
  }),
  EXECUTOR_MAX_QUEUED: wholeNumber("calls", {
    min: 0,
    max: 10_000,
    fallback: DEFAULT_MAX_QUEUED,
  }),
  EXECUTOR_TIMEOUT_SECONDS: wholeNumber("seconds", {
    min: 1,
    max: MAX_EXECUTOR_TIMEOUT_SECONDS,
    // The service's own default, longer than the spawner's library default.
    fallback: 60,
  }),
  EXECUTOR_MAX_TIMEOUT_SECONDS: wholeNumber("seconds", {
    min: 1,
    max: MAX_EXECUTOR_TIMEOUT_SECONDS,
    fallback: 600,
  }),
  EXECUTOR_MAX_OUTPUT_BYTES: wholeNumber("bytes", {
    min: 1024,
    max: MAX_OUTPUT_BYTES_LIMIT,
    fallback: DEFAULT_MAX_OUTPUT_BYTES,
  }),
  EXECUTOR_MAX_MEMORY_MB: wholeNumber("MiB", {
    min: MIN_EXECUTOR_MEMORY_MB,
    max: MAX_EXECUTOR_MEMORY_MB,
    fallback: DEFAULT_EXECUTOR_MEMORY_MB,
  }),
  EXECUTOR_WARM_MAX: wholeNumber("executors (0 turns warming off)", {
    min: 0,
    max: MAX_WARM_MAX,
    fallback: DEFAULT_WARM_MAX,
  }),
  DB_DEFAULT_MAX_ROWS: wholeNumber("rows", {
    min: 1,
    max: MAX_DB_SETTING,
    fallback: 1000,
  }),
  DB_MAX_ROWS: wholeNumber("rows", {
    min: 1,
    max: MAX_DB_SETTING,
    fallback: 10_000,
  }),
  DB_MAX_CELL_CHARS: wholeNumber("characters", {
    min: 16,
    max: MAX_DB_SETTING,
    fallback: 2000,
  }),
  PG_SSLMODE: oneOf(PostgresTlsSchema.shape.sslmode.options, "verify-full"),
  PG_SSL_CA: text(),
  MYSQL_SSL: oneOf(MysqlTlsSchema.shape.mode.options, "verify_identity"),
  MYSQL_SSL_CA: text(),
  METRICS_HOST: text(),
  METRICS_PORT: text(),
  AUDIT_CHAIN_KEY: text(),
  AUDIT_CHAIN_KEY_FILE: text(),
  AUDIT_REPLICA: text(),
  AUDIT_CHECKPOINT_SECONDS: wholeNumber("seconds (0: no checkpoints)", {
    min: 0,
    max: 86_400,
    fallback: 300,
  }),
  SHUTDOWN_GRACE_SECONDS: wholeNumber("seconds", {
    min: 0,
    max: 3600,
    fallback: 25,
  }),
  MSSQL_ENCRYPT: flag(true),
  MSSQL_TRUST_SERVER_CERTIFICATE: flag(false),
  MSSQL_SSL_CA: text(),
});

/** The environment after the one-variable checks. */
export type EnvValues = z.infer<typeof envSchema>;

/** Every environment variable the service reads (for docs checks and doctor). */
export const CONFIG_VARIABLES: readonly string[] = [
  ...Object.keys(envSchema.shape),
  "ENV_FILE",
];

/**
 * Checks each variable on its own.
 *
 * @throws {ConfigError} for the first invalid variable
 */
export function parseEnv(env: Record<string, string>): EnvValues {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(
      String(issue.path[0] ?? "configuration"),
      issue.message,
    );
  }
  return parsed.data;
}
