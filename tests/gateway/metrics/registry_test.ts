/**
 * The registry against the catalogue: exactly its metrics (names, types,
 * help, label names, buckets), every counter and histogram series at 0
 * from the start, and label values bounded to their sets.
 */
import {
  AUTH_FAILURE_REASONS,
  METRIC_NAMES,
  METRICS,
  type MetricSpec,
  TOOL_OUTCOMES,
  TOOLS,
} from "../../../gateway/metrics/catalog.ts";
import {
  boundLabel,
  GatewayMetrics,
} from "../../../gateway/metrics/registry.ts";
import { assert, assertEquals } from "../../support/assert.ts";
import {
  parseSamples,
  parseTypes,
  sampleValue,
} from "../../support/prometheus_text.ts";

const SPECS: readonly MetricSpec[] = Object.values(METRICS);

/** The family a sample belongs to (a histogram's `_bucket`, `_sum`, `_count`). */
function familyOf(name: string): string {
  for (const spec of SPECS) {
    if (name === spec.name) return spec.name;
    if (
      spec.type === "histogram" &&
      ["_bucket", "_sum", "_count"].some((suffix) =>
        name === spec.name + suffix
      )
    ) {
      return spec.name;
    }
  }
  throw new Error(`Sample ${name} belongs to no catalogue metric`);
}

Deno.test("GatewayMetrics registers exactly the catalogue's metrics, types and help", async () => {
  const text = await new GatewayMetrics().scrape();
  const types = parseTypes(text);
  assertEquals(
    [...types.entries()].sort(),
    SPECS.map((spec) => [spec.name, spec.type]).sort(),
  );
  assertEquals([...types.keys()].sort(), [...METRIC_NAMES].sort());
  for (const spec of SPECS) {
    assert(
      text.includes(`# HELP ${spec.name} ${spec.help}\n`),
      `help of ${spec.name}`,
    );
  }
});

Deno.test("GatewayMetrics: every sample carries exactly its metric's label names, and histograms the catalogue's buckets", async () => {
  const metrics = new GatewayMetrics();
  metrics.set("buildInfo", { version: "0.1.0" }, 1);
  const samples = parseSamples(await metrics.scrape());
  for (const sample of samples) {
    const spec = SPECS.find((s) => s.name === familyOf(sample.name))!;
    const names = Object.keys(sample.labels).filter((name) =>
      !(sample.name.endsWith("_bucket") && name === "le")
    ).sort();
    assertEquals(names, Object.keys(spec.labels).sort(), sample.name);
  }
  for (const spec of SPECS.filter((s) => s.type === "histogram")) {
    // The bucket bounds of each series (its labels without `le`).
    const series = new Map<string, string[]>();
    for (const sample of samples) {
      if (sample.name !== `${spec.name}_bucket`) continue;
      const { le, ...rest } = sample.labels;
      const key = JSON.stringify(rest);
      series.set(key, [...(series.get(key) ?? []), le!]);
    }
    assert(series.size > 0, spec.name);
    for (const bounds of series.values()) {
      assertEquals(
        bounds,
        [...(spec.buckets ?? []).map(String), "+Inf"],
        spec.name,
      );
    }
  }
});

Deno.test("GatewayMetrics starts every counter and histogram series of the closed label sets at 0", async () => {
  const text = await new GatewayMetrics().scrape();
  const samples = parseSamples(text);
  const calls = samples.filter((s) =>
    s.name === "mcp_privileged_tool_calls_total"
  );
  assertEquals(calls.length, TOOLS.length * TOOL_OUTCOMES.length);
  assert(calls.every((s) => s.value === 0));
  for (const tool of TOOLS) {
    assertEquals(
      sampleValue(text, "mcp_privileged_tool_call_duration_seconds_count", {
        tool,
      }),
      0,
    );
  }
  assertEquals(
    samples.filter((s) => s.name === "mcp_privileged_auth_failures_total")
      .map((s) => s.labels.reason).sort(),
    [...AUTH_FAILURE_REASONS].sort(),
  );
  assertEquals(sampleValue(text, "mcp_privileged_handles_issued_total"), 0);
});

Deno.test("boundLabel() keeps a value of the set, makes any other `other` where the set has it, and drops it where not", () => {
  assertEquals(boundLabel(["a", "b", "other"], "a"), "a");
  assertEquals(boundLabel(["a", "b", "other"], "c"), "other");
  assertEquals(boundLabel(["a", "b"], "c"), undefined);
  assertEquals(boundLabel(["a", "b"], "secret://abc"), undefined);
  // A label the service fills itself (version): a short token, else other.
  assertEquals(boundLabel([], "0.1.0"), "0.1.0");
  assertEquals(boundLabel([], "secret://" + "A".repeat(43)), "other");
  assertEquals(boundLabel([], "x".repeat(65)), "other");
});

Deno.test("GatewayMetrics records a value outside its set as other, or not at all where the set has no other", async () => {
  const metrics = new GatewayMetrics();
  metrics.inc("authFailures", { reason: "made_up_reason" });
  metrics.inc("authFailures", { reason: "invalid_token" }, 2);
  metrics.inc("toolCalls", { tool: "rm -rf /", outcome: "ok" });
  metrics.inc("toolCalls", { tool: "ssh_execute", outcome: "exploded" });
  metrics.observe("toolDuration", { tool: "no_such_tool" }, 1);
  metrics.inc("toolCalls", { tool: "ssh_execute", outcome: "ok" });
  const text = await metrics.scrape();
  assertEquals(
    sampleValue(text, "mcp_privileged_auth_failures_total", {
      reason: "other",
    }),
    1,
  );
  assertEquals(
    sampleValue(text, "mcp_privileged_auth_failures_total", {
      reason: "invalid_token",
    }),
    2,
  );
  const calls = parseSamples(text).filter((s) =>
    s.name === "mcp_privileged_tool_calls_total"
  );
  assertEquals(calls.length, TOOLS.length * TOOL_OUTCOMES.length);
  assertEquals(calls.reduce((sum, s) => sum + s.value, 0), 1);
  assertEquals(
    sampleValue(text, "mcp_privileged_tool_calls_total", {
      tool: "ssh_execute",
      outcome: "ok",
    }),
    1,
  );
  assert(!text.includes("rm -rf"));
  assert(!text.includes("no_such_tool"));
  assert(!text.includes("exploded"));
});

Deno.test("GatewayMetrics reads a gauge from its source at every scrape", async () => {
  const metrics = new GatewayMetrics();
  let running = 3;
  metrics.gaugeFrom("executorsRunning", () => running);
  assertEquals(
    sampleValue(await metrics.scrape(), "mcp_privileged_executors_running"),
    3,
  );
  running = 1;
  assertEquals(
    sampleValue(await metrics.scrape(), "mcp_privileged_executors_running"),
    1,
  );
});
