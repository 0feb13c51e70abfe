/**
 * One readiness check and its cache: {@linkcode ReadinessProbe} says how
 * to ask a component whether it works, {@linkcode CachedCheck} asks it at
 * most once per period, never twice at the same time, and never for longer
 * than its time limit, so that a probe of `/ready` every few seconds costs
 * next to nothing.
 *
 * @module
 */

/** What a check answers: `ok`, or what is wrong and what to do. */
export type CheckVerdict = "ok" | string;

/** How to ask one component whether the gateway can use it. */
export interface ReadinessProbe {
  /** The key in `/ready`'s `checks`, e.g. `handle_store`. */
  readonly name: string;
  /**
   * Asks the component: `ok`, or a reason that says what is wrong and what
   * to do, holding no secret. Stops (and resolves or rejects) when the
   * signal aborts.
   */
  run(signal: AbortSignal): Promise<CheckVerdict>;
  /** The reason when {@linkcode ReadinessProbe.run} did not answer in time. */
  timedOut(timeoutMs: number): string;
}

/** How long a check may take and how long its verdict is kept. */
export interface CheckTiming {
  /** Longest time one run may take; it is aborted then (ms). */
  readonly timeoutMs: number;
  /** How long an `ok` is kept before the next run (ms). */
  readonly okForMs: number;
  /** How long a failure is kept before the next run (ms). */
  readonly failedForMs: number;
}

/** A probe with its cached verdict. */
export class CachedCheck {
  readonly #probe: ReadinessProbe;
  readonly #timing: CheckTiming;
  readonly #now: () => number;
  #verdict: CheckVerdict | undefined;
  #checkedAt = 0;
  #running: Promise<CheckVerdict> | undefined;
  /** The probe's own run, which may outlast a timed-out verdict. */
  #settling: Promise<void> | undefined;
  #abort: AbortController | undefined;
  #closed = false;

  /** Wraps a probe; nothing runs before the first refresh. */
  constructor(
    probe: ReadinessProbe,
    timing: CheckTiming,
    now: () => number = () => performance.now(),
  ) {
    this.#probe = probe;
    this.#timing = timing;
    this.#now = now;
  }

  /** The check's name (its key in `checks`). */
  get name(): string {
    return this.#probe.name;
  }

  /** The last verdict; undefined until the first run has ended. */
  get verdict(): CheckVerdict | undefined {
    return this.#verdict;
  }

  /** Whether the verdict is missing or older than its period. */
  get stale(): boolean {
    if (this.#verdict === undefined) return true;
    const keepMs = this.#verdict === "ok"
      ? this.#timing.okForMs
      : this.#timing.failedForMs;
    return this.#now() - this.#checkedAt >= keepMs;
  }

  /**
   * The verdict, fresh: runs the probe when the verdict is stale (joining
   * a run that is under way), within the time limit. While a run cut off
   * by the time limit has not ended yet, no other starts: the last verdict
   * stands.
   */
  refresh(): Promise<CheckVerdict> {
    if (this.#running !== undefined) return this.#running;
    if (!this.stale || this.#closed || this.#settling !== undefined) {
      return Promise.resolve(this.#verdict ?? "not checked yet");
    }
    const running = this.#run().finally(() => {
      this.#running = undefined;
    });
    this.#running = running;
    return running;
  }

  /** Aborts a run under way and waits for it to end; no run starts after. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#abort?.abort(new Error("The service is shutting down"));
    await this.#running;
    await this.#settling;
  }

  async #run(): Promise<CheckVerdict> {
    const abort = new AbortController();
    this.#abort = abort;
    const { timeoutMs } = this.#timing;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<CheckVerdict>((resolve) => {
      timer = setTimeout(() => {
        abort.abort(new Error("timed out"));
        resolve(this.#probe.timedOut(timeoutMs));
      }, timeoutMs);
    });
    const answer = this.#probe.run(abort.signal).catch((error: unknown) =>
      error instanceof Error
        ? `${this.#probe.name} check failed: ${error.name}`
        : `${this.#probe.name} check failed`
    );
    const settling = answer.then(() => {
      this.#settling = undefined;
      this.#abort = undefined;
    });
    this.#settling = settling;
    try {
      const verdict = await Promise.race([answer, timeout]);
      this.#verdict = verdict;
      this.#checkedAt = this.#now();
      return verdict;
    } finally {
      clearTimeout(timer);
    }
  }
}
