/**
 * The gateway process's own metrics, without prom-client's default
 * collectors (their names are not in the catalogue): resident memory and
 * V8 heap in use, read at every scrape; the start time; and the event
 * loop's lag, measured by a timer that is not allowed to keep the process
 * alive (`Deno.unrefTimer`): the delay between when it was due and when it
 * ran.
 *
 * @module
 */
import type { GatewayMetrics } from "./registry.ts";

/** How often the event loop's lag is measured (ms). */
export const LAG_INTERVAL_MS = 500;

/** Starts the process metrics; returns the function that stops the lag timer. */
export function watchProcess(
  metrics: GatewayMetrics,
  intervalMs: number = LAG_INTERVAL_MS,
): () => void {
  metrics.gaugeFrom("residentMemory", () => Deno.memoryUsage().rss);
  metrics.gaugeFrom("heapUsed", () => Deno.memoryUsage().heapUsed);
  const startSeconds = performance.timeOrigin / 1000;
  metrics.gaugeFrom("startTime", () => startSeconds);
  let lagSeconds = 0;
  metrics.gaugeFrom("eventLoopLag", () => lagSeconds);
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const schedule = (): void => {
    const due = performance.now() + intervalMs;
    const next = setTimeout(() => {
      lagSeconds = Math.max(0, performance.now() - due) / 1000;
      if (!stopped) schedule();
    }, intervalMs);
    Deno.unrefTimer(next);
    timer = next;
  };
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
