/**
 * The doctor's metrics check: off, a free address, a port held by a
 * running gateway's metrics listener (real, on loopback), a port held by
 * something else, an address that cannot be bound, and a listener
 * reachable from other machines.
 */
import {
  checkMetrics,
  metricsPortFacts,
  probeMetrics,
} from "../../../gateway/doctor/mod.ts";
import { startMetrics } from "../../../gateway/metrics/mod.ts";
import type { GatewayServices } from "../../../gateway/tool_context.ts";
import { ExecutorSpawner } from "../../../executors/spawner/mod.ts";
import { CcpClient } from "../../../vault/ccp_client.ts";
import { assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { freePort } from "../../support/free_port.ts";

function line(result: { status: string; detail: string }): string {
  return `${result.status} ${result.detail}`;
}

Deno.test("checkMetrics(): off passes and says so", async () => {
  const result = await probeMetrics({ enabled: false });
  assertEquals(result.check, "metrics");
  assertEquals(line(result), "PASS metrics listener off (METRICS_PORT unset)");
});

Deno.test("checkMetrics(): a free loopback port passes; METRICS_HOST on another interface warns", async () => {
  const port = freePort();
  const config = { enabled: true, hostname: "127.0.0.1", port } as const;
  assertEquals(await metricsPortFacts("127.0.0.1", port), { kind: "free" });
  assertEquals(
    line(await probeMetrics(config)),
    `PASS /metrics can listen on 127.0.0.1:${port}, this host only`,
  );
  const open = checkMetrics(
    { enabled: true, hostname: "0.0.0.0", port },
    { kind: "free" },
  );
  assertEquals(open.status, "WARN");
  assertStringIncludes(open.detail, "without authentication");
  assertStringIncludes(open.fix ?? "", "network policy");
});

Deno.test("checkMetrics(): a port held by a running gateway's metrics listener passes; by anything else fails", async () => {
  const spawner = new ExecutorSpawner();
  const ccp = new CcpClient({
    url: new URL("http://127.0.0.1:9/AIMWebService/api/Accounts"),
    appId: "App",
    verifyTls: true,
    timeoutMs: 1000,
  });
  const running = startMetrics(
    { executors: spawner, ccp } as unknown as GatewayServices,
    { hostname: "127.0.0.1", port: 0 },
  );
  const port = Number(running.address.split(":")[1]);
  const other = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("# TYPE some_other_metric gauge\nsome_other_metric 1\n"),
  );
  try {
    assertEquals(
      line(
        await probeMetrics({ enabled: true, hostname: "127.0.0.1", port }),
      ),
      `PASS a running gateway serves /metrics on 127.0.0.1:${port}, this host only`,
    );
    const taken = await probeMetrics({
      enabled: true,
      hostname: "127.0.0.1",
      port: other.addr.port,
    });
    assertEquals(taken.status, "FAIL");
    assertStringIncludes(
      taken.detail,
      "in use by something other than a gateway's metrics listener",
    );
    assertStringIncludes(taken.fix ?? "", "METRICS_PORT");
  } finally {
    await running.close();
    await other.shutdown();
    ccp.close();
  }
});

Deno.test("checkMetrics(): an address of no interface here fails; port 0 passes without a bind", async () => {
  const result = await probeMetrics({
    enabled: true,
    hostname: "192.0.2.1",
    port: freePort(),
  });
  assertEquals(result.status, "FAIL");
  assertStringIncludes(result.detail, "cannot listen on 192.0.2.1:");
  assertStringIncludes(result.fix ?? "", "METRICS_HOST");
  assertEquals(
    line(
      await probeMetrics({ enabled: true, hostname: "127.0.0.1", port: 0 }),
    ),
    "PASS /metrics on 127.0.0.1, on a port picked at start (METRICS_PORT=0), this host only",
  );
});
