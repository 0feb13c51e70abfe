/**
 * What a spawner tells whoever watches it (the gateway's metrics), without
 * knowing who that is: every child that ran a call, by kind, warm or cold,
 * and how long; every call refused for want of a slot; and, when asked, how
 * many children run, wait and stay warm now. Nothing here carries a target,
 * a command or a credential.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";

const logger = getLogger(["executors"]);

/** Why a call got no executor slot. */
export type ExecutorRefusal =
  /** Every slot busy and the queue full (`ExecutorBusyError`). */
  | "queue_full"
  /** No slot freed up within the call's time limit. */
  | "queue_timeout";

/** One child that ran a call, from spawn (or warm take-over) to exit. */
export interface ExecutorRun {
  /** The executor kind (`ssh`, `postgres`, ... or `probe`). */
  readonly kind: string;
  /** Whether the call took a child warmed for its handle. */
  readonly executor: "warm" | "cold";
  /** How long the child ran (ms). */
  readonly runMs: number;
}

/** A snapshot of a spawner's slots. */
export interface ExecutorStats {
  /** Slots held by a call now (its child running or about to). */
  readonly running: number;
  /** Calls waiting for a slot. */
  readonly queued: number;
  /** Warm children waiting for their handle's call. */
  readonly warm: number;
  /** Children that may run at once (`EXECUTOR_MAX_CONCURRENT`). */
  readonly slots: number;
}

/** Told of runs and refusals as they happen; both optional. */
export interface ExecutorObserver {
  /** A child finished running a call (whatever its outcome). */
  ran?(run: ExecutorRun): void;
  /** A call was refused without a slot. */
  refused?(reason: ExecutorRefusal): void;
}

/**
 * The observers of one spawner. An observer that throws is logged and
 * ignored: watching never fails a call.
 */
export class ExecutorObservers {
  readonly #observers = new Set<ExecutorObserver>();

  /** Adds an observer; returns the function that removes it. */
  add(observer: ExecutorObserver): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /** Tells every observer that a child ran. */
  ran(run: ExecutorRun): void {
    for (const observer of this.#observers) {
      this.#safely(() => observer.ran?.(run));
    }
  }

  /** Tells every observer that a call was refused. */
  refused(reason: ExecutorRefusal): void {
    for (const observer of this.#observers) {
      this.#safely(() => observer.refused?.(reason));
    }
  }

  #safely(tell: () => void): void {
    try {
      tell();
    } catch (error) {
      logger.debug("An executor observer failed: {error}", {
        error: error instanceof Error ? error.name : typeof error,
      });
    }
  }
}
