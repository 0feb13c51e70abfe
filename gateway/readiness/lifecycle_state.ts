/**
 * {@linkcode Lifecycle}: the gateway's {@linkcode LifecycleView}. It holds
 * the readiness checks (`handle_store`, `executor`) with their cached
 * verdicts, the count of MCP requests in flight, and whether SIGTERM has
 * started the drain. `/ready` reports it; the drain guard refuses new MCP
 * requests once it is draining; the metrics read `ready`.
 *
 * @module
 */
import type { LifecycleState, LifecycleView } from "../lifecycle.ts";
import type { CachedCheck, CheckVerdict } from "./readiness_check.ts";
import { InFlightRequests } from "./in_flight.ts";

/** What `/ready` answers: the state and each check's verdict. */
export interface ReadinessReport {
  readonly status: LifecycleState;
  /** `config` first (always `ok` in a running service), then each check. */
  readonly checks: Readonly<Record<string, CheckVerdict>>;
}

/** How `/ready` treats one check. */
export interface LifecycleCheck {
  readonly check: CachedCheck;
  /**
   * `/ready` waits for a stale verdict (a quick check: the handle store);
   * otherwise it answers with the last verdict and refreshes it in the
   * background (a slow one: the executor, which starts a process).
   */
  readonly waitForFresh: boolean;
}

/** The verdict of a check that has not answered yet. */
const NOT_YET = "not checked yet: the first check is under way";

/** The lifecycle of one gateway process. */
export class Lifecycle implements LifecycleView {
  /** The MCP requests being answered now. */
  readonly inFlight: InFlightRequests = new InFlightRequests();
  readonly #checks: readonly LifecycleCheck[];
  #draining = false;
  #stopped = false;
  /** Whether every check has passed at least once. */
  #passed = false;

  /** Creates the lifecycle; no check runs before {@linkcode Lifecycle.start} or a report. */
  constructor(checks: readonly LifecycleCheck[] = []) {
    this.#checks = checks;
  }

  /**
   * `stopped`, `draining`, `starting` until every check has passed once,
   * then `ready` while every verdict is `ok`, else `not_ready`. Reading it starts
   * a background refresh of stale verdicts, so that a reader that polls
   * (the metrics) sees a failure appear without anyone probing `/ready`.
   */
  get state(): LifecycleState {
    if (this.#stopped) return "stopped";
    if (this.#draining) return "draining";
    this.#refreshInBackground(this.#checks);
    return this.#fromVerdicts();
  }

  /** True only in state `ready`. */
  get ready(): boolean {
    return this.state === "ready";
  }

  /** True from the start of the drain on. */
  get draining(): boolean {
    return this.#draining || this.#stopped;
  }

  /** Runs every check once in the background (at start-up). */
  start(): void {
    this.#refreshInBackground(this.#checks);
  }

  /**
   * The report of `/ready`: quick checks refreshed when stale, slow ones
   * from their last verdict (refreshed in the background). While draining
   * nothing is checked any more.
   */
  async report(): Promise<ReadinessReport> {
    if (!this.draining) {
      this.#refreshInBackground(this.#checks.filter((c) => !c.waitForFresh));
      await Promise.all(
        this.#checks.filter((c) => c.waitForFresh).map((c) =>
          c.check.refresh()
        ),
      );
    }
    const checks: Record<string, CheckVerdict> = { config: "ok" };
    for (const { check } of this.#checks) {
      checks[check.name] = check.verdict ?? NOT_YET;
    }
    return { status: this.state, checks };
  }

  /**
   * Enters the drain (SIGTERM): `/ready` answers `draining` and new MCP
   * requests are refused from now on.
   *
   * @returns false when the drain had started already
   */
  beginDrain(): boolean {
    if (this.#draining) return false;
    this.#draining = true;
    return true;
  }

  /** The listener is closed: state `stopped`. */
  markStopped(): void {
    this.#stopped = true;
  }

  /** Aborts the checks under way and waits for them; none runs after. */
  async close(): Promise<void> {
    await Promise.all(this.#checks.map((c) => c.check.close()));
  }

  #fromVerdicts(): LifecycleState {
    const ok = this.#checks.every((c) => c.check.verdict === "ok");
    if (ok) this.#passed = true;
    if (!this.#passed) return "starting";
    return ok ? "ready" : "not_ready";
  }

  #refreshInBackground(checks: readonly LifecycleCheck[]): void {
    if (this.draining) return;
    for (const { check } of checks) {
      if (check.stale) void check.refresh();
    }
  }
}
