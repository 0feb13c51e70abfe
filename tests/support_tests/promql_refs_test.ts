/**
 * The PromQL reference checker the alert rule and dashboard tests rely on
 * finds selectors and grouping labels, and reports each kind of disagreement
 * with the metric catalogue (so those tests cannot pass by finding nothing).
 */
import { assertEquals, assertThrows } from "../support/assert.ts";
import { catalogProblems, promqlRefs } from "../support/promql_refs.ts";

Deno.test("promqlRefs finds selectors, matchers and grouping labels, and skips functions, numbers, strings and ranges", () => {
  const refs = promqlRefs(
    'histogram_quantile(0.95, sum by (job, instance, le) (rate(mcp_privileged_ccp_request_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval]))) > 2 and on (instance) up{job="mcp-privileged"} == 1 or vector(1e+3) * 384 * 1024',
  );
  assertEquals(refs.selectors, [
    {
      metric: "mcp_privileged_ccp_request_duration_seconds_bucket",
      matchers: [{ label: "instance", op: "=~", value: "$instance" }],
    },
    {
      metric: "up",
      matchers: [{ label: "job", op: "=", value: "mcp-privileged" }],
    },
  ]);
  assertEquals(refs.groupingLabels, ["job", "instance", "le", "instance"]);
  assertEquals(
    promqlRefs('{__name__="mcp_privileged_ready", instance!="x"}').selectors,
    [{
      metric: "mcp_privileged_ready",
      matchers: [{ label: "instance", op: "!=", value: "x" }],
    }],
  );
});

Deno.test("catalogProblems accepts the catalogue's names, labels and values", () => {
  for (
    const expr of [
      'sum by (job, instance, outcome) (increase(mcp_privileged_tool_calls_total{tool="db_query",outcome=~"ok|error"}[5m])) > 0',
      "rate(mcp_privileged_tool_call_duration_seconds_sum[5m]) / rate(mcp_privileged_tool_call_duration_seconds_count[5m])",
      'absent(up{job="mcp-privileged"})',
      'mcp_privileged_ccp_errors_total{error_code=~"APPAP3.*"}',
      'mcp_privileged_build_info{version="1.2.3"}',
    ]
  ) {
    assertEquals(catalogProblems(expr), [], expr);
  }
});

Deno.test("catalogProblems reports each disagreement with the catalogue", () => {
  const cases: [string, string][] = [
    ["mcp_privileged_tool_calls", "mcp_privileged_tool_calls is not in"],
    [
      "mcp_privileged_tool_calls_total_bucket",
      "mcp_privileged_tool_calls_total_bucket is not in",
    ],
    [
      'mcp_privileged_tool_calls_total{host="db1"}',
      "mcp_privileged_tool_calls_total has no label host",
    ],
    [
      'mcp_privileged_tool_calls_total{outcome="failed"}',
      "value failed outside",
    ],
    [
      'mcp_privileged_handle_uses_total{outcome=~"replayed|consumed"}',
      "values consumed outside",
    ],
    [
      'mcp_privileged_ccp_errors_total{error_code=~"APPAP9.*"}',
      "regex APPAP9.* outside",
    ],
    [
      "sum by (principal) (rate(mcp_privileged_tool_calls_total[5m]))",
      "grouping label principal",
    ],
    [
      'mcp_privileged_ready{le="1"}',
      "mcp_privileged_ready has no label le",
    ],
    ["vector(1)", "no metric in"],
  ];
  for (const [expr, expected] of cases) {
    const problems = catalogProblems(expr);
    assertEquals(
      problems.some((p) => p.includes(expected)),
      true,
      `${expr}: ${JSON.stringify(problems)} lacks ${expected}`,
    );
  }
  assertThrows(() => catalogProblems("made_up_function(up)"));
});
