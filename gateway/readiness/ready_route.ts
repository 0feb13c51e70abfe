/**
 * `GET /ready` (and `HEAD /ready`): 200 `{"status":"ready","checks":{...}}`
 * while the gateway can take new operations, else 503 with the state
 * (`starting`, `not_ready`, `draining`) and what each check found, and
 * `Retry-After`. Unauthenticated like `/health`, and not bound to the
 * service's host names, so that an orchestrator's probe (which names the
 * pod's address) reaches it; it tells nothing secret.
 *
 * @module
 */
import type { Handler } from "hono";
import type { Lifecycle } from "./lifecycle_state.ts";

/** Seconds a prober is asked to wait before asking a replica that is not ready again. */
export const READY_RETRY_AFTER_SECONDS = 5;

/** The `/ready` handler (Hono answers HEAD with the same status and no body). */
export function readyRoute(lifecycle: Lifecycle): Handler {
  return async (c) => {
    const report = await lifecycle.report();
    const ready = report.status === "ready";
    return c.json(report, ready ? 200 : 503, {
      "Cache-Control": "no-store",
      ...(ready ? {} : { "Retry-After": String(READY_RETRY_AFTER_SECONDS) }),
    });
  };
}
