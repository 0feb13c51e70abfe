/**
 * `createLifecycle()`: the gateway's lifecycle with its two checks, the
 * handle store (quick, waited for by `/ready`) and the executor runtime
 * (a process start, refreshed in the background), and the timings that
 * keep a probe of `/ready` every few seconds cheap.
 *
 * @module
 */
import { ExecutorSpawner } from "../../executors/spawner/mod.ts";
import type { HandleStore } from "../../vault/handle_store.ts";
import { executorProbe } from "./executor_check.ts";
import { handleStoreProbe } from "./handle_store_check.ts";
import { Lifecycle } from "./lifecycle_state.ts";
import { CachedCheck, type CheckTiming } from "./readiness_check.ts";

/** The handle store answers within 1 s; a verdict is kept 5 s (a failure 2 s). */
export const HANDLE_STORE_TIMING: CheckTiming = {
  timeoutMs: 1000,
  okForMs: 5000,
  failedForMs: 2000,
};

/**
 * A probe executor answers within 20 s (a cold module cache on a slow
 * host); a success is kept 30 s, a failure 10 s.
 */
export const EXECUTOR_TIMING: CheckTiming = {
  timeoutMs: 20_000,
  okForMs: 30_000,
  failedForMs: 10_000,
};

/** Options of {@linkcode createLifecycle}. */
export interface CreateLifecycleOptions {
  readonly store: HandleStore;
  /** `memory`, or the Redis endpoint without credentials. */
  readonly storeName: string;
  /** `EXECUTOR_MAX_MEMORY_MB`: the probe runs under the operations' limit. */
  readonly maxMemoryMb: number;
  /** The executor check's spawner (default: one like the service's, one slot, no warming). */
  readonly probeSpawner?: ExecutorSpawner;
  /** The clock of the caches (tests). */
  readonly now?: () => number;
}

/** The lifecycle and how to close it (its checks and their spawner). */
export interface LifecycleHandle {
  readonly lifecycle: Lifecycle;
  close(): Promise<void>;
}

/** Builds the lifecycle of a gateway process; no check runs yet. */
export function createLifecycle(
  options: CreateLifecycleOptions,
): LifecycleHandle {
  const spawner = options.probeSpawner ?? new ExecutorSpawner({
    maxConcurrent: 1,
    // A probe answers a few milliseconds before its child has exited and
    // freed the slot: the next one waits for it rather than failing.
    maxQueued: 1,
    warmMax: 0,
    maxMemoryMb: options.maxMemoryMb,
    defaultTimeoutMs: EXECUTOR_TIMING.timeoutMs,
  });
  const lifecycle = new Lifecycle([
    {
      check: new CachedCheck(
        handleStoreProbe({ store: options.store, name: options.storeName }),
        HANDLE_STORE_TIMING,
        options.now,
      ),
      waitForFresh: true,
    },
    {
      check: new CachedCheck(
        executorProbe(spawner),
        EXECUTOR_TIMING,
        options.now,
      ),
      waitForFresh: false,
    },
  ]);
  return {
    lifecycle,
    close: async () => {
      await lifecycle.close();
      await spawner.close();
    },
  };
}
