/**
 * What every target tool (ssh_execute, ps_execute, db_query) shares: the
 * timeout argument, the credential handed to the executor, and the mapping of
 * executor failures that are not specific to one protocol.
 *
 * @module
 */
import { z } from "zod";
import type { ExecutorCredential } from "../../executors/spawner/mod.ts";
import type { ExecutorFailure } from "../../executors/protocol/mod.ts";
import type { RedeemedCredential } from "../../vault/handle_vault.ts";
import type { ExecutorConfig } from "../config/mod.ts";

/** The `secret_handle` argument. */
export const secretHandleArgument = z.string().min(1).max(100).describe(
  "Handle returned by get_credential (secret://...). Single-use: get a new one for every call.",
);

/** The `timeout_seconds` argument, bounded by configuration. */
export function timeoutArgument(
  config: ExecutorConfig,
): z.ZodOptional<z.ZodNumber> {
  return z.number().int().min(1).max(config.maxTimeoutSeconds).optional()
    .describe(
      `Seconds before the operation is killed (default ${config.defaultTimeoutSeconds}, at most ${config.maxTimeoutSeconds})`,
    );
}

/** The effective timeout in milliseconds. */
export function timeoutMs(
  requested: number | undefined,
  config: ExecutorConfig,
): number {
  return Math.min(
    requested ?? config.defaultTimeoutSeconds,
    config.maxTimeoutSeconds,
  ) * 1000;
}

/** The executor's view of a redeemed credential (secrets stay wrapped). */
export function executorCredential(
  redeemed: RedeemedCredential,
  domain?: string,
): ExecutorCredential {
  return {
    username: redeemed.username,
    kind: redeemed.secretKind,
    secret: redeemed.secret,
    ...(redeemed.passphrase === undefined
      ? {}
      : { passphrase: redeemed.passphrase }),
    ...(domain === undefined ? {} : { domain }),
  };
}

/** A tool error text for failures every executor can report. */
export function genericFailureText(
  failure: ExecutorFailure,
  target: { host: string; port: number },
  timeoutMs: number,
): string {
  switch (failure.code) {
    case "timeout":
      return `Operation on ${target.host}:${target.port} timed out after ${
        Math.round(timeoutMs / 1000)
      } s and was killed; pass a larger timeout_seconds, or start long jobs in the background (nohup ... &)`;
    case "connection_failed":
      return `Cannot connect to ${target.host}:${target.port}: ${failure.message}`;
    default:
      return failure.message;
  }
}
