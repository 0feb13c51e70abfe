/**
 * The handle section: `HANDLE_TTL_SECONDS`, `HANDLE_SINGLE_USE`,
 * `HANDLE_HOST_BINDING`, and the scope settings read by `handle_scope.ts`.
 *
 * @module
 */
import type { HandleConfig } from "./config.ts";
import type { EnvValues } from "./env_schema.ts";
import { parseHandleScopeConfig } from "./handle_scope.ts";
import type { ParseContext } from "./_parse_context.ts";

/**
 * Builds the handle section and warns about each relaxed rule.
 *
 * @throws {ConfigError} for a malformed PLATFORM_PROTOCOLS or PLATFORM_PORTS
 */
export function parseHandleConfig(
  values: EnvValues,
  context: ParseContext,
): HandleConfig {
  if (!values.HANDLE_HOST_BINDING) {
    context.warnings.push(
      "HANDLE_HOST_BINDING=false: a handle can be used against any host, not only the account's Address",
    );
  }
  const scope = parseHandleScopeConfig(values, context);
  if (!values.HANDLE_SINGLE_USE) {
    context.warnings.push(
      "HANDLE_SINGLE_USE=false: a handle can be redeemed until it expires",
    );
  }
  return {
    ttlSeconds: values.HANDLE_TTL_SECONDS,
    singleUse: values.HANDLE_SINGLE_USE,
    hostBinding: values.HANDLE_HOST_BINDING,
    ...scope,
  };
}
