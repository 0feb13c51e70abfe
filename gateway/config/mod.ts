/**
 * The service configuration: read from the environment (and an optional
 * `.env` file) in this one place, validated once with zod at start-up.
 *
 * An invalid value becomes one {@linkcode ConfigError} line that names the
 * variable, what is wrong and how to fix it; the value of a secret variable is
 * never echoed. Every CA bundle a variable names is read once, here, and its
 * PEM text travels in the configuration.
 *
 * @module
 */
export type {
  ApiKeyConfig,
  ApiKeyPrincipal,
  ApiKeySource,
  ApprovalsConfig,
  AuditChainConfig,
  Config,
  CyberArkConfig,
  DatabaseConfig,
  ExecutorConfig,
  HandleConfig,
  HandleStoreConfig,
  HttpConfig,
  LogFormat,
  LogLevelName,
  McpAuthMode,
  MetricsConfig,
  OAuthConfig,
  OAuthIntrospectionClient,
  OAuthTokenMode,
  PolicyConfig,
  RateLimitConfig,
  RateLimitWindow,
  ShutdownConfig,
  SshKnownHosts,
  WinrmAuth,
  WinrmTlsConfig,
} from "./config.ts";
export { apiKeyDigest, unnamedKeyName } from "./api_keys.ts";
export { approveRuleNames } from "./approvals.ts";
export { ConfigError } from "./config_error.ts";
export {
  CONFIG_VARIABLES,
  MAX_OAUTH_CLOCK_SKEW_SECONDS,
  MCP_AUTH_MODES,
  MIN_API_KEY_LENGTH,
  OAUTH_TOKEN_MODES,
} from "./env_schema.ts";
export { type SharedRedis, sharedRedis } from "./handle_store.ts";
export { type KeyStrength, keyStrength } from "./key_strength.ts";
export { type DbEngine, insecureDbTls } from "./insecure_db_tls.ts";
export { loadConfig, type LoadConfigOptions } from "./load_config.ts";
export { policyFileSetting } from "./policy.ts";
