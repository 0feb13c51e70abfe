/**
 * Audit events for the SIEM: one `audit` logger, one event name per line,
 * flat fields. Never pass a secret, a handle or an API key here.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";

const auditLogger = getLogger(["audit"]);

/** Every audit event the service emits. */
export type AuditEvent =
  | "credential_fetched"
  | "cyberark_error"
  | "auth_failure"
  | "handle_expired"
  | "handle_refused"
  | "handle_scope_refused"
  | "handle_store_error"
  | "rate_limited"
  | "ssh_executed"
  | "ps_executed"
  | "db_queried"
  | "policy_denied"
  | "policy_loaded"
  | "policy_reload_failed"
  | "approval_requested"
  | "approval_granted"
  | "approval_denied"
  | "approval_expired";

/** A flat audit field value. */
export type AuditValue = string | number | boolean | null;

/** Writes one audit line. */
export function audit(
  event: AuditEvent,
  fields: Record<string, AuditValue>,
  level: "info" | "warning" | "error" = "info",
): void {
  auditLogger[level === "warning" ? "warn" : level](event, fields);
}
