/**
 * Live handles never reach a log line or an error text: a model may write a
 * handle into a command, a query or a script, and whatever repeats that text
 * (the audit line, a database's error, the debug log) would otherwise hand
 * a redeemable handle to anyone who reads it. Each one becomes its
 * non-redeemable id, the same id the audit lines carry.
 *
 * @module
 */
import { handleIdOf } from "../vault/handle_vault.ts";

/** A handle's redeemable part (the prefix and 43 base64url characters). */
const HANDLE_TOKEN = /secret:\/\/[A-Za-z0-9_-]{43}/g;

/** The form a handle takes in logs and error texts, e.g. `secret-id:a3f9c2e1b8d74f2c`. */
export const HANDLE_ID_PREFIX = "secret-id:";

/** Replaces every handle in `text` with `secret-id:<its handle id>`. */
export function redactHandles(text: string): string {
  return text.includes("secret://")
    ? text.replace(
      HANDLE_TOKEN,
      (handle) => `${HANDLE_ID_PREFIX}${handleIdOf(handle)}`,
    )
    : text;
}
