/**
 * The caller's address: the socket peer, or, when that peer is a trusted
 * proxy, the right-most untrusted address in `X-Forwarded-For`.
 *
 * @module
 */
import { ipMatchesAny, parseIp } from "./ip_match.ts";

/** Resolves the client address of a request. */
export function clientIp(
  peer: string,
  forwardedFor: string | undefined,
  trustedProxies: readonly string[],
): string {
  if (forwardedFor === undefined || !ipMatchesAny(peer, trustedProxies)) {
    return peer;
  }
  const hops = forwardedFor.split(",").map((h) => h.trim()).filter((h) =>
    h !== ""
  );
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (parseIp(hop) === undefined) return peer; // A forged or garbled list: trust only the socket.
    if (!ipMatchesAny(hop, trustedProxies)) return hop.replace(/^\[|\]$/g, "");
  }
  return peer;
}
