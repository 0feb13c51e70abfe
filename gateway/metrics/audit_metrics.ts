/**
 * The counters that follow the audit log (`onAudit()`), so that metrics and
 * audit lines agree: handles issued and what became of each handle
 * presented, authentication failures, rate limits, approvals and handle
 * store failures. Only the event name and its bounded `reason` are read:
 * never a principal, a host, a handle id, a command or a query.
 *
 * CyberArk errors are counted by the CCP client's observer
 * (`ccp_metrics.ts`) and policy denials where the policy decides
 * (`call_metrics.ts`): their audit lines (`cyberark_error`,
 * `policy_denied`) are not counted here, so nothing is counted twice.
 *
 * @module
 */
import type { AuditEvent, AuditListener, AuditValue } from "../audit.ts";
import type { GatewayMetrics } from "./registry.ts";

/** `handle_expired` reasons: a consumed handle presented again is a replay. */
const EXPIRY_OUTCOMES: Readonly<Record<string, string>> = {
  expired: "expired",
  already_consumed: "replayed",
};

/** The audit events of an operation that redeemed its handle. */
const REDEEMING: ReadonlySet<AuditEvent> = new Set([
  "ssh_executed",
  "ps_executed",
  "db_queried",
]);

/** The approval events, by outcome. */
const APPROVAL_OUTCOMES: Partial<Record<AuditEvent, string>> = {
  approval_requested: "requested",
  approval_granted: "granted",
  approval_denied: "denied",
  approval_expired: "expired",
};

function text(value: AuditValue | undefined): string {
  return typeof value === "string" ? value : "";
}

/** The audit listener that updates `metrics`. */
export function auditMetrics(metrics: GatewayMetrics): AuditListener {
  return (event, fields) => {
    const reason = text(fields.reason);
    if (REDEEMING.has(event)) {
      metrics.inc("handleUses", { outcome: "redeemed" });
      return;
    }
    const approval = APPROVAL_OUTCOMES[event];
    if (approval !== undefined) {
      metrics.inc("approvals", { outcome: approval });
      return;
    }
    switch (event) {
      case "credential_fetched":
        metrics.inc("handlesIssued", {});
        return;
      case "handle_expired":
        metrics.inc("handleUses", { outcome: EXPIRY_OUTCOMES[reason] ?? "" });
        return;
      case "handle_refused":
        metrics.inc("handleUses", { outcome: reason });
        return;
      case "handle_scope_refused":
        metrics.inc("handleUses", { outcome: "scope_refused" });
        return;
      case "handle_store_error":
        metrics.inc("handleStoreErrors", { reason });
        return;
      case "auth_failure":
        metrics.inc("authFailures", { reason });
        return;
      case "rate_limited":
        metrics.inc("rateLimited", { reason });
        return;
    }
  };
}
