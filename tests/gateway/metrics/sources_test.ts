/**
 * The metrics fed by the gateway's parts, each real: the spawner (real
 * children) for executor runs, refusals and slots; the CCP client against
 * the CCP emulator and a server that answers an unknown code; the process
 * (memory, start time, event-loop lag); and `instrument()`, which connects
 * them all to one registry with build info and readiness.
 */
import { startCcpEmulator } from "../../../emulator/ccp_emulator.ts";
import {
  ExecutorBusyError,
  type ExecutorCall,
  ExecutorSpawner,
} from "../../../executors/spawner/mod.ts";
import { watchCcp } from "../../../gateway/metrics/ccp_metrics.ts";
import { watchExecutors } from "../../../gateway/metrics/executor_metrics.ts";
import { instrument } from "../../../gateway/metrics/mod.ts";
import { watchProcess } from "../../../gateway/metrics/process_metrics.ts";
import { GatewayMetrics } from "../../../gateway/metrics/registry.ts";
import type { LifecycleView } from "../../../gateway/lifecycle.ts";
import { SERVICE_VERSION } from "../../../gateway/mcp_endpoints.ts";
import type { GatewayServices } from "../../../gateway/tool_context.ts";
import { CcpClient } from "../../../vault/ccp_client.ts";
import { CyberArkError } from "../../../vault/cyberark_error.ts";
import { assert, assertEquals, assertRejects } from "../../support/assert.ts";
import { eventually } from "../../support/eventually.ts";
import { sampleValue } from "../../support/prometheus_text.ts";

const APP = "MCP-Privileged-Service";

function testdata(name: string): URL {
  return new URL(`../../testdata/executors/${name}`, import.meta.url);
}

function sshCall(): ExecutorCall<"ssh"> {
  return {
    target: { host: "127.0.0.1", port: 9 },
    credential: {
      username: "u",
      kind: "password",
      secret: { reveal: () => "sources-Pa55w0rd" },
    },
    operation: { kind: "ssh", command: "true", hostKeys: { mode: "disabled" } },
  };
}

Deno.test("watchExecutors(): runs by kind and warm or cold, refusals, and the slots read at each scrape", async () => {
  // The ssh kind, run by an executor that exits without answering: a real
  // child that ran (and failed), as far as the counts go.
  const spawner = new ExecutorSpawner({
    maxConcurrent: 1,
    maxQueued: 0,
    modules: { ssh: testdata("silent_exit_executor.ts") },
  });
  const metrics = new GatewayMetrics();
  const stop = watchExecutors(metrics, spawner);
  try {
    const outcome = await spawner.run(sshCall());
    assert(!outcome.ok);
    // A probe is no kind of the catalogue: not counted.
    await spawner.run({
      ...sshCall(),
      operation: { kind: "probe", action: "noop" },
    });
    // A call answers before its child has exited; the slot frees then.
    await spawner.settled();
    const held = await spawner.reserve();
    let text = await metrics.scrape();
    assertEquals(sampleValue(text, "mcp_privileged_executors_running"), 1);
    assertEquals(sampleValue(text, "mcp_privileged_executor_slots"), 1);
    assertEquals(sampleValue(text, "mcp_privileged_executors_queued"), 0);
    assertEquals(sampleValue(text, "mcp_privileged_executors_warm"), 0);
    await assertRejects(() => spawner.reserve(), ExecutorBusyError);
    held.release();
    text = await metrics.scrape();
    assertEquals(sampleValue(text, "mcp_privileged_executors_running"), 0);
    assertEquals(
      sampleValue(text, "mcp_privileged_executor_starts_total", {
        executor: "cold",
      }),
      1,
    );
    assertEquals(
      sampleValue(text, "mcp_privileged_executor_starts_total", {
        executor: "warm",
      }),
      0,
    );
    assertEquals(
      sampleValue(text, "mcp_privileged_executor_duration_seconds_count", {
        kind: "ssh",
        executor: "cold",
      }),
      1,
    );
    assertEquals(
      sampleValue(text, "mcp_privileged_executors_refused_total", {
        reason: "queue_full",
      }),
      1,
    );
    assertEquals(
      sampleValue(text, "mcp_privileged_executors_refused_total", {
        reason: "queue_timeout",
      }),
      0,
    );
  } finally {
    stop();
    await spawner.close();
  }
});

Deno.test("watchCcp(): every request's duration, and failures by CyberArk code, other, http and network", async () => {
  const emulator = await startCcpEmulator({
    data: {
      applications: [{ appId: APP, safes: ["LINUX"] }],
      accounts: [{ Content: "ccp-Pa55-word", Safe: "LINUX", Name: "root" }],
    },
  });
  // A CCP that answers a code the catalogue does not name.
  const odd = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () =>
      Response.json({ ErrorCode: "APPAP999E", ErrorMsg: "new code" }, {
        status: 500,
      }),
  );
  const metrics = new GatewayMetrics();
  const clients = [
    emulator.url,
    `http://127.0.0.1:${odd.addr.port}/AIMWebService/api/Accounts`,
    emulator.url.replace("AIMWebService", "Nowhere"),
    "http://127.0.0.1:9/AIMWebService/api/Accounts",
  ].map((url) =>
    new CcpClient({
      url: new URL(url),
      appId: APP,
      verifyTls: true,
      timeoutMs: 30_000,
    })
  );
  const stops = clients.map((client) => watchCcp(metrics, client));
  try {
    const [ccp, oddCcp, wrongPath, nobody] = clients;
    await ccp!.retrieve({ safe: "LINUX", object: "root" });
    for (
      const [client, object] of [
        [ccp!, "missing"],
        [oddCcp!, "root"],
        [wrongPath!, "root"],
        [nobody!, "root"],
      ] as const
    ) {
      await assertRejects(
        () => client.retrieve({ safe: "LINUX", object }),
        CyberArkError,
      );
    }
    const text = await metrics.scrape();
    assertEquals(
      sampleValue(text, "mcp_privileged_ccp_request_duration_seconds_count"),
      5,
    );
    for (
      const [code, count] of [
        ["APPAP004E", 1],
        ["other", 1],
        ["http", 1],
        ["network", 1],
        ["APPAP306E", 0],
      ] as const
    ) {
      assertEquals(
        sampleValue(text, "mcp_privileged_ccp_errors_total", {
          error_code: code,
        }),
        count,
        code,
      );
    }
    assert(!text.includes("APPAP999E"));
  } finally {
    for (const stop of stops) stop();
    for (const client of clients) client.close();
    await odd.shutdown();
    await emulator.close();
  }
});

Deno.test("watchProcess(): resident memory, heap, start time and a measured event-loop lag", async () => {
  const metrics = new GatewayMetrics();
  const stop = watchProcess(metrics, 10);
  try {
    const text = await metrics.scrape();
    assertEquals(
      sampleValue(text, "process_resident_memory_bytes") > 1024 * 1024,
      true,
    );
    assert(sampleValue(text, "mcp_privileged_heap_used_bytes") > 0);
    const start = sampleValue(text, "process_start_time_seconds");
    assert(start > 1.6e9 && start <= Date.now() / 1000, String(start));
    // Block the event loop past the timer's due time: the next measure shows it.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const blockUntil = performance.now() + 60;
    while (performance.now() < blockUntil) {
      // busy
    }
    await eventually(async () => {
      const lag = sampleValue(
        await metrics.scrape(),
        "mcp_privileged_event_loop_lag_seconds",
      );
      assert(lag >= 0.02, `lag ${lag}`);
    }, { timeoutMs: 5000, intervalMs: 1 });
  } finally {
    stop();
  }
});

Deno.test("instrument(): build info, readiness from the lifecycle, and the services' sources in one registry", async () => {
  const spawner = new ExecutorSpawner({ maxConcurrent: 3 });
  const ccp = new CcpClient({
    url: new URL("http://127.0.0.1:9/AIMWebService/api/Accounts"),
    appId: APP,
    verifyTls: true,
    timeoutMs: 30_000,
  });
  const lifecycle: { ready: boolean } = { ready: false };
  const services = {
    executors: spawner,
    ccp,
    lifecycle: lifecycle as unknown as LifecycleView,
  } as unknown as GatewayServices;
  const { metrics, stop } = instrument(services);
  try {
    let text = await metrics.scrape();
    assertEquals(
      sampleValue(text, "mcp_privileged_build_info", {
        version: SERVICE_VERSION,
      }),
      1,
    );
    assertEquals(sampleValue(text, "mcp_privileged_ready"), 0);
    assertEquals(sampleValue(text, "mcp_privileged_executor_slots"), 3);
    lifecycle.ready = true;
    await assertRejects(
      () => ccp.retrieve({ safe: "S", object: "o" }),
      CyberArkError,
    );
    text = await metrics.scrape();
    assertEquals(sampleValue(text, "mcp_privileged_ready"), 1);
    assertEquals(
      sampleValue(text, "mcp_privileged_ccp_errors_total", {
        error_code: "network",
      }),
      1,
    );
  } finally {
    stop();
    ccp.close();
  }
});
