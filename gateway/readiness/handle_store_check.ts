/**
 * The readiness check of the handle store: a lookup of a random key must
 * come back, whatever it says, within the check's time limit. With
 * `HANDLE_STORE=redis` this is a round trip to Redis; in memory it always
 * answers.
 *
 * @module
 */
import type { HandleStore } from "../../vault/handle_store.ts";
import { HandleStoreError } from "../../vault/handle_store_error.ts";
import type { CheckVerdict, ReadinessProbe } from "./readiness_check.ts";

/** Options of {@linkcode handleStoreProbe}. */
export interface HandleStoreProbeOptions {
  readonly store: HandleStore;
  /** `memory`, or the Redis endpoint without credentials (`redis://host:port/db`). */
  readonly name: string;
}

/** The `handle_store` probe of `/ready`. */
export function handleStoreProbe(
  options: HandleStoreProbeOptions,
): ReadinessProbe {
  const { store, name } = options;
  return {
    name: "handle_store",
    run: async (): Promise<CheckVerdict> => {
      try {
        // Random keys: nothing is found, consumed or changed.
        await store.peek({
          storeKey: Array.from(
            crypto.getRandomValues(new Uint8Array(32)),
            (b) => b.toString(16).padStart(2, "0"),
          ).join(""),
          encryptionKey: crypto.getRandomValues(new Uint8Array(32)),
        });
        return "ok";
      } catch (error) {
        // A store error names the endpoint without its password, and the fix.
        if (error instanceof HandleStoreError) return error.message;
        return `Handle store ${name} failed a lookup (${
          error instanceof Error ? error.name : typeof error
        }); see the service log`;
      }
    },
    timedOut: (timeoutMs) =>
      `Handle store unavailable: ${name} did not answer within ${
        timeoutMs / 1000
      } s; check REDIS_URL and that Redis is reachable from this host`,
  };
}
