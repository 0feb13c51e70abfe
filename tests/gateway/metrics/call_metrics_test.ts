/**
 * Tool calls and policy decisions in the metrics, through the MCP endpoint
 * in process (`handleMcpRequest`, the SDK server the gateway runs) with a
 * real handle vault, a real parsed policy and a recording executor: each
 * call counted exactly once under its outcome, each decision once under
 * its effect, and nothing of a command or a handle in the scrape.
 */
import type {
  ExecutorCall,
  ExecutorOutcome,
} from "../../../executors/spawner/mod.ts";
import { observeCalls } from "../../../gateway/call_events.ts";
import { handleMcpRequest } from "../../../gateway/mcp_endpoints.ts";
import { callMetrics } from "../../../gateway/metrics/call_metrics.ts";
import { GatewayMetrics } from "../../../gateway/metrics/registry.ts";
import { parsePolicy } from "../../../gateway/policy/load_policy.ts";
import type { ToolContext } from "../../../gateway/tool_context.ts";
import { assert, assertEquals } from "../../support/assert.ts";
import { parseSamples, sampleValue } from "../../support/prometheus_text.ts";
import { TIMING, withHarness } from "../tools/_harness.ts";

const POLICY = parsePolicy(
  `
rules:
  - name: no-forbidden
    principals: ["*"]
    tools: [ssh_execute]
    commands: ["^forbidden"]
    effect: deny
  - name: kernel-needs-approval
    principals: ["*"]
    tools: [ssh_execute]
    commands: ["^modprobe "]
    effect: approve
  - name: the-rest
    principals: ["*"]
    tools: [get_credential, ssh_execute]
    effect: allow
`,
  "test-policy.yaml",
);

/** The executor's answer by command: `false` exits 1, `broken` cannot connect. */
function answer(call: ExecutorCall): Promise<ExecutorOutcome> {
  const command = call.operation.kind === "ssh" ? call.operation.command : "";
  if (command.startsWith("broken")) {
    return Promise.resolve({
      ok: false,
      error: { code: "connection_failed", message: "refused" },
      timing: TIMING,
    });
  }
  return Promise.resolve({
    ok: true,
    result: {
      kind: "ssh",
      exitCode: command.startsWith("false") ? 1 : 0,
      signal: null,
      stdout: "",
      stderr: "",
      stdoutTruncated: false,
      stderrTruncated: false,
      hostKeyFingerprint: "SHA256:abc",
    },
    timing: TIMING,
  });
}

let nextId = 1;

/** One ssh_execute call through the MCP endpoint; returns whether it was a tool error. */
async function sshExecute(
  context: ToolContext,
  args: Record<string, unknown>,
): Promise<boolean> {
  const request = new Request("http://127.0.0.1/mcp/ssh", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: nextId++,
      method: "tools/call",
      params: {
        name: "ssh_execute",
        arguments: { host: "127.0.0.1", port: 2222, ...args },
      },
    }),
  });
  const response = await handleMcpRequest("ssh", request, context);
  const body = await response.json();
  assert(body.result !== undefined, JSON.stringify(body));
  return body.result.isError === true;
}

/** The tool_calls_total samples that moved, as `tool/outcome value`. */
function movedCalls(text: string): string[] {
  return parseSamples(text)
    .filter((s) =>
      s.name === "mcp_privileged_tool_calls_total" && s.value !== 0
    )
    .map((s) => `${s.labels.tool}/${s.labels.outcome} ${s.value}`)
    .sort();
}

Deno.test("Each tool call is counted once under its outcome, and each policy decision once under its effect", async () => {
  const metrics = new GatewayMetrics();
  const stop = observeCalls(callMetrics(metrics));
  const marker = `MARKER-${crypto.randomUUID()}`;
  try {
    await withHarness(
      async (h) => {
        const { context } = h;
        // ok, then the same handle again: refused before the policy is asked.
        assertEquals(
          await sshExecute(context, {
            command: `true # ${marker}`,
            secret_handle: h.handle,
          }),
          false,
        );
        assertEquals(
          await sshExecute(context, {
            command: "true",
            secret_handle: h.handle,
          }),
          true,
        );
        // The target says no: command_failed. The executor cannot connect: error.
        assertEquals(
          await sshExecute(context, {
            command: "false",
            secret_handle: await h.issue(),
          }),
          false,
        );
        assertEquals(
          await sshExecute(context, {
            command: "broken",
            secret_handle: await h.issue(),
          }),
          true,
        );
        // The policy denies; a rule asks for approval on a service without approvers.
        assertEquals(
          await sshExecute(context, {
            command: `forbidden ${marker}`,
            secret_handle: await h.issue(),
          }),
          true,
        );
        assertEquals(
          await sshExecute(context, {
            command: "modprobe x",
            secret_handle: await h.issue(),
          }),
          true,
        );
        // Bad input: an error before the policy.
        assertEquals(
          await sshExecute(context, {
            command: "true",
            host: "not a host!",
            secret_handle: await h.issue(),
          }),
          true,
        );
      },
      answer,
      undefined,
      { policy: POLICY },
    );
    const text = await metrics.scrape();
    assertEquals(movedCalls(text), [
      "ssh_execute/command_failed 1",
      "ssh_execute/denied 2",
      "ssh_execute/error 2",
      "ssh_execute/ok 1",
      "ssh_execute/refused 1",
    ]);
    assertEquals(
      sampleValue(text, "mcp_privileged_tool_call_duration_seconds_count", {
        tool: "ssh_execute",
      }),
      7,
    );
    for (const [effect, count] of [["allow", 3], ["deny", 1], ["approve", 1]]) {
      assertEquals(
        sampleValue(text, "mcp_privileged_policy_decisions_total", {
          effect: String(effect),
        }),
        count,
        String(effect),
      );
    }
    for (const word of [marker, "secret://", "forbidden", "modprobe"]) {
      assert(!text.includes(word), `the scrape holds ${word}`);
    }
  } finally {
    stop();
  }
});

Deno.test("A call over TOOL_CALL_LIMIT is counted as rate_limited; without a POLICY_FILE no decision is counted", async () => {
  const metrics = new GatewayMetrics();
  const stop = observeCalls(callMetrics(metrics));
  try {
    await withHarness(
      async (h) => {
        assertEquals(
          await sshExecute(h.context, {
            command: "true",
            secret_handle: h.handle,
          }),
          false,
        );
        assertEquals(
          await sshExecute(h.context, {
            command: "true",
            secret_handle: await h.issue(),
          }),
          true,
        );
      },
      answer,
      undefined,
      {
        env: { TOOL_CALL_LIMIT: "1", TOOL_CALL_WINDOW_SECONDS: "3600" },
      },
    );
    const text = await metrics.scrape();
    assertEquals(movedCalls(text), [
      "ssh_execute/ok 1",
      "ssh_execute/rate_limited 1",
    ]);
    assertEquals(
      parseSamples(text).filter((s) =>
        s.name === "mcp_privileged_policy_decisions_total" && s.value !== 0
      ),
      [],
    );
  } finally {
    stop();
  }
});
