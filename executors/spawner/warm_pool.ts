/**
 * Warm executors: a child started when a handle is issued, for the one call
 * the handle's scope predicts, so that call does not wait for Deno to start
 * and load the driver.
 *
 * What warmth never changes (the sandbox's promise):
 * - A warm child is started with exactly the command line a cold child of
 *   the same kind and target gets (the same `executorArgs`, compared whole
 *   when the call comes), under the same memory watchdog.
 * - It holds no secret while it waits: nothing is written to its stdin until
 *   the call that takes it runs, and then the one request, as for a cold one.
 * - It serves exactly one call, then exits; a call that does not match gets
 *   a cold child, and the warm one is killed.
 *
 * Bounded: at most `max` children wait at once (the oldest is killed first
 * to make room), each for at most its handle's lifetime; the spawner's
 * `close()` kills them all.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { ExecutorProcess } from "./executor_process.ts";

const logger = getLogger(["executors"]);

/** What a warm child was started for. */
export interface WarmKey {
  /** The id of the handle whose call it waits for. */
  readonly handleId: string;
  /** The executor kind. */
  readonly kind: string;
  /** `host:port` as in its `--allow-net` (for the log). */
  readonly target: string;
}

/** Why a warm child was killed without serving a call. */
export type DiscardReason =
  | "evicted"
  | "expired"
  | "mismatch"
  | "consumed"
  | "exited"
  | "memory"
  | "shutdown";

interface WarmEntry {
  readonly key: WarmKey;
  readonly process: ExecutorProcess;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** The warm children of one spawner, oldest first. */
export class WarmPool {
  readonly #max: number;
  readonly #entries = new Map<string, WarmEntry>();
  readonly #disposals = new Set<Promise<void>>();

  /** Creates a pool of at most `max` children (0: warming off). */
  constructor(max: number) {
    this.#max = max;
  }

  /** The most children that wait at once. */
  get max(): number {
    return this.#max;
  }

  /** Children waiting now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether a child waits for this handle. */
  has(handleId: string): boolean {
    return this.#entries.has(handleId);
  }

  /** Process ids of the waiting children, oldest first. */
  pids(): number[] {
    return [...this.#entries.values()].map((entry) => entry.process.pid);
  }

  /**
   * Makes room for one more child: kills the oldest while the pool is full.
   * Returns false when warming is off.
   */
  makeRoom(): boolean {
    if (this.#max === 0) return false;
    while (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.discard(oldest, "evicted");
    }
    return true;
  }

  /**
   * Kills the oldest waiting child that is not `keep`'s (a call about to
   * take its own must not lose it); false when there is none.
   */
  evictOldest(keep?: string): boolean {
    for (const handleId of this.#entries.keys()) {
      if (handleId === keep) continue;
      this.discard(handleId, "evicted");
      return true;
    }
    return false;
  }

  /** Adds a started child; it is killed after `ttlMs` unless taken first. */
  add(key: WarmKey, process: ExecutorProcess, ttlMs: number): void {
    this.discard(key.handleId, "evicted");
    const timer = setTimeout(
      () => this.discard(key.handleId, "expired"),
      Math.max(0, ttlMs),
    );
    this.#entries.set(key.handleId, { key, process, timer });
    logger.debug(
      "Warm executor {kind} (pid {pid}) started for handle {handle_id} on {target}",
      { ...fields(key), pid: process.pid },
    );
    // A child that dies on its own (a crash, the OOM killer, its watchdog)
    // is dropped; the call then gets a cold one.
    process.child.status.then(() => {
      if (this.#entries.get(key.handleId)?.process === process) {
        this.discard(
          key.handleId,
          process.stopReason === "memory" ? "memory" : "exited",
        );
      }
    });
  }

  /**
   * Takes the child waiting for `handleId` out of the pool: returned when it
   * was started with exactly `args` and is alive, else killed (the handle
   * is being used by another call, so nothing will ever match it).
   */
  take(handleId: string, args: readonly string[]): ExecutorProcess | null {
    const entry = this.#entries.get(handleId);
    if (entry === undefined) return null;
    if (entry.process.ended) {
      this.discard(handleId, "exited");
      return null;
    }
    if (!sameArgs(entry.process.args, args)) {
      this.discard(handleId, "mismatch");
      return null;
    }
    this.#entries.delete(handleId);
    clearTimeout(entry.timer);
    logger.debug(
      "Warm executor {kind} (pid {pid}) used for handle {handle_id} on {target}",
      { ...fields(entry.key), pid: entry.process.pid },
    );
    return entry.process;
  }

  /** Kills the child waiting for `handleId`, if any. */
  discard(handleId: string, reason: DiscardReason): void {
    const entry = this.#entries.get(handleId);
    if (entry === undefined) return;
    this.#entries.delete(handleId);
    clearTimeout(entry.timer);
    logger.debug(
      "Warm executor {kind} (pid {pid}) for handle {handle_id} on {target} discarded: {reason}",
      { ...fields(entry.key), pid: entry.process.pid, reason },
    );
    const disposal = entry.process.dispose();
    this.#disposals.add(disposal);
    disposal.finally(() => this.#disposals.delete(disposal));
  }

  /** Kills every waiting child and waits until all are gone. */
  async close(): Promise<void> {
    for (const handleId of [...this.#entries.keys()]) {
      this.discard(handleId, "shutdown");
    }
    while (this.#disposals.size > 0) {
      await Promise.allSettled([...this.#disposals]);
    }
  }
}

function fields(key: WarmKey): Record<string, string> {
  return { handle_id: key.handleId, kind: key.kind, target: key.target };
}

function sameArgs(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((arg, i) => arg === b[i]);
}
