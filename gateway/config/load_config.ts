/**
 * `loadConfig()`: the environment (and an optional `.env` file) read in this
 * one place and validated once, at start-up. Each section has its own
 * parser; this file only runs them in order and collects their warnings.
 *
 * @module
 */
import { parseApiKeyConfig } from "./api_keys.ts";
import { parseApprovalsConfig } from "./approvals.ts";
import { parseAuditChainConfig } from "./audit_chain.ts";
import type { Config } from "./config.ts";
import { parseCyberArkConfig } from "./cyberark.ts";
import { parseDatabaseConfig } from "./databases.ts";
import { readEnvFile } from "./env_file.ts";
import { parseEnv } from "./env_schema.ts";
import { parseExecutorConfig } from "./executors.ts";
import { parseHandleStoreConfig } from "./handle_store.ts";
import { parseHandleConfig } from "./handles.ts";
import { parseHttpConfig } from "./http.ts";
import { parseLogConfig } from "./log.ts";
import { parseMetricsConfig } from "./metrics.ts";
import { parseMcpAuthMode, parseOAuthConfig } from "./oauth.ts";
import type { ParseContext } from "./_parse_context.ts";
import { parsePolicyConfig } from "./policy.ts";
import { parseRateLimitConfig } from "./rate_limits.ts";
import { parseShutdownConfig } from "./shutdown.ts";
import { parseSshKnownHosts } from "./ssh_known_hosts.ts";
import { parseWinrmTlsConfig } from "./winrm.ts";

/** Where configuration is read from. */
export interface LoadConfigOptions {
  /** Environment variables; defaults to the process environment. */
  env?: Record<string, string>;
  /** A `.env` file whose values fill in what the environment lacks. */
  envFile?: string;
  /** The home directory for `~` in paths. */
  home?: string;
}

/**
 * Reads and validates the configuration. Every file it names (CA bundles,
 * MCP_API_KEYS_FILE, POLICY_FILE, APPROVERS_FILE, OAUTH_CA_BUNDLE) is read here; a changed file takes effect
 * at the next start (POLICY_FILE also on SIGHUP or when it changes, see
 * `gateway/policy/policy_holder.ts`).
 *
 * @throws {ConfigError} for the first invalid value, as one line that names the fix
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env: Record<string, string> = { ...readEnvFile(options.envFile) };
  Object.assign(env, options.env ?? Deno.env.toObject());
  const values = parseEnv(env);
  const context: ParseContext = {
    home: options.home ?? env.HOME ?? "",
    warnings: [],
  };
  // The sections run in this order so that the first error and the order
  // of the warnings stay as the operations manual shows them.
  const authMode = parseMcpAuthMode(values);
  const apiKeys = parseApiKeyConfig(values, context, { authMode });
  const cyberark = parseCyberArkConfig(values, context);
  const handles = parseHandleConfig(values, context);
  const handleStore = parseHandleStoreConfig(values, context);
  const winrmTls = parseWinrmTlsConfig(values, context);
  const sshKnownHosts = parseSshKnownHosts(values, context);
  const log = parseLogConfig(values);
  const http = parseHttpConfig(values, context);
  const rateLimits = parseRateLimitConfig(values, context);
  const databases = parseDatabaseConfig(values, context);
  const executors = parseExecutorConfig(values);
  const policy = parsePolicyConfig(values, context);
  const approvals = parseApprovalsConfig(values, context, {
    apiKeys,
    policy: policy.policy,
  });
  const oauth = parseOAuthConfig(values, context, authMode);
  const metrics = parseMetricsConfig(values, context);
  const auditChain = parseAuditChainConfig(values, context);
  const shutdown = parseShutdownConfig(values);
  return {
    apiKeys,
    cyberark,
    handles,
    handleStore,
    winrmAuth: values.WINRM_AUTH,
    winrmTls,
    sshKnownHosts,
    log,
    http,
    rateLimits,
    executors,
    databases,
    policy,
    approvals,
    oauth,
    metrics,
    auditChain,
    shutdown,
    warnings: context.warnings,
  };
}
