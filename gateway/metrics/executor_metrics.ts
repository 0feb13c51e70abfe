/**
 * The executors' metrics: slots held, calls waiting, warm children and the
 * slot count, read from the spawner at every scrape; children run (by kind,
 * warm or cold, and how long) and calls refused without a slot, as the
 * spawner reports them. Runs of kinds outside the catalogue (the doctor's
 * probe) are not counted.
 *
 * @module
 */
import type { ExecutorRunner } from "../../executors/spawner/mod.ts";
import { EXECUTOR_KINDS } from "./catalog.ts";
import type { GatewayMetrics } from "./registry.ts";

const KINDS: ReadonlySet<string> = new Set(EXECUTOR_KINDS);

/** Connects `metrics` to `executors`; returns the function that disconnects. */
export function watchExecutors(
  metrics: GatewayMetrics,
  executors: ExecutorRunner,
): () => void {
  const stats = executors.stats?.bind(executors);
  if (stats !== undefined) {
    metrics.gaugeFrom("executorsRunning", () => stats().running);
    metrics.gaugeFrom("executorsQueued", () => stats().queued);
    metrics.gaugeFrom("executorsWarm", () => stats().warm);
    metrics.gaugeFrom("executorSlots", () => stats().slots);
  }
  return executors.observe?.({
    ran: ({ kind, executor, runMs }) => {
      if (!KINDS.has(kind)) return;
      metrics.inc("executorStarts", { executor });
      metrics.observe("executorDuration", { kind, executor }, runMs / 1000);
    },
    refused: (reason) => {
      metrics.inc("executorsRefused", { reason });
    },
  }) ?? (() => {});
}
