/**
 * The metrics listener on a real socket: `GET /metrics` in the Prometheus
 * text format, `HEAD` without a body, 405 for other methods, 404 for every
 * other path (the MCP routes included), `metrics_listening` in the log,
 * and a port in use refused with the setting to change.
 */
import { configure, type LogRecord, reset } from "@logtape/logtape";
import {
  type MetricsServer,
  serveMetrics,
} from "../../../gateway/metrics/metrics_server.ts";
import { GatewayMetrics } from "../../../gateway/metrics/registry.ts";
import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../support/assert.ts";

function startOn(
  port: number,
  metrics = new GatewayMetrics(),
): MetricsServer {
  return serveMetrics({
    hostname: "127.0.0.1",
    port,
    scrape: async () => ({
      body: await metrics.scrape(),
      contentType: metrics.contentType,
    }),
  });
}

Deno.test("The metrics listener serves GET and HEAD /metrics only, and logs metrics_listening", async () => {
  const records: LogRecord[] = [];
  await configure({
    sinks: { memory: (record: LogRecord) => records.push(record) },
    loggers: [
      { category: ["gateway"], lowestLevel: "info", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
    reset: true,
  });
  const server = startOn(0);
  try {
    assert(server.port > 0);
    assertEquals(server.address, `127.0.0.1:${server.port}`);
    const listening = records.find((r) => r.message[0] === "metrics_listening");
    assert(listening !== undefined, "no metrics_listening line");
    assertEquals(listening.properties.hostname, "127.0.0.1");
    assertEquals(listening.properties.port, server.port);

    const base = `http://127.0.0.1:${server.port}`;
    const get = await fetch(`${base}/metrics`);
    assertEquals(get.status, 200);
    assertEquals(
      get.headers.get("content-type"),
      "text/plain; version=0.0.4; charset=utf-8",
    );
    assertStringIncludes(
      await get.text(),
      "# TYPE mcp_privileged_tool_calls_total counter",
    );
    const head = await fetch(`${base}/metrics`, { method: "HEAD" });
    assertEquals(head.status, 200);
    assertEquals(await head.text(), "");
    for (const method of ["POST", "PUT", "DELETE"]) {
      const response = await fetch(`${base}/metrics`, { method });
      assertEquals(response.status, 405, method);
      assertEquals(response.headers.get("allow"), "GET, HEAD");
      await response.body?.cancel();
    }
    for (
      const path of ["/", "/mcp/ssh", "/mcp/cyberark", "/ready", "/metrics/x"]
    ) {
      const response = await fetch(`${base}${path}`, { method: "POST" });
      assertEquals(response.status, 404, path);
      await response.body?.cancel();
    }
  } finally {
    await server.close();
    await reset();
  }
});

Deno.test("The metrics listener refuses a port in use, naming METRICS_PORT", () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const error = assertThrows(() => startOn(taken.addr.port), Error);
    assertStringIncludes(error.message, `127.0.0.1:${taken.addr.port}`);
    assertStringIncludes(error.message, "the port is in use");
    assertStringIncludes(error.message, "METRICS_PORT");
  } finally {
    taken.close();
  }
});

Deno.test("The metrics listener answers 500 when the metrics cannot be rendered", async () => {
  const server = serveMetrics({
    hostname: "127.0.0.1",
    port: 0,
    scrape: () => Promise.reject(new Error("collector broke")),
  });
  try {
    const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    assertEquals(response.status, 500);
    assert(!(await response.text()).includes("collector broke"));
  } finally {
    await server.close();
  }
});
