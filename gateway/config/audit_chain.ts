/**
 * The audit chain section: `AUDIT_CHAIN_KEY` (or `AUDIT_CHAIN_KEY_FILE`),
 * `AUDIT_REPLICA` and `AUDIT_CHECKPOINT_SECONDS`. With a key, every audit
 * line carries a sequence number and an HMAC chained over the previous
 * line's, so a deleted, reordered or edited line is detectable by
 * `deno task audit-verify`; without one, lines carry the sequence number
 * only (doctor says the chain is off).
 *
 * @module
 */
import { Secret } from "../../vault/secret.ts";
import type { AuditChainConfig } from "./config.ts";
import { ConfigError } from "./config_error.ts";
import { readEnvFile } from "./env_file.ts";
import type { EnvValues } from "./env_schema.ts";
import { keyStrength } from "./key_strength.ts";
import type { LoadConfigOptions } from "./load_config.ts";
import { expandHome, fileErrorName } from "./_paths.ts";
import type { ParseContext } from "./_parse_context.ts";

/** Shortest `AUDIT_CHAIN_KEY` accepted. */
export const MIN_AUDIT_CHAIN_KEY_LENGTH = 32;
const KEY_FIX =
  `set a random key of at least ${MIN_AUDIT_CHAIN_KEY_LENGTH} characters (generate one with: openssl rand -hex 32), kept apart from the log's readers`;

/**
 * Builds the audit chain section.
 *
 * @throws {ConfigError} for both key variables set, an unreadable key file, a short or weak key, or a bad AUDIT_REPLICA
 */
export function parseAuditChainConfig(
  values: EnvValues,
  context: ParseContext,
): AuditChainConfig {
  const replica = parseReplica(values.AUDIT_REPLICA);
  // No warning without a key (most deployments start without one): the
  // service_started line says audit_chain=off and doctor flags it.
  const key = readKey(values, context);
  return {
    ...(key === undefined ? {} : { key }),
    replica,
    checkpointSeconds: values.AUDIT_CHECKPOINT_SECONDS,
  };
}

/**
 * The AUDIT_CHAIN_KEY (or AUDIT_CHAIN_KEY_FILE) setting alone, read from the
 * environment and the `.env` file as `loadConfig()` reads them and checked
 * the same way, for `deno task audit-verify`; `undefined` when unset.
 *
 * @throws {ConfigError} as {@linkcode parseAuditChainConfig} does for the key, or naming ENV_FILE
 */
export function auditChainKeySetting(
  options: LoadConfigOptions = {},
): Secret | undefined {
  const env: Record<string, string> = { ...readEnvFile(options.envFile) };
  Object.assign(env, options.env ?? Deno.env.toObject());
  return readKey(env, { home: options.home ?? env.HOME ?? "", warnings: [] });
}

function readKey(
  values: Pick<EnvValues, "AUDIT_CHAIN_KEY" | "AUDIT_CHAIN_KEY_FILE">,
  context: ParseContext,
): Secret | undefined {
  const inline = values.AUDIT_CHAIN_KEY?.trim() ?? "";
  const file = values.AUDIT_CHAIN_KEY_FILE?.trim() ?? "";
  if (inline !== "" && file !== "") {
    throw new ConfigError(
      "AUDIT_CHAIN_KEY",
      "and AUDIT_CHAIN_KEY_FILE are both set; set only one of them",
    );
  }
  let key = inline;
  let name = "AUDIT_CHAIN_KEY";
  if (file !== "") {
    name = "AUDIT_CHAIN_KEY_FILE";
    const path = expandHome(file, context.home);
    try {
      key = Deno.readTextFileSync(path).trim();
    } catch (error) {
      throw new ConfigError(
        name,
        `names ${path}, which cannot be read (${
          fileErrorName(error)
        }); point it at a file holding the key on one line`,
      );
    }
  }
  if (key === "") return undefined;
  const strength = keyStrength(key);
  if (strength.length < MIN_AUDIT_CHAIN_KEY_LENGTH) {
    throw new ConfigError(
      name,
      `holds a key of ${strength.length} characters; ${KEY_FIX}`,
    );
  }
  if (strength.repeats || strength.bits < 128 || strength.topShare > 0.5) {
    throw new ConfigError(name, `holds a guessable key; ${KEY_FIX}`);
  }
  return new Secret(key);
}

/** The chain's name in every line: `AUDIT_REPLICA`, else the host name (the pod name in Kubernetes). */
function parseReplica(raw: string | undefined): string {
  const value = raw?.trim() ?? "";
  const replica = value === "" ? defaultReplica() : value;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(replica)) {
    throw new ConfigError(
      "AUDIT_REPLICA",
      `is "${
        replica.slice(0, 64)
      }"; set it to a name of up to 63 letters, digits, '.', '_' or '-' that tells this replica's audit chain apart, e.g. the pod name`,
    );
  }
  return replica;
}

function defaultReplica(): string {
  try {
    const name = Deno.hostname().split(".")[0] ?? "";
    return /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name) ? name : "gateway";
  } catch {
    return "gateway";
  }
}
