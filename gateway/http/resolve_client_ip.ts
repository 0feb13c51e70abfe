/**
 * The caller's address: the socket peer, or, when that peer is a trusted
 * proxy, the right-most untrusted address in `X-Forwarded-For`.
 *
 * @module
 */
import { ipMatchesAny, isIp, unbracket } from "../ip_address.ts";

/** Resolves the client address of a request. */
export function resolveClientIp(
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
    const hop = unbracket(hops[i]!);
    if (!isIp(hop)) return peer; // A forged or garbled list: trust only the socket.
    if (!ipMatchesAny(hop, trustedProxies)) return hop;
  }
  return peer;
}
