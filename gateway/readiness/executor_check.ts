/**
 * The readiness check of the executor runtime: a probe executor
 * (`executors/children/probe_executor.ts`) is started the way every
 * operation's executor is (same Deno, sandbox flags, module cache, memory
 * limit and watchdog) and must answer. It runs in a spawner of its own, so
 * that a busy service (every slot taken) is not reported unready, and a
 * probe never takes a slot from a call.
 *
 * @module
 */
import type { ExecutorRunner } from "../../executors/spawner/mod.ts";
import type { CheckVerdict, ReadinessProbe } from "./readiness_check.ts";

/** What the probe executor is told to reach: nothing (it only answers). */
const PROBE_TARGET = { host: "127.0.0.1", port: 9 } as const;
const FIX =
  "run the service as deno task start does (--allow-run for the real path of deno, the module cache filled by deno task cache)";

/** The `executor` probe of `/ready`, over a spawner used for nothing else. */
export function executorProbe(spawner: ExecutorRunner): ReadinessProbe {
  return {
    name: "executor",
    run: async (signal): Promise<CheckVerdict> => {
      try {
        const outcome = await spawner.run({
          target: PROBE_TARGET,
          credential: {
            username: "readiness",
            kind: "password",
            secret: { reveal: () => "readiness-probe-not-a-secret" },
          },
          operation: { kind: "probe", action: "noop" },
          signal,
        });
        if (!outcome.ok) {
          return `Cannot start an executor: ${outcome.error.message}; ${FIX}`;
        }
        return "ok";
      } catch (error) {
        if (signal.aborted) throw error;
        const why = error instanceof Error
          ? `${error.name}: ${error.message}`
          : String(error);
        return `Cannot start an executor: ${why.slice(0, 300)}; ${FIX}`;
      }
    },
    timedOut: (timeoutMs) =>
      `Cannot start an executor: the probe executor did not answer within ${
        timeoutMs / 1000
      } s (an overloaded host, or a module cache being filled); ${FIX}`,
  };
}
