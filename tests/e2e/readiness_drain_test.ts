/**
 * Readiness and the drain on SIGTERM end to end: the real gateway
 * (`deno task start`), the CCP emulator, a real OpenSSH server on loopback
 * and the MCP SDK client. `/ready` turns 200 once the handle store and a
 * probe executor answer; SIGTERM makes it 503 `draining`, refuses new MCP
 * requests with a JSON-RPC error, lets a running ssh_execute finish, and
 * exits 0; with a short `SHUTDOWN_GRACE_SECONDS` a long call is cut off and
 * its executor killed.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../support/assert.ts";
import { startCcpFixture } from "../support/ccp_fixture.ts";
import { eventually } from "../support/eventually.ts";
import {
  type GatewayProcess,
  startGateway,
} from "../support/gateway_process.ts";
import {
  callToolText,
  connectMcp,
  issueHandle,
  type ToolOutcome,
} from "../support/mcp_client.ts";
import {
  announceSshdSkip,
  sshdAccount,
  type SshdFixture,
  startSshd,
} from "../support/sshd.ts";
import { commandLine, descendantsOf, isAlive } from "../support/proc_tree.ts";

const skip = await announceSshdSkip();

const SHUTTING_DOWN = {
  jsonrpc: "2.0",
  error: {
    code: -32000,
    message: "The service is shutting down; retry on another replica",
  },
  id: null,
};

/** What one request to `/ready` answered. */
interface ReadyAnswer {
  status: number;
  retryAfter: string | null;
  body: { status: string; checks: Record<string, string> };
}

async function ready(gateway: GatewayProcess): Promise<ReadyAnswer> {
  const response = await fetch(`${gateway.baseUrl}/ready`);
  return {
    status: response.status,
    retryAfter: response.headers.get("retry-after"),
    body: await response.json(),
  };
}

/** Everything one drain test runs against. */
interface Setup {
  sshd: SshdFixture;
  gateway: GatewayProcess;
  key: string;
  /** Where the remote command writes when it has started. */
  marker: string;
  close(): Promise<void>;
}

async function setUp(env: Record<string, string> = {}): Promise<Setup> {
  const sshd = await startSshd();
  const ccp = await startCcpFixture("LINUX", [sshdAccount(sshd, "pw")]);
  let gateway: GatewayProcess | undefined;
  try {
    gateway = await startGateway({
      ...ccp.gatewayEnv,
      SSH_KNOWN_HOSTS: sshd.knownHostsPath,
      ...env,
    });
  } catch (error) {
    await ccp.close();
    await sshd.stop();
    throw error;
  }
  const started = gateway;
  return {
    sshd,
    gateway: started,
    key: ccp.key,
    marker: `/home/${sshd.username}/started`,
    close: async () => {
      await started.stop();
      await ccp.close();
      await sshd.stop();
    },
  };
}

/** Starts an ssh_execute of `command` and waits until it runs on the host. */
async function startCall(
  setup: Setup,
  command: string,
): Promise<{ call: Promise<ToolOutcome>; clients: Client[] }> {
  const { gateway, key, sshd } = setup;
  const cyberark = await connectMcp(`${gateway.baseUrl}/mcp/cyberark`, key);
  const ssh = await connectMcp(`${gateway.baseUrl}/mcp/ssh`, key);
  const handle = await issueHandle(cyberark, {
    safe: "LINUX",
    object_name: "pw",
  });
  const call = callToolText(ssh, {
    name: "ssh_execute",
    arguments: {
      host: "127.0.0.1",
      port: sshd.port,
      command: `echo started > ${setup.marker}; ${command}`,
      secret_handle: handle,
      timeout_seconds: 120,
    },
  });
  // Settled either way; the test looks at it later.
  call.catch(() => {});
  await eventually(() => Deno.statSync(setup.marker), { timeoutMs: 30_000 });
  return { call, clients: [cyberark, ssh] };
}

/** A tools/call on a connection of its own, as a new client would send it. */
async function newToolsCall(setup: Setup): Promise<Response> {
  const client = Deno.createHttpClient({});
  try {
    const response = await fetch(`${setup.gateway.baseUrl}/mcp/ssh`, {
      client,
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "x-api-key": setup.key,
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 7,
        method: "tools/call",
        params: { name: "ssh_execute", arguments: {} },
      }),
    });
    const body = await response.arrayBuffer();
    return new Response(body, {
      status: response.status,
      headers: response.headers,
    });
  } finally {
    client.close();
  }
}

/** The pids of the gateway's executor children running the ssh executor. */
function sshExecutorPids(parent: number): number[] {
  return descendantsOf(parent).filter((pid) => {
    try {
      return commandLine(pid).some((arg) => arg.endsWith("ssh_executor.ts"));
    } catch {
      return false; // Gone while we looked.
    }
  });
}

Deno.test({
  name:
    "SIGTERM drains: /ready 503 draining, new calls refused, the running call finishes, exit 0",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const setup = await setUp();
    const { gateway } = setup;
    let clients: Client[] = [];
    try {
      await t.step(
        "/ready is 503 starting until the checks pass, then 200 ready",
        async () => {
          const seen: ReadyAnswer[] = [];
          const last = await eventually(async () => {
            const answer = await ready(gateway);
            seen.push(answer);
            assertEquals(answer.status, 200, JSON.stringify(answer.body));
            return answer;
          }, { timeoutMs: 60_000, intervalMs: 20 });
          for (const before of seen.slice(0, -1)) {
            assertEquals(before.status, 503);
            assertEquals(before.body.status, "starting");
            assertEquals(before.retryAfter, "5");
            assertEquals(before.body.checks.config, "ok");
          }
          assertEquals(last.body, {
            status: "ready",
            checks: { config: "ok", handle_store: "ok", executor: "ok" },
          });
          assertEquals(last.retryAfter, null);
          const head = await fetch(`${gateway.baseUrl}/ready`, {
            method: "HEAD",
          });
          assertEquals(head.status, 200);
          assertEquals(await head.text(), "");
          // The liveness check is unchanged.
          const health = await fetch(`${gateway.baseUrl}/health`);
          assertEquals(await health.json(), { status: "ok" });
        },
      );

      const running = await startCall(setup, "sleep 3; echo done");
      clients = running.clients;

      await t.step(
        "SIGTERM: service_draining names the call in flight",
        async () => {
          gateway.kill("SIGTERM");
          const draining = await gateway.waitFor((e) =>
            e.event === "service_draining"
          );
          assertEquals(draining.signal, "SIGTERM");
          assertEquals(draining.in_flight, 1);
          assertEquals(draining.grace_seconds, 25);
        },
      );

      await t.step("/ready answers 503 draining", async () => {
        const answer = await ready(gateway);
        assertEquals(answer.status, 503);
        assertEquals(answer.body.status, "draining");
        assertEquals(answer.retryAfter, "5");
      });

      await t.step(
        "a new tools/call is refused with 503 and a JSON-RPC error",
        async () => {
          const refused = await newToolsCall(setup);
          assertEquals(refused.status, 503);
          assertEquals(refused.headers.get("retry-after"), "5");
          assertEquals(refused.headers.get("connection"), "close");
          assertEquals(await refused.json(), SHUTTING_DOWN);
        },
      );

      await t.step("the running call completes with its output", async () => {
        const { text, isError } = await running.call;
        assertEquals(isError, false, text);
        assertStringIncludes(text, "Exit code: 0");
        assertStringIncludes(text, "--- stdout ---\ndone");
      });

      await t.step(
        "the process exits 0 and service_stopped counts the call finished",
        async () => {
          const status = await gateway.status;
          assertEquals(status.code, 0, gateway.lines.join("\n"));
          const stopped = gateway.events().find((e) =>
            e.event === "service_stopped"
          );
          assert(stopped !== undefined, gateway.lines.join("\n"));
          assertEquals(stopped.in_flight, 1);
          assertEquals(stopped.finished, 1);
          assertEquals(stopped.cut_off, 0);
          assertEquals(stopped.executors_stopped, 0);
          assertEquals(stopped.forced, false);
          const events = gateway.events().map((e) => e.event);
          assert(
            events.indexOf("ssh_executed") < events.indexOf("service_stopped"),
            "the call was audited before the service stopped",
          );
        },
      );
    } finally {
      for (const client of clients) await client.close().catch(() => {});
      await setup.close();
    }
  },
});

Deno.test({
  name:
    "SIGTERM with SHUTDOWN_GRACE_SECONDS=1: a long call is cut off and its executor killed",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const setup = await setUp({ SHUTDOWN_GRACE_SECONDS: "1" });
    const { gateway } = setup;
    let clients: Client[] = [];
    try {
      await eventually(
        async () => assertEquals((await ready(gateway)).status, 200),
        {
          timeoutMs: 60_000,
        },
      );
      const running = await startCall(setup, "sleep 30; echo done");
      clients = running.clients;
      const sleepStarted = performance.now();
      const executors = sshExecutorPids(gateway.pid);
      assertEquals(executors.length, 1, "one ssh executor runs the call");

      gateway.kill("SIGTERM");
      const outcome = await running.call.then(
        (result) => result,
        (error: unknown) => error,
      );
      const status = await gateway.status;
      const exitedAfterMs = performance.now() - sleepStarted;

      assertEquals(status.code, 0, gateway.lines.join("\n"));
      // Generous: only that the gateway did not wait for the remote sleep.
      assert(
        exitedAfterMs < 30_000,
        `the gateway exited ${exitedAfterMs} ms after the sleep began`,
      );
      if (outcome instanceof Error) {
        // The connection closed before the answer: also a cut-off call.
        assert(outcome.message.length > 0);
      } else {
        const { text, isError } = outcome as ToolOutcome;
        assertEquals(isError, true, text);
        assertStringIncludes(text, "shutting down");
        assert(!text.includes("done"), text);
      }
      for (const pid of executors) {
        assert(!isAlive(pid), `executor ${pid} is still running`);
      }
      const stopped = gateway.events().find((e) =>
        e.event === "service_stopped"
      );
      assert(stopped !== undefined, gateway.lines.join("\n"));
      assertEquals(stopped.in_flight, 1);
      assertEquals(stopped.finished, 0);
      assertEquals(stopped.cut_off, 1);
      assertEquals(stopped.executors_stopped, 1);
      const draining = gateway.events().find((e) =>
        e.event === "service_draining"
      );
      assertEquals(draining?.grace_seconds, 1);
    } finally {
      for (const client of clients) await client.close().catch(() => {});
      await setup.close();
    }
  },
});
