/**
 * The Hono environment every gateway middleware shares: what the guarded
 * listener (`connection_guard/`) binds to a request and what the middleware
 * chain records about it.
 *
 * @module
 */
import type { Principal } from "../tool_context.ts";

/** Bindings and per-request variables of the gateway's Hono app. */
export interface GatewayEnv {
  /**
   * The guarded listener passes the client's socket address (not its
   * loopback relay's) as `remoteAddr`; tests pass `{ remoteAddr }` as the
   * third argument of `app.request()`.
   */
  Bindings: { remoteAddr?: Deno.NetAddr | Deno.Addr };
  Variables: {
    /** Set by `clientIp()`: the caller's address, after trusted-proxy resolution. */
    clientIp: string;
    /** Set by `apiKeyAuth()`: the principal whose key was presented. */
    principal: Principal;
  };
}
