/**
 * The logging section: `LOG_FORMAT` and `LOG_LEVEL`.
 *
 * @module
 */
import type { Config, LogLevelName } from "./config.ts";
import { ConfigError } from "./config_error.ts";
import type { EnvValues } from "./env_schema.ts";

const LOG_LEVELS: ReadonlyMap<string, LogLevelName> = new Map([
  ["debug", "debug"],
  ["info", "info"],
  ["warning", "warning"],
  ["warn", "warning"],
  ["error", "error"],
]);

/**
 * Builds the logging section.
 *
 * @throws {ConfigError} naming LOG_LEVEL for an unknown level
 */
export function parseLogConfig(values: EnvValues): Config["log"] {
  const raw = values.LOG_LEVEL;
  const level = raw === undefined || raw.trim() === ""
    ? "info"
    : LOG_LEVELS.get(raw.trim().toLowerCase());
  if (level === undefined) {
    throw new ConfigError(
      "LOG_LEVEL",
      `is "${raw}"; set it to one of DEBUG, INFO, WARNING, ERROR (default INFO)`,
    );
  }
  return { format: values.LOG_FORMAT, level };
}
