/**
 * Waiting for a condition instead of sleeping a fixed time: what another
 * process does on its own clock (Redis ending a TTL, a server starting)
 * takes as long as the machine needs, so tests poll until it shows.
 *
 * @module
 */

/** Options of {@linkcode eventually}. */
export interface EventuallyOptions {
  /** Give up after this many milliseconds; default 10 000. */
  timeoutMs?: number;
  /** Wait this many milliseconds between attempts; default 50. */
  intervalMs?: number;
  /**
   * Stop early when this aborts, for example when the server being waited
   * for has exited; the last error of `check` is thrown.
   */
  signal?: AbortSignal;
}

/**
 * Runs `check` until it returns without throwing, and returns its value.
 *
 * @throws the last error of `check` once `timeoutMs` has passed or
 *   `signal` has aborted
 */
export async function eventually<T>(
  check: () => T | Promise<T>,
  options: EventuallyOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (performance.now() > deadline || options.signal?.aborted) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}
