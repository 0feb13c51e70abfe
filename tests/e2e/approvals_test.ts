/**
 * Four-eyes approvals end to end: the real gateway (`deno task start`) with
 * a policy whose `effect: approve` rules send calls to an approver, the MCP
 * SDK client (principal alice), the approvals JSON API (approvers bob and
 * alice), a real OpenSSH server and PostgreSQL, Redis for two replicas and a
 * local HTTP server as the webhook.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../support/assert.ts";
import { randomApiKey, startCcpFixture } from "../support/ccp_fixture.ts";
import {
  announceDbSkip,
  createPostgresFixture,
  type DbFixture,
  postgresSkipReason,
} from "../support/databases.ts";
import { eventually } from "../support/eventually.ts";
import {
  type GatewayProcess,
  startGateway,
} from "../support/gateway_process.ts";
import { operatorEnv } from "../support/deno_task.ts";
import { assertNoLeak } from "../support/log_lines.ts";
import { PROJECT_ROOT } from "../support/paths.ts";
import {
  callToolText,
  connectMcp,
  issueHandle,
  resultText,
  type ToolOutcome,
} from "../support/mcp_client.ts";
import {
  announceRedisSkip,
  deleteKeysUnder,
  randomKeyPrefix,
} from "../support/redis.ts";
import {
  announceSshdSkip,
  sshdAccount,
  type SshdFixture,
  startSshd,
} from "../support/sshd.ts";

const sshdSkip = await announceSshdSkip();
const pgSkip = await announceDbSkip(postgresSkipReason());
const redisSkip = await announceRedisSkip();

const POLICY = `
rules:
  - name: ops-web-servers
    principals: [alice]
    safes: [PROD-LINUX, PROD-DB]
    tools: [get_credential, ssh_execute, db_query]
    effect: allow
  - name: package-installs-need-approval
    principals: ["*"]
    tools: [ssh_execute]
    commands: ["apt-get install"]
    effect: approve
  - name: break-glass-needs-approval
    principals: ["*"]
    tools: [get_credential]
    objects: [break-glass]
    effect: approve
  - name: db-writes-need-approval
    principals: ["*"]
    tools: [db_query]
    commands: ["(?i)^\\\\s*(update|insert|delete)\\\\b"]
    effect: approve
`;

/** An approver's view of the JSON API. */
class ApprovalsApi {
  constructor(readonly baseUrl: string, readonly key: string) {}

  async #call(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const response = await fetch(`${this.baseUrl}/approvals/api${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.key}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, json: await response.json() };
  }

  /** The pending requests. */
  async pending(): Promise<Record<string, unknown>[]> {
    const { status, json } = await this.#call(
      "GET",
      "/requests?state=pending",
    );
    assertEquals(status, 200, JSON.stringify(json));
    return json.requests as Record<string, unknown>[];
  }

  /** Waits for the one pending request whose command includes `marker`. */
  async waitFor(marker: string): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await eventually(async () => {
      found = (await this.pending()).find((r) =>
        String(r.command ?? "").includes(marker)
      );
      assert(found !== undefined, `no pending request with ${marker}`);
    });
    return found!;
  }

  decide(
    id: string,
    verdict: "approve" | "deny",
    comment: string,
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    return this.#call("POST", `/requests/${id}/${verdict}`, { comment });
  }
}

interface Setup {
  sshd: SshdFixture;
  pg: DbFixture;
  keys: { alice: string; bob: string; aliceApproves: string };
  /** CCP requests answered so far. */
  ccpRequests(): number;
  /** Environment of a gateway with this setup. */
  env: Record<string, string>;
  close(): Promise<void>;
}

async function setUp(): Promise<Setup> {
  const sshd = await startSshd();
  const pg = await createPostgresFixture();
  const ccp = await startCcpFixture("PROD-LINUX", [
    sshdAccount(sshd, "svc_admin"),
    sshdAccount(sshd, "break-glass"),
    {
      Safe: "PROD-DB",
      Name: "pg-admin",
      Content: pg.password,
      UserName: pg.username,
      Address: "127.0.0.1",
      PolicyID: "PostgreSQL",
      Port: String(pg.port),
    },
  ], { moreSafes: ["PROD-DB"] });
  const dir = await Deno.makeTempDir({ prefix: "mcp-approvals-e2e-" });
  await Deno.writeTextFile(`${dir}/policy.yaml`, POLICY);
  const keys = {
    alice: randomApiKey(),
    bob: randomApiKey(),
    aliceApproves: randomApiKey(),
  };
  return {
    sshd,
    pg,
    keys,
    ccpRequests: () => ccp.emulator.requests,
    env: {
      ...ccp.gatewayEnv,
      MCP_API_KEYS: `alice:${keys.alice}`,
      APPROVERS: `bob:${keys.bob},alice:${keys.aliceApproves}`,
      APPROVAL_TIMEOUT_SECONDS: "120",
      POLICY_FILE: `${dir}/policy.yaml`,
      SSH_KNOWN_HOSTS: sshd.knownHostsPath,
      PG_SSLMODE: "disable",
    },
    close: async () => {
      await ccp.close();
      await Promise.all([sshd.stop(), pg.drop()]);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** alice's clients on one gateway. */
interface Alice {
  cyberark: Client;
  ssh: Client;
  db: Client;
  close(): Promise<void>;
}

async function aliceOn(gateway: GatewayProcess, key: string): Promise<Alice> {
  const cyberark = await connectMcp(`${gateway.baseUrl}/mcp/cyberark`, key);
  const ssh = await connectMcp(`${gateway.baseUrl}/mcp/ssh`, key);
  const db = await connectMcp(`${gateway.baseUrl}/mcp/database`, key);
  return {
    cyberark,
    ssh,
    db,
    close: async () => {
      await Promise.all([cyberark.close(), ssh.close(), db.close()]);
    },
  };
}

/** ssh_execute as alice, with progress notifications counted. */
async function ssh(
  alice: Alice,
  sshd: SshdFixture,
  command: string,
  handle?: string,
  progress: string[] = [],
): Promise<ToolOutcome> {
  const result = await alice.ssh.callTool(
    {
      name: "ssh_execute",
      arguments: {
        host: "127.0.0.1",
        port: sshd.port,
        command,
        secret_handle: handle ??
          await issueHandle(alice.cyberark, {
            safe: "PROD-LINUX",
            object_name: "svc_admin",
          }),
      },
    },
    CallToolResultSchema,
    {
      timeout: 60_000,
      resetTimeoutOnProgress: true,
      onprogress: (p: { message?: string }) => {
        progress.push(p.message ?? "");
      },
    },
  );
  return { text: resultText(result), isError: result.isError === true };
}

Deno.test({
  name:
    "approvals end to end: approve, deny with a comment, self-approval refused, the handle held while waiting, PostgreSQL, webhook",
  ignore: sshdSkip !== null || pgSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const setup = await setUp();
    const { sshd, keys } = setup;
    const hooks: Record<string, unknown>[] = [];
    const webhook = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (request) => {
        hooks.push(await request.json());
        return new Response("ok");
      },
    );
    const gateway = await startGateway({
      ...setup.env,
      APPROVAL_WEBHOOK_URL:
        `http://127.0.0.1:${webhook.addr.port}/hooks/T000/B000/sekrit-path`,
    });
    const bob = new ApprovalsApi(gateway.baseUrl, keys.bob);
    const aliceApprover = new ApprovalsApi(
      gateway.baseUrl,
      keys.aliceApproves,
    );
    const alice = await aliceOn(gateway, keys.alice);
    try {
      await t.step(
        "apt-get install waits for bob, reports progress, and runs once he approves",
        async () => {
          const progress: string[] = [];
          const call = ssh(
            alice,
            sshd,
            "echo apt-get install --only-upgrade apache2 && echo patched",
            undefined,
            progress,
          );
          const request = await bob.waitFor("apt-get install");
          assertEquals(request.principal, "alice");
          assertEquals(request.tool, "ssh_execute");
          assertEquals(request.host, "127.0.0.1");
          assertEquals(request.port, sshd.port);
          assertEquals(request.safe, "PROD-LINUX");
          assertEquals(request.object, "svc_admin");
          assertEquals(request.username, sshd.username);
          assertEquals(request.rule, "package-installs-need-approval");
          assertEquals(
            request.command,
            "echo apt-get install --only-upgrade apache2 && echo patched",
          );
          assertMatch(String(request.handleId), /^[0-9a-f]{16}$/);
          assert(!JSON.stringify(request).includes("secret://"));
          // Wait for a progress notification before deciding.
          await eventually(() => assert(progress.length > 0, "no progress"));
          assertStringIncludes(progress[0]!, "Waiting for an approver");
          const decided = await bob.decide(
            String(request.id),
            "approve",
            "change CHG-1234",
          );
          assertEquals(decided.status, 200, JSON.stringify(decided.json));
          const out = await call;
          assertEquals(out.isError, false, out.text);
          assert(
            out.text.startsWith(
              `Approved by: bob (approval request ${request.id}): change CHG-1234\n`,
            ),
            out.text,
          );
          assertStringIncludes(out.text, "patched");
          const ran = await gateway.waitFor((e) =>
            e.event === "ssh_executed" && e.approval_id === request.id
          );
          assertEquals(ran.approved_by, "bob");
          assertEquals(ran.principal, "alice");
          const granted = await gateway.waitFor((e) =>
            e.event === "approval_granted"
          );
          assertEquals(granted.approver, "bob");
          assertEquals(granted.principal, "alice");
          assertEquals(granted.rule, "package-installs-need-approval");
          const requested = await gateway.waitFor((e) =>
            e.event === "approval_requested"
          );
          assertEquals(requested.tool, "ssh_execute");
        },
      );

      await t.step(
        "apache2 -v needs no approval and runs at once",
        async () => {
          const out = await ssh(alice, sshd, "echo apache2 -v");
          assertEquals(out.isError, false, out.text);
          assert(!out.text.startsWith("Approved by"), out.text);
        },
      );

      await t.step(
        "the handle is held while the call waits; a denial with a comment releases it unspent",
        async () => {
          const handle = await issueHandle(alice.cyberark, {
            safe: "PROD-LINUX",
            object_name: "svc_admin",
          });
          const call = ssh(alice, sshd, "echo apt-get install nginx", handle);
          const request = await bob.waitFor("apt-get install nginx");
          const again = await ssh(alice, sshd, "echo second use", handle);
          assertEquals(again.isError, true);
          assertStringIncludes(again.text, "Handle reserved");
          const self = await aliceApprover.decide(
            String(request.id),
            "approve",
            "I approve myself",
          );
          assertEquals(self.status, 403, JSON.stringify(self.json));
          assertStringIncludes(String(self.json.message), "own request");
          const denied = await bob.decide(
            String(request.id),
            "deny",
            "not during the freeze, see CHG-99",
          );
          assertEquals(denied.status, 200, JSON.stringify(denied.json));
          const out = await call;
          assertEquals(out.isError, true);
          assertStringIncludes(
            out.text,
            'Denied by approver "bob": not during the freeze, see CHG-99',
          );
          assertStringIncludes(out.text, "the handle was not used");
          const line = await gateway.waitFor((e) =>
            e.event === "approval_denied"
          );
          assertEquals(line.comment, "not during the freeze, see CHG-99");
          // Released: the handle works for an allowed command.
          const after = await ssh(alice, sshd, "echo released", handle);
          assertEquals(after.isError, false, after.text);
          assertStringIncludes(after.text, "released");
        },
      );

      await t.step(
        "a PostgreSQL UPDATE waits for approval and then runs; a SELECT does not wait",
        async () => {
          const query = (sql: string): Promise<ToolOutcome> =>
            issueHandle(alice.cyberark, {
              safe: "PROD-DB",
              object_name: "pg-admin",
            }).then((handle) =>
              callToolText(alice.db, {
                name: "db_query",
                arguments: {
                  host: "127.0.0.1",
                  port: setup.pg.port,
                  database: setup.pg.database,
                  db_type: "postgres",
                  query: sql,
                  secret_handle: handle,
                },
              })
            );
          const select = await query("SELECT hits FROM counters WHERE id = 1");
          assertEquals(select.isError, false, select.text);
          const call = query("UPDATE counters SET hits = 42 WHERE id = 1");
          const request = await bob.waitFor("UPDATE counters");
          assertEquals(
            request.database,
            `${setup.pg.database} (postgres)`,
          );
          await bob.decide(String(request.id), "approve", "");
          const out = await call;
          assertEquals(out.isError, false, out.text);
          assertStringIncludes(out.text, "Rows affected: 1");
          assertEquals(
            (await setup.pg.admin("SELECT hits FROM counters WHERE id = 1"))
              .map((r) => Number(r[0])),
            [42],
          );
        },
      );

      await t.step(
        "a break-glass account is fetched only after approval, and the CCP is asked only then",
        async () => {
          const before = setup.ccpRequests();
          const call = callToolText(alice.cyberark, {
            name: "get_credential",
            arguments: {
              safe: "PROD-LINUX",
              object_name: "break-glass",
              reason: "INC-4711 disk full on web01",
            },
          });
          let request: Record<string, unknown> | undefined;
          await eventually(async () => {
            request = (await bob.pending()).find((r) =>
              r.object === "break-glass"
            );
            assert(request !== undefined, "no pending get_credential");
          });
          assertEquals(request!.tool, "get_credential");
          assertEquals(request!.reason, "INC-4711 disk full on web01");
          assertEquals(request!.rule, "break-glass-needs-approval");
          assertEquals(
            setup.ccpRequests(),
            before,
            "CCP asked before approval",
          );
          await bob.decide(String(request!.id), "approve", "go");
          const out = await call;
          assertEquals(out.isError, false, out.text);
          assert(
            out.text.startsWith(
              `Approved by: bob (approval request ${
                request!.id
              }): go\nHandle: secret://`,
            ),
            out.text,
          );
          assert(setup.ccpRequests() > before);
        },
      );

      await t.step(
        "deno task approvals lists the waiting call and approves it",
        async () => {
          const call = ssh(alice, sshd, "echo apt-get install via-cli");
          const request = await bob.waitFor("apt-get install via-cli");
          const cli = async (args: string[]): Promise<Deno.CommandOutput> =>
            await new Deno.Command(Deno.execPath(), {
              args: ["task", "--quiet", "approvals", ...args],
              cwd: PROJECT_ROOT,
              clearEnv: true,
              env: {
                ...operatorEnv("/nonexistent/.env"),
                APPROVALS_URL: `${gateway.baseUrl}/approvals`,
                APPROVER_KEY: keys.bob,
              },
              stdin: "null",
            }).output();
          const listed = await cli(["list", "--state", "pending"]);
          const listing = new TextDecoder().decode(listed.stdout);
          assertEquals(listed.code, 0, listing);
          assertStringIncludes(listing, String(request.id));
          const approved = await cli([
            "approve",
            String(request.id),
            "--comment",
            "via the CLI",
          ]);
          assertEquals(
            approved.code,
            0,
            new TextDecoder().decode(approved.stderr),
          );
          const out = await call;
          assertEquals(out.isError, false, out.text);
          assertStringIncludes(out.text, "Approved by: bob");
          assertStringIncludes(out.text, "via the CLI");
        },
      );

      await t.step(
        "the webhook got each request and decision, with a text line",
        async () => {
          await eventually(() => {
            const events = hooks.map((h) => h.event);
            assert(events.includes("approval_requested"), `${events}`);
            assert(events.includes("approval_granted"), `${events}`);
            assert(events.includes("approval_denied"), `${events}`);
          });
          const first = hooks.find((h) => h.event === "approval_requested")!;
          assertEquals(typeof first.text, "string");
          assertStringIncludes(String(first.text), "alice");
          // Slack-style URLs carry a token in the path: never logged.
          assert(
            !gateway.lines.join("\n").includes("sekrit-path"),
            "webhook path in the log",
          );
        },
      );
    } finally {
      await alice.close();
      await gateway.stop();
      await webhook.shutdown();
      await setup.close();
    }
    assertNoLeak(gateway.lines, [
      keys.alice,
      keys.bob,
      keys.aliceApproves,
      sshd.password,
      setup.pg.password,
    ]);
  },
});

Deno.test({
  name:
    "approvals end to end: no decision in time fails closed and releases the handle",
  ignore: sshdSkip !== null || pgSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const setup = await setUp();
    const gateway = await startGateway({
      ...setup.env,
      APPROVAL_TIMEOUT_SECONDS: "10",
    });
    const alice = await aliceOn(gateway, setup.keys.alice);
    try {
      const handle = await issueHandle(alice.cyberark, {
        safe: "PROD-LINUX",
        object_name: "svc_admin",
      });
      const out = await ssh(
        alice,
        setup.sshd,
        "echo apt-get install nobody-looks",
        handle,
      );
      assertEquals(out.isError, true);
      assertStringIncludes(
        out.text,
        "No approver decided within 10 s (APPROVAL_TIMEOUT_SECONDS), so the call was not run",
      );
      const line = await gateway.waitFor((e) => e.event === "approval_expired");
      assertEquals(line.principal, "alice");
      const after = await ssh(alice, setup.sshd, "echo still-there", handle);
      assertEquals(after.isError, false, after.text);
    } finally {
      await alice.close();
      await gateway.stop();
      await setup.close();
    }
  },
});

Deno.test({
  name:
    "approvals across two replicas on Redis: a call waiting on A runs when bob approves on B",
  ignore: sshdSkip !== null || pgSkip !== null || redisSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const setup = await setUp();
    const prefix = randomKeyPrefix();
    const env = {
      ...setup.env,
      HANDLE_STORE: "redis",
      REDIS_URL: "redis://127.0.0.1:6379/0",
      REDIS_KEY_PREFIX: prefix,
    };
    const [a, b] = await Promise.all([startGateway(env), startGateway(env)]);
    const alice = await aliceOn(a!, setup.keys.alice);
    try {
      const call = ssh(alice, setup.sshd, "echo apt-get install on-a");
      const onB = new ApprovalsApi(b!.baseUrl, setup.keys.bob);
      const request = await onB.waitFor("apt-get install on-a");
      const decided = await onB.decide(String(request.id), "approve", "ok");
      assertEquals(decided.status, 200, JSON.stringify(decided.json));
      const out = await call;
      assertEquals(out.isError, false, out.text);
      assertStringIncludes(out.text, "Approved by: bob");
      assertStringIncludes(out.text, "on-a");
    } finally {
      await alice.close();
      await Promise.all([a!.stop(), b!.stop()]);
      await setup.close();
      await deleteKeysUnder(prefix);
    }
  },
});
