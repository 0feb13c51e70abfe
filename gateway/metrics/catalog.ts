/**
 * Every metric the gateway exports, defined once: name, type, help text and
 * label names with the closed set of values each label may take. The
 * Prometheus registry (`registry.ts`), the alert rules
 * (`deploy/prometheus/alerts.yml`) and the Grafana dashboard
 * (`deploy/grafana/`) all use these names; the tests check that they agree.
 *
 * Cardinality is bounded by construction: a label value outside its set is
 * recorded as `other`, and no label ever carries a host, a principal, a
 * handle, a command, a query, a secret or any other caller-chosen text.
 * Names follow Prometheus conventions: one `mcp_privileged_` prefix, base
 * units (seconds, bytes), `_total` on counters.
 *
 * @module
 */

/** The four tools. */
export const TOOLS = [
  "get_credential",
  "ssh_execute",
  "ps_execute",
  "db_query",
] as const;

/**
 * How a tool call ended:
 * - `ok`: it ran and succeeded (exit code 0, no PowerShell error, query ran);
 * - `command_failed`: it ran on the target, which reported failure (exit code
 *   not 0, `had_errors`, a database error);
 * - `error`: a tool error before or around the run (bad input, CyberArk
 *   error, executor failure, timeout, busy);
 * - `refused`: the handle was refused (expired, replayed, unknown, wrong
 *   host, scope or principal) or the handle store failed;
 * - `denied`: the policy denied it, or an approver denied it / it expired;
 * - `rate_limited`: over `TOOL_CALL_LIMIT`.
 */
export const TOOL_OUTCOMES = [
  "ok",
  "command_failed",
  "error",
  "refused",
  "denied",
  "rate_limited",
] as const;

/** Executor kinds, as the spawner names them. */
export const EXECUTOR_KINDS = [
  "ssh",
  "powershell",
  "postgres",
  "mysql",
  "mssql",
] as const;

/** Whether a call ran in a warm child or one started for it. */
export const EXECUTOR_STARTS = ["warm", "cold"] as const;

/** Why the spawner refused to run a call. */
export const EXECUTOR_REFUSALS = ["queue_full", "queue_timeout"] as const;

/**
 * CyberArk error codes counted by name (the manual's and the reference's);
 * any other code is counted as `other`, a failure without a code as
 * `network` (no answer) or `http` (an answer without a CyberArk code).
 */
export const CCP_ERROR_CODES = [
  "APPAP004E",
  "APPAP006E",
  "APPAP007E",
  "APPAP008E",
  "APPAP081E",
  "APPAP133E",
  "APPAP227E",
  "APPAP228E",
  "APPAP229E",
  "APPAP282E",
  "APPAP306E",
  "APPAP330E",
  "network",
  "http",
  "other",
] as const;

/**
 * What happened to a handle presented to a tool (`reserved`: held for
 * another call's approval).
 */
export const HANDLE_OUTCOMES = [
  "redeemed",
  "expired",
  "replayed",
  "unknown",
  "host_mismatch",
  "principal_mismatch",
  "scope_refused",
  "reserved",
] as const;

/**
 * Why an authentication failed (the `auth_failure` reasons, bounded):
 * `invalid_credentials` is a wrong key or unreadable token where OAuth is
 * accepted, `invalid_approver_key` a wrong key on the approvals console.
 */
export const AUTH_FAILURE_REASONS = [
  "invalid_or_missing_api_key",
  "invalid_credentials",
  "missing_credentials",
  "invalid_token",
  "insufficient_scope",
  "invalid_approver_key",
  "other",
] as const;

/** What a rate limit limited. */
export const RATE_LIMIT_REASONS = ["auth_failures", "tool_calls"] as const;

/** The policy's decision on a call. */
export const POLICY_EFFECTS = ["allow", "deny", "approve"] as const;

/** What became of an approval request. */
export const APPROVAL_OUTCOMES = [
  "requested",
  "granted",
  "denied",
  "expired",
] as const;

/** Why the handle store failed. */
export const HANDLE_STORE_ERRORS = ["unavailable", "integrity"] as const;

/** The metric types used here. */
export type MetricType = "counter" | "gauge" | "histogram";

/** One metric: its name, type, help and the values each label may take. */
export interface MetricSpec {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labels: Readonly<Record<string, readonly string[]>>;
  /** Histogram bucket upper bounds (seconds). */
  readonly buckets?: readonly number[];
}

/** Buckets of tool and executor durations (s): 5 ms to 5 min. */
export const DURATION_BUCKETS = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
] as const;

/** Buckets of CCP request durations (s): 1 ms to 30 s. */
export const CCP_BUCKETS = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
] as const;

/** Every metric, by the key the registry uses. */
export const METRICS = {
  buildInfo: {
    name: "mcp_privileged_build_info",
    type: "gauge",
    help: "Always 1; the version label names the running build.",
    labels: { version: [] },
  },
  ready: {
    name: "mcp_privileged_ready",
    type: "gauge",
    help: "1 when /ready answers 200, 0 while not ready or draining.",
    labels: {},
  },
  toolCalls: {
    name: "mcp_privileged_tool_calls_total",
    type: "counter",
    help: "Tool calls by tool and outcome.",
    labels: { tool: TOOLS, outcome: TOOL_OUTCOMES },
  },
  toolDuration: {
    name: "mcp_privileged_tool_call_duration_seconds",
    type: "histogram",
    help:
      "Time from a tool call's arrival to its result, approval waits included.",
    labels: { tool: TOOLS },
    buckets: DURATION_BUCKETS,
  },
  executorDuration: {
    name: "mcp_privileged_executor_duration_seconds",
    type: "histogram",
    help: "Time an executor child ran, spawn (or warm take-over) to exit.",
    labels: { kind: EXECUTOR_KINDS, executor: EXECUTOR_STARTS },
    buckets: DURATION_BUCKETS,
  },
  executorsRunning: {
    name: "mcp_privileged_executors_running",
    type: "gauge",
    help: "Executor children running a call now.",
    labels: {},
  },
  executorsQueued: {
    name: "mcp_privileged_executors_queued",
    type: "gauge",
    help: "Calls waiting for a free executor slot.",
    labels: {},
  },
  executorsWarm: {
    name: "mcp_privileged_executors_warm",
    type: "gauge",
    help: "Warm executor children waiting for their handle's call.",
    labels: {},
  },
  executorSlots: {
    name: "mcp_privileged_executor_slots",
    type: "gauge",
    help: "EXECUTOR_MAX_CONCURRENT: executor children that may run at once.",
    labels: {},
  },
  executorsRefused: {
    name: "mcp_privileged_executors_refused_total",
    type: "counter",
    help: "Calls refused because no executor slot came free.",
    labels: { reason: EXECUTOR_REFUSALS },
  },
  executorStarts: {
    name: "mcp_privileged_executor_starts_total",
    type: "counter",
    help: "Calls run in an executor, by warm or cold child.",
    labels: { executor: EXECUTOR_STARTS },
  },
  ccpDuration: {
    name: "mcp_privileged_ccp_request_duration_seconds",
    type: "histogram",
    help: "CyberArk CCP request duration, answered or failed.",
    labels: {},
    buckets: CCP_BUCKETS,
  },
  ccpErrors: {
    name: "mcp_privileged_ccp_errors_total",
    type: "counter",
    help: "CyberArk CCP requests that failed, by CyberArk error code.",
    labels: { error_code: CCP_ERROR_CODES },
  },
  handlesIssued: {
    name: "mcp_privileged_handles_issued_total",
    type: "counter",
    help: "Handles issued by get_credential.",
    labels: {},
  },
  handleUses: {
    name: "mcp_privileged_handle_uses_total",
    type: "counter",
    help:
      "Handles presented to a tool, by outcome (replayed: already consumed).",
    labels: { outcome: HANDLE_OUTCOMES },
  },
  authFailures: {
    name: "mcp_privileged_auth_failures_total",
    type: "counter",
    help:
      "Failed authentications on the MCP endpoints and the approvals console.",
    labels: { reason: AUTH_FAILURE_REASONS },
  },
  rateLimited: {
    name: "mcp_privileged_rate_limited_total",
    type: "counter",
    help: "Requests refused by a rate limit.",
    labels: { reason: RATE_LIMIT_REASONS },
  },
  policyDecisions: {
    name: "mcp_privileged_policy_decisions_total",
    type: "counter",
    help: "Policy decisions on tool calls (POLICY_FILE).",
    labels: { effect: POLICY_EFFECTS },
  },
  approvals: {
    name: "mcp_privileged_approvals_total",
    type: "counter",
    help: "Approval requests and how they ended.",
    labels: { outcome: APPROVAL_OUTCOMES },
  },
  handleStoreErrors: {
    name: "mcp_privileged_handle_store_errors_total",
    type: "counter",
    help: "Handle store failures (Redis unreachable, or an altered entry).",
    labels: { reason: HANDLE_STORE_ERRORS },
  },
  residentMemory: {
    name: "process_resident_memory_bytes",
    type: "gauge",
    help: "Resident memory of the gateway process.",
    labels: {},
  },
  heapUsed: {
    name: "mcp_privileged_heap_used_bytes",
    type: "gauge",
    help: "V8 heap in use by the gateway process.",
    labels: {},
  },
  eventLoopLag: {
    name: "mcp_privileged_event_loop_lag_seconds",
    type: "gauge",
    help: "Latest measured delay of a timer on the gateway's event loop.",
    labels: {},
  },
  startTime: {
    name: "process_start_time_seconds",
    type: "gauge",
    help: "Start time of the gateway process since the Unix epoch.",
    labels: {},
  },
} as const satisfies Record<string, MetricSpec>;

/** The name of every metric, as a scrape shows it (histograms add `_bucket`, `_sum`, `_count`). */
export const METRIC_NAMES: readonly string[] = Object.values(METRICS).map((
  metric,
) => metric.name);
