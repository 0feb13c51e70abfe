/**
 * The drain on SIGTERM (and SIGINT): the gateway reports `draining` on
 * `/ready` and refuses new MCP requests at once, lets the requests in
 * flight finish for up to `SHUTDOWN_GRACE_SECONDS`, then stops what is
 * left (running executors are killed, waiting approvals expire), closes
 * the listener and the services, and says how it went. A second signal
 * during the drain ends it at once.
 *
 * Log lines: `service_draining` (signal, requests in flight, grace) and
 * `service_stopped` (finished, cut off, forced, duration).
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { Lifecycle } from "./lifecycle_state.ts";

/** Default time the end of a drain gives cut-off requests and the listener (ms). */
export const DEFAULT_SETTLE_MS = 2000;

/** Options of {@linkcode GracefulShutdown}. */
export interface GracefulShutdownOptions {
  readonly lifecycle: Lifecycle;
  /** `SHUTDOWN_GRACE_SECONDS`. */
  readonly graceSeconds: number;
  /**
   * Stops the operations still running once the grace has passed (kills
   * their executors); returns how many executors it killed.
   */
  readonly stopOperations: () => number;
  /** Closes the services: waiting approvals expire, stores close. */
  readonly closeServices: () => Promise<void>;
  /** Closes the listener (`server.shutdown()`). */
  readonly closeListener: () => Promise<void>;
  readonly log: Logger;
  /**
   * How long, after the grace, cut-off requests get to send their answer
   * and the listener to close (ms, default {@linkcode DEFAULT_SETTLE_MS}).
   */
  readonly settleMs?: number;
}

/** How a drain went, as `service_stopped` reports it. */
export interface ShutdownSummary {
  /** The signal that started it. */
  readonly signal: string;
  /** MCP requests in flight when it started. */
  readonly inFlight: number;
  /** Of those, how many finished within the grace period. */
  readonly finished: number;
  /** How many were still in flight when the grace ended and were stopped. */
  readonly cutOff: number;
  /** Executors killed when the grace ended. */
  readonly executorsStopped: number;
  /** Whether a second signal ended the drain early. */
  readonly forced: boolean;
}

/** The drain of one gateway process; one per process. */
export class GracefulShutdown {
  readonly #options: GracefulShutdownOptions;
  readonly #force = Promise.withResolvers<void>();
  #forced = false;
  #done: Promise<ShutdownSummary> | undefined;

  /** Prepares the drain; nothing happens before {@linkcode GracefulShutdown.request}. */
  constructor(options: GracefulShutdownOptions) {
    this.#options = options;
  }

  /**
   * The signal handler: the first call starts the drain, a later one ends
   * it at once (running executors are killed without waiting for the
   * grace). Every call returns the same summary, once the drain is over.
   */
  request(signal: string): Promise<ShutdownSummary> {
    if (this.#done === undefined) {
      this.#done = this.#drain(signal);
    } else if (!this.#forced) {
      this.#forced = true;
      this.#options.log.warn(
        "Second {signal} while draining: stopping at once",
        { signal },
      );
      this.#force.resolve();
    }
    return this.#done;
  }

  async #drain(signal: string): Promise<ShutdownSummary> {
    const { lifecycle, graceSeconds, log } = this.#options;
    const settleMs = this.#options.settleMs ?? DEFAULT_SETTLE_MS;
    const started = performance.now();
    const { inFlight } = lifecycle;
    lifecycle.beginDrain();
    const atStart = inFlight.count;
    const finishedBefore = inFlight.finished;
    log.info("service_draining", {
      signal,
      in_flight: atStart,
      grace_seconds: graceSeconds,
    });

    await this.#within(graceSeconds * 1000, inFlight.idle());
    const cutOff = inFlight.count;
    const finished = inFlight.finished - finishedBefore;
    let executorsStopped = 0;
    if (cutOff > 0) {
      executorsStopped = this.#options.stopOperations();
      log.warn(
        "Shutdown grace of {grace_seconds} s over: stopping {cut_off} requests still in flight ({executors} executors killed)",
        {
          grace_seconds: graceSeconds,
          cut_off: cutOff,
          executors: executorsStopped,
        },
      );
    }
    // Waiting approvals expire (reason shutdown) and answer their calls.
    await this.#options.closeServices();
    // Stopped calls send their answer if they can; then the listener goes.
    await this.#within(settleMs, inFlight.idle());
    await this.#within(settleMs, this.#options.closeListener());
    lifecycle.markStopped();
    const summary: ShutdownSummary = {
      signal,
      inFlight: atStart,
      finished,
      cutOff,
      executorsStopped,
      forced: this.#forced,
    };
    log.info("service_stopped", {
      signal,
      in_flight: atStart,
      finished,
      cut_off: cutOff,
      executors_stopped: executorsStopped,
      forced: this.#forced,
      duration_ms: Math.round(performance.now() - started),
    });
    return summary;
  }

  /** Waits for `promise`, at most `ms`, and not at all once forced. */
  async #within(ms: number, promise: Promise<unknown>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        promise.catch(() => {}),
        new Promise<void>((resolve) => timer = setTimeout(resolve, ms)),
        this.#force.promise,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}
