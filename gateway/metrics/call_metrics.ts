/**
 * Tool calls (by tool and outcome, and their duration) and policy
 * decisions (by effect), from the reports of `call_events.ts`: each call
 * and each decision is reported once, where it happens.
 *
 * @module
 */
import type { CallObserver } from "../call_events.ts";
import type { GatewayMetrics } from "./registry.ts";

/** The call observer that updates `metrics`. */
export function callMetrics(metrics: GatewayMetrics): CallObserver {
  return {
    toolCall: ({ tool, outcome, durationMs }) => {
      metrics.inc("toolCalls", { tool, outcome });
      metrics.observe("toolDuration", { tool }, durationMs / 1000);
    },
    policyDecision: (effect) => {
      metrics.inc("policyDecisions", { effect });
    },
  };
}
