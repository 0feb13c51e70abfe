/**
 * `clientIp()`: records who is calling before anything else runs, so every
 * later step and every audit line names the same address.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { resolveClientIp } from "./resolve_client_ip.ts";
import type { GatewayEnv } from "./gateway_env.ts";

/** Options of {@linkcode clientIp}. */
export interface ClientIpOptions {
  /** Addresses or CIDRs whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`). */
  trustedProxies: readonly string[];
}

/**
 * Sets `c.var.clientIp`: the socket peer, or the client a trusted proxy names
 * in `X-Forwarded-For`. A request without a bound peer reads as `unknown`.
 */
export function clientIp(
  options: ClientIpOptions,
): MiddlewareHandler<GatewayEnv> {
  const { trustedProxies } = options;
  return async (c, next): Promise<void> => {
    c.set(
      "clientIp",
      resolveClientIp(
        peerAddress(c.env?.remoteAddr),
        c.req.header("x-forwarded-for"),
        trustedProxies,
      ),
    );
    await next();
  };
}

function peerAddress(remote: Deno.NetAddr | Deno.Addr | undefined): string {
  return remote !== undefined && "hostname" in remote
    ? remote.hostname
    : "unknown";
}
