/**
 * The policy in the target-tool pipeline, with a real vault, a real parsed
 * policy and a recording executor: what a denial says and audits, that it
 * spends no handle and starts no executor, that the handle's Safe and
 * object are what the rules see, and that `read_only` reaches the executor.
 */
import type { LogRecord } from "@logtape/logtape";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { ExecutorCall } from "../../../executors/spawner/mod.ts";
import { parsePolicy } from "../../../gateway/policy/load_policy.ts";
import type { Policy } from "../../../gateway/policy/policy.ts";
import {
  runTargetOperation,
  type TargetCall,
} from "../../../gateway/tools/_operation.ts";
import { dbTool } from "../../../gateway/tools/db_query.ts";
import { sshTool } from "../../../gateway/tools/ssh_execute.ts";
import { RedisApprovalStore } from "../../../gateway/approvals/redis_approval_store.ts";
import { Secret } from "../../../vault/secret.ts";
import { eventually } from "../../support/eventually.ts";
import { freePort } from "../../support/free_port.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../support/assert.ts";
import {
  audits,
  type Harness,
  SECRET,
  stillRedeemable,
  text,
  TIMING,
  withHarness,
} from "./_harness.ts";

const POLICY = `
groups:
  oncall: [agent-1]
rules:
  - name: oncall-linux
    principals: ["group:oncall"]
    safes: ["LINUX"]
    tools: [get_credential, ssh_execute]
    hosts: ["127.0.0.0/8"]
    effect: allow
  - name: no-destructive-shell
    principals: ["*"]
    tools: [ssh_execute, ps_execute]
    commands: ["(^|[;&|])\\\\s*(rm\\\\s+-rf|mkfs|shutdown|reboot)\\\\b"]
    effect: deny
  - name: kernel-needs-approval
    principals: ["*"]
    tools: [ssh_execute]
    commands: ["^modprobe "]
    effect: approve
  - name: oncall-prod-db-read
    principals: ["group:oncall"]
    safes: ["LINUX"]
    tools: [db_query]
    read_only: true
    effect: allow
`;

function policy(text = POLICY): Policy {
  return parsePolicy(text, "/etc/mcp-privileged/policy.yaml");
}

function sshCall(h: Harness, handle = h.handle): TargetCall {
  return {
    host: "127.0.0.1",
    port: 2222,
    secretHandle: handle,
    timeoutSeconds: undefined,
    args: {},
  };
}

function runSsh(
  h: Harness,
  command: string,
  handle?: string,
): Promise<CallToolResult> {
  return runTargetOperation(
    sshTool({ command }, h.context),
    sshCall(h, handle),
    h.context,
  );
}

function deniedLine(h: Harness): LogRecord["properties"] {
  const line = audits(h.records).find((r) =>
    r.message[0] === "policy_denied" ||
    String(r.rawMessage) === "policy_denied"
  );
  assert(line !== undefined, "no policy_denied audit line");
  return line.properties;
}

Deno.test("policy: an allowed ssh_execute runs, and its audit line names the allowing rule", async () => {
  await withHarness(
    async (h) => {
      const result = await runSsh(h, "uptime");
      assertEquals(result.isError, undefined, text(result));
      assertEquals(h.runner.calls.length, 1);
      const line = audits(h.records).find((r) =>
        String(r.rawMessage) === "ssh_executed"
      );
      assertEquals(line?.properties.policy_rule, "oncall-linux");
      assertEquals(line?.properties.principal, "agent-1");
    },
    undefined,
    undefined,
    { policy: policy() },
  );
});

Deno.test("policy: deny wins over allow; the error names the rule and the fix, spends no handle, starts no executor", async () => {
  await withHarness(
    async (h) => {
      const result = await runSsh(h, "cd /tmp && rm -rf /var/lib/app");
      assertEquals(result.isError, true);
      const shown = text(result);
      assertStringIncludes(
        shown,
        'Refused by policy rule "no-destructive-shell"',
      );
      assertStringIncludes(shown, "ask an administrator");
      assertStringIncludes(shown, "the handle was not used");
      // The policy's other contents stay private.
      for (
        const hidden of ["oncall-linux", "kernel-needs-approval", "oncall"]
      ) {
        assert(
          !shown.replace("no-destructive-shell", "").includes(hidden),
          shown,
        );
      }
      assertEquals(h.runner.calls.length, 0);
      assertEquals(h.runner.reserved, 0);
      const fields = deniedLine(h);
      assertEquals(fields.rule, "no-destructive-shell");
      assertEquals(fields.effect, "deny");
      assertEquals(fields.tool, "ssh_execute");
      assertEquals(fields.principal, "agent-1");
      assertEquals(fields.safe, "LINUX");
      assertEquals(fields.object_name, "linux-root");
      assertEquals(fields.host, "127.0.0.1");
      assertEquals(typeof fields.handle_id, "string");
      assertEquals(fields.matched_rules, "oncall-linux,no-destructive-shell");
      assert(!h.lines.join("\n").includes(SECRET));
      assert(!h.lines.join("\n").includes(h.handle));
      await stillRedeemable(h);
    },
    undefined,
    undefined,
    { policy: policy() },
  );
});

Deno.test("policy: approve wins over allow and is refused with the approval message until approvals exist", async () => {
  await withHarness(
    async (h) => {
      const result = await runSsh(h, "modprobe br_netfilter");
      assertEquals(result.isError, true);
      assertStringIncludes(
        text(result),
        'Refused by policy rule "kernel-needs-approval": it requires a second person\'s approval',
      );
      assertEquals(deniedLine(h).effect, "approve");
      assertEquals(h.runner.calls.length, 0);
      await stillRedeemable(h);
    },
    undefined,
    undefined,
    { policy: policy() },
  );
});

Deno.test("policy: a principal no rule allows is refused by default and told to ask for a rule", async () => {
  await withHarness(
    async (h) => {
      const result = await runSsh(h, "uptime");
      assertEquals(result.isError, true);
      assertStringIncludes(
        text(result),
        'Refused by policy: no rule allows principal "ci-bot"',
      );
      assertStringIncludes(text(result), "add a rule");
      const fields = deniedLine(h);
      assertEquals(fields.rule, null);
      assertEquals(fields.principal, "ci-bot");
      await stillRedeemable(h);
    },
    undefined,
    undefined,
    { policy: policy(), principal: "ci-bot" },
  );
});

Deno.test("policy: the rules see the Safe the handle came from, not a Safe the caller names", async () => {
  // agent-1 may use accounts of OTHER only; the harness's handle is from LINUX.
  const other = POLICY.replaceAll('safes: ["LINUX"]', 'safes: ["OTHER"]');
  await withHarness(
    async (h) => {
      const result = await runSsh(h, "uptime");
      assertEquals(result.isError, true);
      assertStringIncludes(text(result), "no rule allows");
      assertStringIncludes(text(result), 'safe "LINUX"');
      assertEquals(deniedLine(h).safe, "LINUX");
    },
    undefined,
    undefined,
    { policy: policy(other) },
  );
});

Deno.test("policy: a host outside the rule's CIDR is refused even with a handle for it", async () => {
  const narrow = POLICY.replace(
    'hosts: ["127.0.0.0/8"]',
    'hosts: ["10.0.0.0/8"]',
  );
  await withHarness(
    async (h) => {
      const result = await runSsh(h, "uptime");
      assertEquals(result.isError, true);
      assertStringIncludes(text(result), 'on host "127.0.0.1"');
      assertEquals(h.runner.calls.length, 0);
    },
    undefined,
    undefined,
    { policy: policy(narrow) },
  );
});

Deno.test("policy: another principal's handle is refused and audited before the policy, and stays its owner's", async () => {
  await withHarness(
    async (h) => {
      const bobs = (await h.vault.issue({
        principal: "bob",
        secret: new Secret(SECRET),
        username: "root",
        address: "127.0.0.1",
        safe: "LINUX",
        objectName: "linux-root",
        folder: "Root",
        properties: { PolicyID: "UnixSSH", Port: "2222" },
      })).handle;
      const result = await runSsh(h, "uptime", bobs);
      assertEquals(result.isError, true);
      assertStringIncludes(text(result), "fetched by another principal");
      const line = audits(h.records).find((r) =>
        String(r.rawMessage) === "handle_refused"
      );
      assertEquals(line?.properties.reason, "principal_mismatch");
      assertEquals(line?.properties.issued_to, "bob");
      assertEquals(line?.properties.principal, "agent-1");
      assertEquals(h.runner.calls.length, 0);
      const redeemed = await h.vault.redeem(bobs, {
        ...h.bound,
        principal: "bob",
      });
      assertEquals(redeemed.username, "root");
    },
    undefined,
    undefined,
    { policy: policy() },
  );
});

Deno.test("policy: without a policy file every call is allowed and audited with policy_rule null", async () => {
  await withHarness(async (h) => {
    const result = await runSsh(h, "rm -rf /tmp/x");
    assertEquals(result.isError, undefined, text(result));
    const line = audits(h.records).find((r) =>
      String(r.rawMessage) === "ssh_executed"
    );
    assertEquals(line?.properties.policy_rule, null);
  });
});

Deno.test("policy: a read_only rule makes db_query send readOnly to the executor and audit read_only", async () => {
  let sent: ExecutorCall | undefined;
  await withHarness(
    async (h) => {
      const result = await runTargetOperation(
        dbTool({
          database: "app",
          db_type: "postgres",
          query: "select 1",
          max_rows: undefined,
        }, h.context),
        {
          host: "127.0.0.1",
          port: 5432,
          secretHandle: h.handle,
          timeoutSeconds: undefined,
          args: {},
        },
        h.context,
      );
      assertEquals(result.isError, undefined, text(result));
      assert(sent !== undefined);
      assertEquals(
        (sent.operation as { readOnly: boolean }).readOnly,
        true,
      );
      const line = audits(h.records).find((r) =>
        String(r.rawMessage) === "db_queried"
      );
      assertEquals(line?.properties.read_only, true);
      assertEquals(line?.properties.policy_rule, "oncall-prod-db-read");
    },
    (call) => {
      sent = call;
      return Promise.resolve({
        ok: true,
        result: {
          kind: "postgres",
          resultSets: [{
            columns: ["n"],
            rows: [["1"]],
            rowCount: 1,
            rowsTruncated: null,
            affectedRows: null,
            command: "SELECT",
          }],
          elapsedMs: 1,
        },
        timing: TIMING,
      });
    },
    { policyId: "PostgreSQL", port: 5432, protocol: "postgres" },
    { policy: policy() },
  );
});

Deno.test("policy: a failed write in a read-only session says which rule made it read-only", async () => {
  await withHarness(
    async (h) => {
      const result = await runTargetOperation(
        dbTool({
          database: "app",
          db_type: "postgres",
          query: "insert into t values (1)",
          max_rows: undefined,
        }, h.context),
        {
          host: "127.0.0.1",
          port: 5432,
          secretHandle: h.handle,
          timeoutSeconds: undefined,
          args: {},
        },
        h.context,
      );
      assertEquals(result.isError, true);
      assertStringIncludes(
        text(result),
        '[read-only by policy rule "oncall-prod-db-read"]',
      );
    },
    () =>
      Promise.resolve({
        ok: false,
        error: {
          code: "driver_error",
          message: "cannot execute INSERT in a read-only transaction",
        },
        timing: TIMING,
      }),
    { policyId: "PostgreSQL", port: 5432, protocol: "postgres" },
    { policy: policy() },
  );
});

Deno.test("policy: without read_only db_query stays read-write", async () => {
  let sent: ExecutorCall | undefined;
  const writable = POLICY.replace("    read_only: true\n", "");
  await withHarness(
    async (h) => {
      await runTargetOperation(
        dbTool({
          database: "app",
          db_type: "postgres",
          query: "select 1",
          max_rows: undefined,
        }, h.context),
        {
          host: "127.0.0.1",
          port: 5432,
          secretHandle: h.handle,
          timeoutSeconds: undefined,
          args: {},
        },
        h.context,
      );
      assertEquals((sent?.operation as { readOnly: boolean }).readOnly, false);
    },
    (call) => {
      sent = call;
      return Promise.resolve({
        ok: false,
        error: { code: "driver_error", message: "x" },
        timing: TIMING,
      });
    },
    { policyId: "PostgreSQL", port: 5432, protocol: "postgres" },
    { policy: policy(writable) },
  );
});

Deno.test("approvals: an unreachable approval store is a clear tool error and the held handle is released", async () => {
  const port = freePort();
  await withHarness(
    async (h) => {
      const result = await runSsh(h, "modprobe br_netfilter");
      assertEquals(result.isError, true);
      assertStringIncludes(text(result), "Approval store unavailable");
      assertStringIncludes(text(result), `127.0.0.1:${port}`);
      assertStringIncludes(text(result), "the handle was not used");
      assertEquals(h.runner.calls.length, 0);
      await stillRedeemable(h);
    },
    undefined,
    undefined,
    {
      policy: policy(),
      env: { APPROVERS: `bob:${"b".repeat(40)}` },
      approvalStore: new RedisApprovalStore({
        host: "127.0.0.1",
        port,
        db: 0,
        tls: false,
        keyPrefix: "mcp-test-unreachable:",
        connectTimeoutMs: 500,
        commandTimeoutMs: 500,
      }),
    },
  );
});

Deno.test("approvals: an approved call runs with the held handle and says who approved; an expired one runs nothing and keeps the handle", async () => {
  await withHarness(
    async (h) => {
      const call = runSsh(h, "modprobe br_netfilter");
      let id = "";
      await eventually(async () => {
        const pending = await h.context.services.approvals.list({
          state: "pending",
        });
        assertEquals(pending.length, 1);
        id = pending[0]!.id;
        assertEquals(pending[0]!.command, "modprobe br_netfilter");
        assertEquals(pending[0]!.username, "root");
      });
      // Held: nobody else can redeem it while the call waits.
      await assertRejects(() => h.vault.redeem(h.handle, h.bound));
      await h.context.services.approvals.decide(id, "bob", "approve", "ok");
      const result = await call;
      assertEquals(result.isError, undefined, text(result));
      assert(
        text(result).startsWith(
          `Approved by: bob (approval request ${id}): ok\n`,
        ),
      );
      assertEquals(h.runner.calls.length, 1);
    },
    undefined,
    undefined,
    { policy: policy(), env: { APPROVERS: `bob:${"b".repeat(40)}` } },
  );
  await withHarness(
    async (h) => {
      const result = await runSsh(h, "modprobe br_netfilter");
      assertEquals(result.isError, true);
      assertStringIncludes(text(result), "No approver decided within");
      assertStringIncludes(text(result), "the handle was not used");
      assertEquals(h.runner.calls.length, 0);
      await stillRedeemable(h);
    },
    undefined,
    undefined,
    {
      policy: policy(),
      env: { APPROVERS: `bob:${"b".repeat(40)}` },
      approvalTimeoutMs: 200,
    },
  );
});
