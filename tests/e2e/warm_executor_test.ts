/**
 * Warm executors end to end: the real gateway (`deno task start`), the CCP
 * emulator and the MCP SDK client, against the machine's PostgreSQL. A
 * handle scoped to one port gets its executor started by get_credential;
 * db_query on that port runs in it (audit `executor: "warm"`), one on
 * another port runs cold and the warm child is killed; shutdown leaves no
 * warm child behind. Nothing here is timed.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import {
  announceDbSkip,
  createPostgresFixture,
  postgresSkipReason,
} from "../support/databases.ts";
import { startCcpFixture } from "../support/ccp_fixture.ts";
import { eventually } from "../support/eventually.ts";
import { freePort } from "../support/free_port.ts";
import { startGateway } from "../support/gateway_process.ts";
import { assertTargetAudit } from "../support/log_lines.ts";
import {
  callToolText,
  connectMcp,
  issueHandle,
} from "../support/mcp_client.ts";
import { isAlive } from "../support/proc_tree.ts";

const pgSkip = await announceDbSkip(postgresSkipReason());
const SAFE = "DB";

Deno.test({
  name:
    "db_query runs in the executor get_credential warmed, and cold on another port",
  ignore: pgSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const fx = await createPostgresFixture();
    const ccp = await startCcpFixture(SAFE, [{
      Name: "db",
      Content: fx.password,
      UserName: fx.username,
      Address: fx.host,
      PolicyID: "PostgreSQL",
      Port: String(fx.port),
    }, {
      // No Port: the platform's two ports (PLATFORM_PORTS), so the call's
      // port is not known when the handle is issued.
      Name: "two-ports",
      Content: fx.password,
      UserName: fx.username,
      Address: fx.host,
      PolicyID: "PostgreSQL",
    }]);
    // Scope binding off, so that a handle warmed for one port can be spent
    // on another (with it on, the call would be refused before running).
    const gateway = await startGateway({
      ...ccp.gatewayEnv,
      PG_SSLMODE: "disable",
      HANDLE_SCOPE_BINDING: "false",
      PLATFORM_PORTS: `PostgreSQL=${fx.port}|${fx.port + 1}`,
      LOG_LEVEL: "DEBUG",
    });
    let cyberark: Client | undefined;
    let database: Client | undefined;
    const warmLine = (handleId: string, word: string) =>
      gateway.waitFor((e) =>
        e.handle_id === handleId && e.logger === "executors" &&
        String(e.event).startsWith("Warm executor postgres") &&
        String(e.event).includes(word)
      );
    const issued: string[] = [];
    const issue = async (
      object = "db",
    ): Promise<{ handle: string; handleId: string }> => {
      const handle = await issueHandle(cyberark!, {
        safe: SAFE,
        object_name: object,
      });
      const fetched = await gateway.waitFor((e) =>
        e.event === "credential_fetched" &&
        !issued.includes(String(e.handle_id))
      );
      const handleId = String(fetched.handle_id);
      issued.push(handleId);
      return { handle, handleId };
    };
    const query = (handle: string, port: number, sql: string) =>
      callToolText(database!, {
        name: "db_query",
        arguments: {
          host: fx.host,
          port,
          database: fx.database,
          db_type: "postgres",
          query: sql,
          secret_handle: handle,
        },
      });
    try {
      cyberark = await connectMcp(`${gateway.baseUrl}/mcp/cyberark`, ccp.key);
      database = await connectMcp(`${gateway.baseUrl}/mcp/database`, ccp.key);

      await t.step("the matching db_query runs warm", async () => {
        const { handle, handleId } = await issue();
        const started = await warmLine(handleId, "started");
        assertEquals(started.target, `${fx.host}:${fx.port}`);
        assertEquals(started.kind, "postgres");
        const { text, isError } = await query(handle, fx.port, "SELECT 1");
        assertEquals(isError, false, text);
        const line = await gateway.waitFor((e) =>
          e.event === "db_queried" && e.handle_id === handleId
        );
        assertTargetAudit(line, {
          host: fx.host,
          port: fx.port,
          username: fx.username,
        });
        assertEquals(line.executor, "warm");
        await warmLine(handleId, "used");
        const pid = Number(started.pid);
        await eventually(() => assert(!isAlive(pid), `pid ${pid} still runs`));
      });

      await t.step(
        "a db_query on another port runs cold and the warm child dies",
        async () => {
          const { handle, handleId } = await issue();
          const started = await warmLine(handleId, "started");
          const otherPort = freePort();
          const { text, isError } = await query(handle, otherPort, "SELECT 1");
          assertEquals(isError, true, text);
          const line = await gateway.waitFor((e) =>
            e.event === "db_queried" && e.handle_id === handleId
          );
          assertEquals(line.port, otherPort);
          assertEquals(line.executor, "cold");
          const discarded = await warmLine(handleId, "discarded");
          assertEquals(discarded.reason, "mismatch");
          const pid = Number(started.pid);
          await eventually(() =>
            assert(!isAlive(pid), `pid ${pid} still runs`)
          );
        },
      );

      await t.step(
        "a handle whose scope has two ports warms nothing and runs cold",
        async () => {
          const { handle, handleId } = await issue("two-ports");
          const { text, isError } = await query(handle, fx.port, "SELECT 1");
          assertEquals(isError, false, text);
          const line = await gateway.waitFor((e) =>
            e.event === "db_queried" && e.handle_id === handleId
          );
          assertEquals(line.executor, "cold");
          assert(
            !gateway.events().some((e) =>
              e.handle_id === handleId &&
              String(e.event).startsWith("Warm executor")
            ),
            "a warm executor was started for an ambiguous scope",
          );
        },
      );

      await t.step("shutdown kills a warm child still waiting", async () => {
        const { handleId } = await issue();
        const started = await warmLine(handleId, "started");
        const pid = Number(started.pid);
        assert(isAlive(pid));
        await cyberark?.close();
        await database?.close();
        cyberark = undefined;
        database = undefined;
        await gateway.stop();
        await eventually(() => assert(!isAlive(pid), `pid ${pid} still runs`));
        // Killed by the services' close, not only by its stdin closing.
        assert(
          gateway.events().some((e) =>
            e.handle_id === handleId && e.reason === "shutdown"
          ),
          "no discard line with reason shutdown",
        );
      });
      // No log line holds a handle or the password.
      const all = gateway.lines.join("\n");
      assert(!all.includes(fx.password), "a log line holds the password");
      assertMatch(all, /"executor":"warm"/);
    } finally {
      await cyberark?.close();
      await database?.close();
      await gateway.stop().catch(() => {});
      await ccp.close();
      await fx.drop();
    }
  },
});
