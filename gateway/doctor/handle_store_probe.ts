/**
 * The handle store probe: a shared store (HANDLE_STORE=redis) answers, and
 * a random key is unknown to it.
 *
 * @module
 */
import type { HandleStore } from "../../vault/handle_store.ts";
import type { HandleStoreConfig } from "../config/mod.ts";
import type { CheckResult } from "./check_result.ts";
import { fail, pass } from "./_verdicts.ts";

/**
 * The handle store answers: a lookup of random keys must come back
 * `unknown` (reachable, nothing leaked, nothing consumed).
 */
export async function checkHandleStore(
  setting: HandleStoreConfig,
  store: HandleStore | undefined,
): Promise<CheckResult> {
  const name = "handle-store";
  if (setting.kind !== "redis" || store === undefined) {
    return pass(
      name,
      "HANDLE_STORE=memory: handles live in this process (one replica, HANDLE_STORE=redis shares them between several)",
    );
  }
  const random = (): string =>
    Array.from(
      crypto.getRandomValues(new Uint8Array(32)),
      (b) => b.toString(16).padStart(2, "0"),
    )
      .join("");
  try {
    const result = await store.peek({
      storeKey: random(),
      encryptionKey: crypto.getRandomValues(new Uint8Array(32)),
    });
    if (result.status !== "unknown") {
      return fail(
        name,
        `a lookup of a random key answered "${result.status}"`,
        "check that REDIS_KEY_PREFIX is used by this service only",
      );
    }
    return pass(name, "HANDLE_STORE=redis answers (a random key is unknown)");
  } catch (error) {
    return fail(
      name,
      error instanceof Error ? error.message : String(error),
      "check REDIS_URL, the password and that Redis is reachable from this host",
    );
  }
}
