/**
 * The counters that follow the audit log: each audit event (written with
 * the real `audit()`) and the counter it moves; events counted elsewhere
 * move nothing here; and no field of an event other than its bounded
 * reason reaches a label, whatever it holds.
 */
import { audit, type AuditEvent, onAudit } from "../../../gateway/audit.ts";
import { auditMetrics } from "../../../gateway/metrics/audit_metrics.ts";
import { GatewayMetrics } from "../../../gateway/metrics/registry.ts";
import { assert, assertEquals } from "../../support/assert.ts";
import { parseSamples } from "../../support/prometheus_text.ts";

/** The non-zero samples of the counters, as `name{labels} value` lines. */
async function moved(metrics: GatewayMetrics): Promise<string[]> {
  return parseSamples(await metrics.scrape())
    .filter((s) => s.name.endsWith("_total") && s.value !== 0)
    .map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`)
    .sort();
}

/** Runs `fn` with a fresh registry listening to the audit log. */
async function counting(
  fn: () => void,
): Promise<{ metrics: GatewayMetrics; moved: string[] }> {
  const metrics = new GatewayMetrics();
  const stop = onAudit(auditMetrics(metrics));
  try {
    fn();
  } finally {
    stop();
  }
  return { metrics, moved: await moved(metrics) };
}

Deno.test("auditMetrics() counts each audit event where the catalogue says", async () => {
  const cases: [AuditEvent, Record<string, string>, string][] = [
    ["credential_fetched", {}, "mcp_privileged_handles_issued_total{} 1"],
    [
      "ssh_executed",
      {},
      'mcp_privileged_handle_uses_total{"outcome":"redeemed"} 1',
    ],
    [
      "ps_executed",
      {},
      'mcp_privileged_handle_uses_total{"outcome":"redeemed"} 1',
    ],
    [
      "db_queried",
      {},
      'mcp_privileged_handle_uses_total{"outcome":"redeemed"} 1',
    ],
    [
      "handle_expired",
      { reason: "expired" },
      'mcp_privileged_handle_uses_total{"outcome":"expired"} 1',
    ],
    [
      "handle_expired",
      { reason: "already_consumed" },
      'mcp_privileged_handle_uses_total{"outcome":"replayed"} 1',
    ],
    [
      "handle_refused",
      { reason: "unknown" },
      'mcp_privileged_handle_uses_total{"outcome":"unknown"} 1',
    ],
    [
      "handle_refused",
      { reason: "host_mismatch" },
      'mcp_privileged_handle_uses_total{"outcome":"host_mismatch"} 1',
    ],
    [
      "handle_refused",
      { reason: "principal_mismatch" },
      'mcp_privileged_handle_uses_total{"outcome":"principal_mismatch"} 1',
    ],
    [
      "handle_refused",
      { reason: "reserved" },
      'mcp_privileged_handle_uses_total{"outcome":"reserved"} 1',
    ],
    [
      "handle_scope_refused",
      {},
      'mcp_privileged_handle_uses_total{"outcome":"scope_refused"} 1',
    ],
    [
      "handle_store_error",
      { reason: "unavailable" },
      'mcp_privileged_handle_store_errors_total{"reason":"unavailable"} 1',
    ],
    [
      "handle_store_error",
      { reason: "integrity" },
      'mcp_privileged_handle_store_errors_total{"reason":"integrity"} 1',
    ],
    [
      "auth_failure",
      { reason: "invalid_or_missing_api_key" },
      'mcp_privileged_auth_failures_total{"reason":"invalid_or_missing_api_key"} 1',
    ],
    [
      "auth_failure",
      { reason: "invalid_approver_key" },
      'mcp_privileged_auth_failures_total{"reason":"invalid_approver_key"} 1',
    ],
    [
      "auth_failure",
      { reason: "something_new" },
      'mcp_privileged_auth_failures_total{"reason":"other"} 1',
    ],
    [
      "rate_limited",
      { reason: "auth_failures" },
      'mcp_privileged_rate_limited_total{"reason":"auth_failures"} 1',
    ],
    [
      "rate_limited",
      { reason: "tool_calls" },
      'mcp_privileged_rate_limited_total{"reason":"tool_calls"} 1',
    ],
    [
      "approval_requested",
      {},
      'mcp_privileged_approvals_total{"outcome":"requested"} 1',
    ],
    [
      "approval_granted",
      {},
      'mcp_privileged_approvals_total{"outcome":"granted"} 1',
    ],
    [
      "approval_denied",
      {},
      'mcp_privileged_approvals_total{"outcome":"denied"} 1',
    ],
    [
      "approval_expired",
      {},
      'mcp_privileged_approvals_total{"outcome":"expired"} 1',
    ],
  ];
  for (const [event, fields, expected] of cases) {
    const { moved } = await counting(() => audit(event, fields));
    assertEquals(moved, [expected], `${event} ${JSON.stringify(fields)}`);
  }
});

Deno.test("auditMetrics() leaves what is counted elsewhere, and reasons without a place, alone", async () => {
  const { moved } = await counting(() => {
    // Counted by the CCP client's observer and where the policy decides.
    audit("cyberark_error", { error_code: "APPAP004E" });
    audit("policy_denied", { effect: "deny" });
    // Not metrics at all.
    audit("policy_loaded", {});
    audit("audit_checkpoint", {});
    // Reasons outside sets without `other`: dropped, no new series.
    audit("handle_expired", { reason: "melted" });
    audit("handle_refused", { reason: "melted" });
    audit("handle_store_error", { reason: "melted" });
    audit("rate_limited", { reason: "melted" });
  });
  assertEquals(moved, []);
});

Deno.test("auditMetrics(): no handle, command, query, principal or host in any label, whatever the fields hold", async () => {
  const marker = `MARKER-${crypto.randomUUID()}`;
  const handle = `secret://${"Q".repeat(43)}`;
  const fields = {
    reason: marker,
    handle_id: marker,
    handle,
    command: `echo ${marker}`,
    query: `SELECT '${marker}'`,
    principal: marker,
    host: `${marker}.example`,
    client_ip: "192.0.2.1",
    error_code: marker,
    effect: marker,
    safe: marker,
    object_name: marker,
  };
  const events: AuditEvent[] = [
    "credential_fetched",
    "cyberark_error",
    "auth_failure",
    "handle_expired",
    "handle_refused",
    "handle_scope_refused",
    "handle_store_error",
    "rate_limited",
    "ssh_executed",
    "ps_executed",
    "db_queried",
    "policy_denied",
    "approval_requested",
    "approval_granted",
    "approval_denied",
    "approval_expired",
  ];
  const { metrics } = await counting(() => {
    for (const event of events) audit(event, fields);
  });
  const text = await metrics.scrape();
  for (const word of [marker, "secret://", "192.0.2.1", "SELECT", "echo"]) {
    assert(!text.includes(word), `the scrape holds ${word}`);
  }
});
