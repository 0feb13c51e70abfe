/**
 * Principals and policy end to end: the real gateway (`deno task start`)
 * with the README's example policy, the CCP emulator, the MCP SDK client
 * over HTTP, a real OpenSSH server, PostgreSQL and MariaDB. Three named
 * principals: two on call, one contractor no rule names.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../support/assert.ts";
import { randomApiKey, startCcpFixture } from "../support/ccp_fixture.ts";
import {
  announceDbSkip,
  createMariadbFixture,
  createPostgresFixture,
  type DbFixture,
  mariadbSkipReason,
  postgresSkipReason,
} from "../support/databases.ts";
import { startGateway } from "../support/gateway_process.ts";
import { assertNoLeak } from "../support/log_lines.ts";
import {
  callToolText,
  connectMcp,
  issueHandle,
  type ToolOutcome,
} from "../support/mcp_client.ts";
import {
  announceRedisSkip,
  deleteKeysUnder,
  randomKeyPrefix,
} from "../support/redis.ts";
import { announceSshdSkip, sshdAccount, startSshd } from "../support/sshd.ts";
import { PROJECT_ROOT } from "../support/gateway_process.ts";

const sshdSkip = await announceSshdSkip();
const pgSkip = await announceDbSkip(postgresSkipReason());
const mariadbSkip = await announceDbSkip(mariadbSkipReason());
const redisSkip = await announceRedisSkip();

/** The README's example policy (between its policy-example marker and the next fence). */
async function readmePolicy(): Promise<string> {
  const readme = await Deno.readTextFile(`${PROJECT_ROOT}/README.md`);
  const start = readme.indexOf("<!-- policy-example -->");
  assert(start >= 0, "README has no policy-example marker");
  const match = /```yaml\n([\s\S]*?)```/.exec(readme.slice(start));
  assert(match !== null, "no yaml block after the policy-example marker");
  return match[1]!;
}

/** The README's policy, with this machine's loopback among the web servers. */
async function testPolicy(): Promise<string> {
  const policy = await readmePolicy();
  const hosts = 'hosts: ["web*.internal", "server01.internal"]';
  assertStringIncludes(policy, hosts);
  return policy.replace(
    hosts,
    'hosts: ["web*.internal", "server01.internal", "127.0.0.0/8"]',
  );
}

/** Replaces the policy file the way editors and ConfigMaps do: a rename. */
async function replaceFile(path: string, text: string): Promise<void> {
  const next = `${path}.next`;
  await Deno.writeTextFile(next, text);
  await Deno.rename(next, path);
}

Deno.test({
  name:
    "principals and policy end to end: the README's on-call policy against sshd, PostgreSQL and MariaDB",
  ignore: sshdSkip !== null || pgSkip !== null || mariadbSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const sshd = await startSshd();
    const pg = await createPostgresFixture();
    const maria = await createMariadbFixture();
    const dbAccount = (name: string, db: DbFixture, platform: string) => ({
      Safe: "PROD-DB",
      Name: name,
      Content: db.password,
      UserName: db.username,
      Address: "127.0.0.1",
      PolicyID: platform,
      Port: String(db.port),
    });
    const ccp = await startCcpFixture("PROD-LINUX", [
      sshdAccount(sshd, "svc_admin"),
      { ...sshdAccount(sshd, "other-root"), Safe: "OTHER" },
      dbAccount("pg-reader", pg, "PostgreSQL"),
      dbAccount("mysql-reader", maria, "MySQL"),
    ], { moreSafes: ["PROD-DB", "OTHER"] });
    const keys = {
      alice: randomApiKey(),
      "oncall-bot": randomApiKey(),
      contractor: randomApiKey(),
    };
    const dir = await Deno.makeTempDir({ prefix: "mcp-policy-e2e-" });
    const policyFile = `${dir}/policy.yaml`;
    const policy = await testPolicy();
    await Deno.writeTextFile(policyFile, policy);
    const gateway = await startGateway({
      ...ccp.gatewayEnv,
      MCP_API_KEYS: Object.entries(keys).map(([n, k]) => `${n}:${k}`).join(
        ",",
      ),
      SSH_KNOWN_HOSTS: sshd.knownHostsPath,
      POLICY_FILE: policyFile,
      PG_SSLMODE: "disable",
      MYSQL_SSL: "disabled",
    });
    const clients: Client[] = [];
    const connect = async (
      endpoint: string,
      who: keyof typeof keys,
    ): Promise<Client> => {
      const client = await connectMcp(
        `${gateway.baseUrl}/mcp/${endpoint}`,
        keys[who],
      );
      clients.push(client);
      return client;
    };
    try {
      const alice = {
        cyberark: await connect("cyberark", "alice"),
        ssh: await connect("ssh", "alice"),
        db: await connect("database", "alice"),
      };
      const bot = {
        cyberark: await connect("cyberark", "oncall-bot"),
        ssh: await connect("ssh", "oncall-bot"),
      };
      const contractor = await connect("cyberark", "contractor");
      const ssh = (
        client: Client,
        handle: string,
        command: string,
      ): Promise<ToolOutcome> =>
        callToolText(client, {
          name: "ssh_execute",
          arguments: {
            host: "127.0.0.1",
            port: sshd.port,
            command,
            secret_handle: handle,
          },
        });
      const sql = async (
        db: DbFixture,
        query: string,
      ): Promise<ToolOutcome> =>
        callToolText(alice.db, {
          name: "db_query",
          arguments: {
            host: "127.0.0.1",
            port: db.port,
            database: db.database,
            db_type: db.engine,
            query,
            secret_handle: await issueHandle(alice.cyberark, {
              safe: "PROD-DB",
              object_name: db.engine === "postgres"
                ? "pg-reader"
                : "mysql-reader",
            }),
          },
        });
      const linuxHandle = (client: Client): Promise<string> =>
        issueHandle(client, { safe: "PROD-LINUX", object_name: "svc_admin" });

      await t.step("the policy was taken at start-up", async () => {
        const loaded = await gateway.waitFor((e) =>
          e.event === "policy_loaded"
        );
        assertEquals(loaded.reason, "start");
        assertEquals(loaded.rules, 3);
      });

      await t.step(
        "an on-call principal runs a command on a web server; the audit line names it and the rule",
        async () => {
          const out = await ssh(
            alice.ssh,
            await linuxHandle(alice.cyberark),
            "whoami && uptime",
          );
          assertEquals(out.isError, false, out.text);
          assertStringIncludes(out.text, sshd.username);
          const line = await gateway.waitFor((e) =>
            e.event === "ssh_executed" && e.command === "whoami && uptime"
          );
          assertEquals(line.principal, "alice");
          assertEquals(line.auth, "api_key");
          assertEquals(line.policy_rule, "oncall-web-servers");
        },
      );

      await t.step(
        "a denied command is refused by name, audited, and spends no handle",
        async () => {
          const handle = await linuxHandle(alice.cyberark);
          const denied = await ssh(alice.ssh, handle, "sudo reboot");
          assertEquals(denied.isError, true);
          assertStringIncludes(
            denied.text,
            'Refused by policy rule "no-destructive-shell"',
          );
          assertStringIncludes(denied.text, "the handle was not used");
          const line = await gateway.waitFor((e) =>
            e.event === "policy_denied" && e.tool === "ssh_execute"
          );
          assertEquals(line.rule, "no-destructive-shell");
          assertEquals(line.principal, "alice");
          assertEquals(line.safe, "PROD-LINUX");
          assertEquals(line.object_name, "svc_admin");
          assertEquals(line.host, "127.0.0.1");
          const after = await ssh(alice.ssh, handle, "echo still-usable");
          assertEquals(after.isError, false, after.text);
          assertStringIncludes(after.text, "still-usable");
        },
      );

      await t.step(
        "an account no rule allows is refused before CyberArk is asked",
        async () => {
          const before = ccp.emulator.requests;
          const out = await callToolText(alice.cyberark, {
            name: "get_credential",
            arguments: { safe: "OTHER", object_name: "other-root" },
          });
          assertEquals(out.isError, true);
          assertStringIncludes(
            out.text,
            'Refused by policy: no rule allows principal "alice" to fetch account "other-root" of safe "OTHER"',
          );
          const nobody = await callToolText(contractor, {
            name: "get_credential",
            arguments: { safe: "PROD-LINUX", object_name: "svc_admin" },
          });
          assertEquals(nobody.isError, true);
          assertStringIncludes(nobody.text, 'principal "contractor"');
          assertEquals(ccp.emulator.requests, before, "the CCP was asked");
          const line = await gateway.waitFor((e) =>
            e.event === "policy_denied" && e.principal === "contractor"
          );
          assertEquals(line.rule, null);
          assertEquals(line.tool, "get_credential");
        },
      );

      await t.step(
        "a handle works only for the principal that fetched it",
        async () => {
          const handle = await linuxHandle(alice.cyberark);
          const stolen = await ssh(bot.ssh, handle, "id");
          assertEquals(stolen.isError, true);
          assertStringIncludes(stolen.text, "fetched by another principal");
          const line = await gateway.waitFor((e) =>
            e.event === "handle_refused" && e.reason === "principal_mismatch"
          );
          assertEquals(line.principal, "oncall-bot");
          assertEquals(line.issued_to, "alice");
          const own = await ssh(alice.ssh, handle, "echo mine");
          assertEquals(own.isError, false, own.text);
        },
      );

      for (const db of [pg, maria]) {
        await t.step(
          `${db.engine}: the read-only rule lets SELECTs through and the database refuses every write`,
          async () => {
            const read = await sql(db, "SELECT id, hits FROM counters");
            assertEquals(read.isError, false, read.text);
            assertStringIncludes(read.text, "Rows returned: 3");
            const writes = [
              "UPDATE counters SET hits = hits + 1",
              "DELETE FROM counters",
              "INSERT INTO counters VALUES (9, 9)",
              "CREATE TABLE sneaky (id int)",
              "SELECT 1; UPDATE counters SET hits = 5",
              ...(db.engine === "postgres"
                ? [
                  "WITH x AS (UPDATE counters SET hits = 7 RETURNING id) SELECT * FROM x",
                  "COMMIT; UPDATE counters SET hits = 8",
                ]
                : ["COMMIT; UPDATE counters SET hits = 8"]),
            ];
            for (const write of writes) {
              const out = await sql(db, write);
              assertEquals(out.isError, true, `${write}: ${out.text}`);
              assertStringIncludes(
                out.text,
                '[read-only by policy rule "oncall-read-prod-db"]',
              );
            }
            const rows = await db.admin(
              "SELECT id, hits FROM counters ORDER BY id",
            );
            assertEquals(
              rows.map((r) => r.map(Number)),
              [[1, 0], [2, 0], [3, 0]],
            );
            const line = await gateway.waitFor((e) =>
              e.event === "db_queried" && e.db_type === db.engine &&
              e.query === "UPDATE counters SET hits = hits + 1"
            );
            assertEquals(line.read_only, true);
            assertEquals(line.policy_rule, "oncall-read-prod-db");
            assertEquals(line.principal, "alice");
          },
        );
      }

      await t.step(
        "a changed file is reloaded; a bad one is refused and the old policy stays",
        async () => {
          // alice leaves the on-call group.
          await replaceFile(
            policyFile,
            policy.replace("[alice, oncall-bot]", "[oncall-bot]"),
          );
          await gateway.waitFor((e) =>
            e.event === "policy_loaded" && e.reason === "file_change"
          );
          const refused = await callToolText(alice.cyberark, {
            name: "get_credential",
            arguments: { safe: "PROD-LINUX", object_name: "svc_admin" },
          });
          assertEquals(refused.isError, true);
          assertStringIncludes(refused.text, "no rule allows");
          await replaceFile(
            policyFile,
            policy.replace("effect: deny", "effect: maybe"),
          );
          const failed = await gateway.waitFor((e) =>
            e.event === "policy_reload_failed"
          );
          assertStringIncludes(String(failed.error), "line ");
          // The policy before the bad file is still in force.
          const stillRefused = await callToolText(alice.cyberark, {
            name: "get_credential",
            arguments: { safe: "PROD-LINUX", object_name: "svc_admin" },
          });
          assertEquals(stillRefused.isError, true);
          const botOut = await ssh(
            bot.ssh,
            await linuxHandle(bot.cyberark),
            "echo bot",
          );
          assertEquals(botOut.isError, false, botOut.text);
          const botDenied = await ssh(
            bot.ssh,
            await linuxHandle(bot.cyberark),
            "rm -rf /tmp/nothing",
          );
          assertStringIncludes(botDenied.text, "no-destructive-shell");
        },
      );
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await gateway.stop();
      await ccp.close();
      await Promise.all([pg.drop(), maria.drop(), sshd.stop()]);
      await Deno.remove(dir, { recursive: true });
    }
    assertNoLeak(gateway.lines, [
      ...Object.values(keys),
      sshd.password,
      pg.password,
      maria.password,
    ]);
  },
});

Deno.test({
  name:
    "two gateway replicas share TOOL_CALL_LIMIT per principal through Redis: calls on A count on B",
  ignore: redisSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const ccp = await startCcpFixture("LINUX", [{
      Name: "acct",
      Content: "Tool-Limit-Secret-1",
      UserName: "root",
      Address: "127.0.0.1",
      PolicyID: "UnixSSH",
    }]);
    const other = randomApiKey();
    const prefix = randomKeyPrefix();
    const env = {
      ...ccp.gatewayEnv,
      MCP_API_KEYS: `agent:${ccp.key},other:${other}`,
      HANDLE_STORE: "redis",
      REDIS_URL: "redis://127.0.0.1:6379/0",
      REDIS_KEY_PREFIX: prefix,
      TOOL_CALL_LIMIT: "2",
      TOOL_CALL_WINDOW_SECONDS: "3600",
    };
    const [a, b] = await Promise.all([startGateway(env), startGateway(env)]);
    const clients: Client[] = [];
    const client = async (url: string, key: string): Promise<Client> => {
      const c = await connectMcp(`${url}/mcp/cyberark`, key);
      clients.push(c);
      return c;
    };
    try {
      const onA = await client(a!.baseUrl, ccp.key);
      const onB = await client(b!.baseUrl, ccp.key);
      const otherOnB = await client(b!.baseUrl, other);
      const fetch = (c: Client): Promise<ToolOutcome> =>
        callToolText(c, {
          name: "get_credential",
          arguments: { safe: "LINUX", object_name: "acct" },
        });
      assertEquals((await fetch(onA)).isError, false);
      assertEquals((await fetch(onA)).isError, false);
      const third = await fetch(onB);
      assertEquals(third.isError, true, "B counted A's calls");
      assertStringIncludes(third.text, "TOOL_CALL_LIMIT");
      const line = await b!.waitFor((e) =>
        e.event === "rate_limited" && e.reason === "tool_calls"
      );
      assertEquals(line.principal, "agent");
      // Another principal has its own count.
      assertEquals((await fetch(otherOnB)).isError, false);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await Promise.all([a!.stop(), b!.stop()]);
      await ccp.close();
      await deleteKeysUnder(prefix);
    }
  },
});
