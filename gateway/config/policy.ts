/**
 * The policy section: `POLICY_FILE`, read and validated at start-up so that
 * `deno task check-config` checks it and a bad file stops the service with
 * the policy's one-line error.
 *
 * @module
 */
import { loadPolicyFile } from "../policy/load_policy.ts";
import { PolicyError } from "../policy/policy_error.ts";
import type { PolicyConfig } from "./config.ts";
import { ConfigError } from "./config_error.ts";
import { readEnvFile } from "./env_file.ts";
import type { EnvValues } from "./env_schema.ts";
import type { LoadConfigOptions } from "./load_config.ts";
import { expandHome } from "./_paths.ts";
import type { ParseContext } from "./_parse_context.ts";

/**
 * Reads the policy file POLICY_FILE names (`~` expanded); no policy when it
 * is unset or empty.
 *
 * @throws {ConfigError} naming POLICY_FILE, the file, the line and the rule
 */
export function parsePolicyConfig(
  values: EnvValues,
  context: ParseContext,
): PolicyConfig {
  const raw = values.POLICY_FILE?.trim() ?? "";
  if (raw === "") return { file: undefined, policy: undefined };
  const file = expandHome(raw, context.home);
  try {
    return { file, policy: loadPolicyFile(file) };
  } catch (error) {
    if (error instanceof PolicyError) {
      throw new ConfigError("POLICY_FILE", error.detail);
    }
    throw error;
  }
}

/**
 * The POLICY_FILE setting alone (`~` expanded), read from the environment
 * and the `.env` file as `loadConfig()` reads them, for tools such
 * as `deno task policy` that need no other setting; `undefined` when unset.
 *
 * @throws {ConfigError} naming ENV_FILE when the `.env` file cannot be read
 */
export function policyFileSetting(
  options: LoadConfigOptions = {},
): string | undefined {
  const env: Record<string, string> = { ...readEnvFile(options.envFile) };
  Object.assign(env, options.env ?? Deno.env.toObject());
  const raw = env.POLICY_FILE?.trim() ?? "";
  return raw === ""
    ? undefined
    : expandHome(raw, options.home ?? env.HOME ?? "");
}
