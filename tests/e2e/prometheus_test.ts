/**
 * The metrics end to end: the real gateway (`deno task start`) with
 * METRICS_PORT set, the CCP emulator, a real OpenSSH server, tool calls
 * through the MCP SDK client, and a real Prometheus server (Debian's
 * package) scraping the gateway's metrics listener every second. The
 * counters are read back through Prometheus's HTTP API until they show
 * exactly the calls made; `promtool check metrics` passes on a raw scrape,
 * which holds no handle, command or marker of a call.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { startCcpFixture } from "../support/ccp_fixture.ts";
import { eventually } from "../support/eventually.ts";
import { startGateway } from "../support/gateway_process.ts";
import {
  callToolText,
  connectMcp,
  issueHandle,
} from "../support/mcp_client.ts";
import {
  announcePrometheusSkip,
  checkMetricsText,
  startPrometheus,
} from "../support/prometheus.ts";
import { announceSshdSkip, sshdAccount, startSshd } from "../support/sshd.ts";

const skip = (await announcePrometheusSkip()) ?? (await announceSshdSkip());

const JOB = "mcp-privileged";

/** PromQL query -> the value Prometheus must show once the calls are scraped. */
const EXPECTED: Readonly<Record<string, number>> = {
  [`up{job="${JOB}"}`]: 1,
  'mcp_privileged_build_info{version="0.1.0"}': 1,
  // /ready answers 200 once its checks pass.
  "mcp_privileged_ready": 1,
  'mcp_privileged_tool_calls_total{tool="get_credential",outcome="ok"}': 2,
  'mcp_privileged_tool_calls_total{tool="get_credential",outcome="error"}': 1,
  'mcp_privileged_tool_calls_total{tool="ssh_execute",outcome="ok"}': 1,
  'mcp_privileged_tool_calls_total{tool="ssh_execute",outcome="command_failed"}':
    1,
  'mcp_privileged_tool_calls_total{tool="ssh_execute",outcome="refused"}': 1,
  "sum(mcp_privileged_tool_calls_total)": 6,
  'mcp_privileged_tool_call_duration_seconds_count{tool="ssh_execute"}': 3,
  'mcp_privileged_tool_call_duration_seconds_count{tool="get_credential"}': 3,
  'mcp_privileged_ccp_errors_total{error_code="APPAP004E"}': 1,
  "sum(mcp_privileged_ccp_errors_total)": 1,
  "mcp_privileged_ccp_request_duration_seconds_count": 3,
  "mcp_privileged_handles_issued_total": 2,
  'mcp_privileged_handle_uses_total{outcome="redeemed"}': 2,
  'mcp_privileged_handle_uses_total{outcome="replayed"}': 1,
  "sum(mcp_privileged_handle_uses_total)": 3,
  'mcp_privileged_auth_failures_total{reason="invalid_or_missing_api_key"}': 1,
  "sum(mcp_privileged_auth_failures_total)": 1,
  "sum(mcp_privileged_executor_starts_total)": 2,
  "sum(mcp_privileged_executor_duration_seconds_count)": 2,
  "sum(mcp_privileged_executors_refused_total)": 0,
  "sum(mcp_privileged_policy_decisions_total)": 0,
  "sum(mcp_privileged_handle_store_errors_total)": 0,
  "mcp_privileged_executors_running": 0,
  "mcp_privileged_executor_slots": 8,
};

Deno.test({
  name:
    "Prometheus scrapes the gateway's metrics listener and reads back exactly the tool calls made through the MCP client",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sshd = await startSshd();
    const ccp = await startCcpFixture("LINUX", [sshdAccount(sshd, "pw")]);
    const gateway = await startGateway({
      ...ccp.gatewayEnv,
      SSH_KNOWN_HOSTS: sshd.knownHostsPath,
      // The system picks the port; service_started names it.
      METRICS_PORT: "0",
    });
    let prometheus: Awaited<ReturnType<typeof startPrometheus>> | undefined;
    const clients: Client[] = [];
    try {
      const started = gateway.events().find((e) =>
        e.event === "service_started"
      )!;
      const address = String(started.metrics);
      assert(/^127\.0\.0\.1:\d+$/.test(address), address);
      const listening = gateway.events().find((e) =>
        e.event === "metrics_listening"
      );
      assertEquals(`${listening?.hostname}:${listening?.port}`, address);
      prometheus = await startPrometheus({ job: JOB, targets: [address] });

      const cyberark = await connectMcp(
        `${gateway.baseUrl}/mcp/cyberark`,
        ccp.key,
      );
      clients.push(cyberark);
      const ssh = await connectMcp(`${gateway.baseUrl}/mcp/ssh`, ccp.key);
      clients.push(ssh);
      const marker = `MARKER-${crypto.randomUUID()}`;
      const run = (command: string, handle: string) =>
        callToolText(ssh, {
          name: "ssh_execute",
          arguments: {
            host: "127.0.0.1",
            port: sshd.port,
            command,
            secret_handle: handle,
          },
        });

      // get_credential: two handles, and an object CyberArk does not know.
      const first = await issueHandle(cyberark, {
        safe: "LINUX",
        object_name: "pw",
      });
      const second = await issueHandle(cyberark, {
        safe: "LINUX",
        object_name: "pw",
      });
      const unknown = await callToolText(cyberark, {
        name: "get_credential",
        arguments: { safe: "LINUX", object_name: `missing-${marker}` },
      });
      assertEquals(unknown.isError, true);
      assert(unknown.text.includes("APPAP004E"), unknown.text);

      // ssh_execute: exit 0, exit 1, and the first handle again.
      const ok = await run(`true # ${marker}`, first);
      assertEquals(ok.isError, false, ok.text);
      assert(ok.text.includes("Exit code: 0"), ok.text);
      const failed = await run("false", second);
      assertEquals(failed.isError, false, failed.text);
      assert(failed.text.includes("Exit code: 1"), failed.text);
      const replayed = await run("true", first);
      assertEquals(replayed.isError, true);
      assert(replayed.text.includes("already consumed"), replayed.text);

      // A wrong API key: the client cannot even initialize.
      await assertRejects(() =>
        connectMcp(`${gateway.baseUrl}/mcp/ssh`, `wrong-${marker}`)
      );

      // The audit log (read as the gateway writes it) agrees with what
      // Prometheus must show.
      const audited = (event: string): number =>
        gateway.events().filter((e) => e.event === event).length;
      await eventually(() => {
        assertEquals(
          ["auth_failure", "credential_fetched", "ssh_executed"].map(audited),
          [1, 2, 2],
        );
      });

      const fixture = prometheus;
      const seen = await eventually(async () => {
        const values: Record<string, number | null> = {};
        for (const query of Object.keys(EXPECTED)) {
          const result = await fixture.query(query);
          values[query] = result.length === 1 ? result[0]!.value : null;
        }
        const wrong = Object.entries(EXPECTED).filter(([query, value]) =>
          values[query] !== value
        );
        if (wrong.length > 0) {
          throw new Error(
            `Prometheus shows ${
              wrong.map(([query]) => `${query} = ${values[query]}`).join(", ")
            }; expected ${
              wrong.map(([query, value]) => `${query} = ${value}`).join(", ")
            }; Prometheus log: ${fixture.log()}`,
          );
        }
        return values;
      }, { timeoutMs: 60_000, intervalMs: 500 });
      assertEquals(seen, EXPECTED);

      // Histograms, readiness and the process metrics arrive too.
      for (
        const query of [
          "mcp_privileged_ccp_request_duration_seconds_bucket",
          "mcp_privileged_executor_duration_seconds_bucket",
          "process_resident_memory_bytes",
          "process_start_time_seconds",
          "mcp_privileged_heap_used_bytes",
          "mcp_privileged_event_loop_lag_seconds",
        ]
      ) {
        assert((await fixture.query(query)).length > 0, query);
      }
      const rss = await fixture.query("process_resident_memory_bytes");
      assert(rss[0]!.value > 1024 * 1024, JSON.stringify(rss));

      // A raw scrape: promtool finds nothing to say, and no call leaks into it.
      const scrape = await (await fetch(`http://${address}/metrics`)).text();
      const lint = await checkMetricsText(scrape);
      assertEquals(lint, { code: 0, output: "" });
      const handleIds = gateway.events()
        .map((e) => e.handle_id)
        .filter((id): id is string => typeof id === "string");
      assert(handleIds.length > 0);
      for (
        const word of [
          marker,
          "secret://",
          first.slice("secret://".length),
          second.slice("secret://".length),
          ...handleIds,
          sshd.username,
          "true #",
        ]
      ) {
        assert(!scrape.includes(word), `the scrape holds ${word}`);
      }
      // The listener serves nothing but /metrics.
      for (const path of ["/mcp/ssh", "/mcp/cyberark", "/"]) {
        const response = await fetch(`http://${address}${path}`, {
          method: "POST",
          headers: { "x-api-key": ccp.key },
        });
        assertEquals(response.status, 404, path);
        await response.body?.cancel();
      }
    } finally {
      for (const client of clients) await client.close().catch(() => {});
      await prometheus?.stop();
      await gateway.stop();
      await ccp.close();
      await sshd.stop();
    }
  },
});
