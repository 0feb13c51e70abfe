/**
 * The Hono environment every gateway middleware shares: what `Deno.serve`
 * binds to a request and what the middleware chain records about it.
 *
 * @module
 */
import type { Principal } from "../tool_context.ts";

/** Bindings and per-request variables of the gateway's Hono app. */
export interface GatewayEnv {
  /**
   * `Deno.serve` passes its handler info as the env; tests pass
   * `{ remoteAddr }` as the third argument of `app.request()`.
   */
  Bindings: { remoteAddr?: Deno.NetAddr | Deno.Addr };
  Variables: {
    /** Set by `clientIp()`: the caller's address, after trusted-proxy resolution. */
    clientIp: string;
    /** Set by `apiKeyAuth()`: the principal whose key was presented. */
    principal: Principal;
  };
}
