/**
 * The rate limit section: `AUTH_FAILURE_LIMIT`, `AUTH_FAILURE_WINDOW_SECONDS`,
 * `TOOL_CALL_LIMIT`, `TOOL_CALL_WINDOW_SECONDS`.
 *
 * @module
 */
import type { RateLimitConfig } from "./config.ts";
import type { EnvValues } from "./env_schema.ts";
import type { ParseContext } from "./_parse_context.ts";

/**
 * Builds the rate limit section; warns when failed authentications are not
 * limited.
 */
export function parseRateLimitConfig(
  values: EnvValues,
  context: ParseContext,
): RateLimitConfig {
  if (values.AUTH_FAILURE_LIMIT === 0) {
    context.warnings.push(
      "AUTH_FAILURE_LIMIT=0: failed authentications are not limited, so API keys can be guessed at full speed; set it to e.g. 10",
    );
  }
  return {
    authFailures: {
      limit: values.AUTH_FAILURE_LIMIT,
      windowSeconds: values.AUTH_FAILURE_WINDOW_SECONDS,
    },
    toolCalls: {
      limit: values.TOOL_CALL_LIMIT,
      windowSeconds: values.TOOL_CALL_WINDOW_SECONDS,
    },
  };
}
