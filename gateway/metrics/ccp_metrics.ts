/**
 * CyberArk CCP requests: every request's duration, and each failure by its
 * class (a CyberArk code of the catalogue, `other` for any other code,
 * `network` without an answer, `http` for an answer without a code), as
 * the CCP client reports them.
 *
 * @module
 */
import type { CcpClient } from "../../vault/ccp_client.ts";
import type { GatewayMetrics } from "./registry.ts";

/** Connects `metrics` to `ccp`; returns the function that disconnects. */
export function watchCcp(metrics: GatewayMetrics, ccp: CcpClient): () => void {
  return ccp.observe(({ durationMs, errorCode }) => {
    metrics.observe("ccpDuration", {}, durationMs / 1000);
    if (errorCode !== undefined) {
      metrics.inc("ccpErrors", { error_code: errorCode });
    }
  });
}
