/**
 * The Hono environment of the approvals console and its API: what the
 * gateway's middleware records (the client address) and who the approver is.
 *
 * @module
 */
import type { GatewayEnv } from "../../http/gateway_env.ts";

/** How the approver authenticated this request. */
export type ApproverAuth = "bearer" | "session";

/** Bindings and per-request variables of {@linkcode approvalRoutes}. */
export interface ApprovalsEnv {
  Bindings: GatewayEnv["Bindings"];
  Variables: {
    /** Set by the gateway's `clientIp()`, which the lead registers on `/approvals/*`. */
    clientIp: string;
    /** Set by `approverAuth()`: the approver's name. */
    approver: string;
    /** Set by `approverAuth()`. */
    approverAuth: ApproverAuth;
    /** Set by `approverAuth()` for a session: the SHA-256 of its token (never the token). */
    sessionId: string;
    /** Set by `approverAuth()` for a session: epoch ms when it ends. */
    sessionExpiresAt: number;
    /** Set by `approverAuth()` for a session: the token console.js sends in `X-CSRF-Token`. */
    csrfToken: string;
  };
}
