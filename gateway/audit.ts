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
  | "approval_expired"
  | "audit_chain_started"
  | "audit_checkpoint"
  | "audit_chain_closed";

/** A flat audit field value. */
export type AuditValue = string | number | boolean | null;

/** An audit line's level. */
export type AuditLevel = "info" | "warning" | "error";

/** Sees every audit event after its line is written (metrics count them). */
export type AuditListener = (
  event: AuditEvent,
  fields: Readonly<Record<string, AuditValue>>,
  level: AuditLevel,
) => void;

const listeners = new Set<AuditListener>();

/**
 * Calls `listener` for every audit event from now on; returns the function
 * that stops it. A listener that throws is ignored: it never costs a line.
 */
export function onAudit(listener: AuditListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Writes one audit line, then tells the listeners. */
export function audit(
  event: AuditEvent,
  fields: Record<string, AuditValue>,
  level: AuditLevel = "info",
): void {
  auditLogger[level === "warning" ? "warn" : level](event, fields);
  for (const listener of listeners) {
    try {
      listener(event, fields, level);
    } catch {
      // A broken listener must not break auditing.
    }
  }
}
