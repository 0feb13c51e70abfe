/**
 * The contract of the gateway's lifecycle: whether it is ready to take new
 * operations (`/ready`), and whether it is draining after SIGTERM. The
 * readiness code (`/ready`, the drain on shutdown) implements it; the
 * metrics read it for `mcp_privileged_ready`.
 *
 * @module
 */

/**
 * - `starting`: serving, but the first readiness checks have not passed;
 * - `ready`: the last readiness checks passed;
 * - `not_ready`: a readiness check failed (handle store, executor runtime);
 * - `draining`: SIGTERM received: new operations are refused while those
 *   in flight finish (up to `SHUTDOWN_GRACE_SECONDS`);
 * - `stopped`: the listener is closed.
 */
export type LifecycleState =
  | "starting"
  | "ready"
  | "not_ready"
  | "draining"
  | "stopped";

/** What other parts of the gateway may read of its lifecycle. */
export interface LifecycleView {
  /** The current state. */
  readonly state: LifecycleState;
  /** True only in state `ready`. */
  readonly ready: boolean;
  /** True from SIGTERM on: new operations are refused. */
  readonly draining: boolean;
}
