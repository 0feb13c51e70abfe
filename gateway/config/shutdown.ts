/**
 * The shutdown section: `SHUTDOWN_GRACE_SECONDS`, how long a stopping
 * gateway (SIGTERM, SIGINT) lets the operations it is running finish while
 * it refuses new ones and reports itself not ready.
 *
 * @module
 */
import type { ShutdownConfig } from "./config.ts";
import type { EnvValues } from "./env_schema.ts";

/** Builds the shutdown section. */
export function parseShutdownConfig(values: EnvValues): ShutdownConfig {
  return { graceSeconds: values.SHUTDOWN_GRACE_SECONDS };
}
