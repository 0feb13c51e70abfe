/**
 * The executor section: `EXECUTOR_*` (limits checked against the spawner's
 * in `env_schema.ts`).
 *
 * @module
 */
import type { ExecutorConfig } from "./config.ts";
import { ConfigError } from "./config_error.ts";
import type { EnvValues } from "./env_schema.ts";

/**
 * Builds the executor section.
 *
 * @throws {ConfigError} when the default timeout is above the maximum
 */
export function parseExecutorConfig(values: EnvValues): ExecutorConfig {
  if (values.EXECUTOR_TIMEOUT_SECONDS > values.EXECUTOR_MAX_TIMEOUT_SECONDS) {
    throw new ConfigError(
      "EXECUTOR_TIMEOUT_SECONDS",
      `is ${values.EXECUTOR_TIMEOUT_SECONDS}, above EXECUTOR_MAX_TIMEOUT_SECONDS (${values.EXECUTOR_MAX_TIMEOUT_SECONDS}); lower it or raise the maximum`,
    );
  }
  return {
    maxConcurrent: values.EXECUTOR_MAX_CONCURRENT,
    maxQueued: values.EXECUTOR_MAX_QUEUED,
    defaultTimeoutSeconds: values.EXECUTOR_TIMEOUT_SECONDS,
    maxTimeoutSeconds: values.EXECUTOR_MAX_TIMEOUT_SECONDS,
    maxOutputBytes: values.EXECUTOR_MAX_OUTPUT_BYTES,
    maxMemoryMb: values.EXECUTOR_MAX_MEMORY_MB,
    warmMax: values.EXECUTOR_WARM_MAX,
  };
}
