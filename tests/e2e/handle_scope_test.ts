/**
 * The security review's attacks on handle scope, against the real service:
 * a PostgreSQL handle sent to a listener the model started on another port
 * of the same host, or given to another tool, is refused before anything
 * connects, the handle survives, and the SIEM sees `handle_scope_refused`.
 * A live handle written into a query never reaches the log redeemable.
 */
import { startCcpFixture } from "../support/ccp_fixture.ts";
import { freePort } from "../support/free_port.ts";
import { startGateway } from "../support/gateway_process.ts";
import {
  callToolText,
  connectMcp,
  issueHandle,
} from "../support/mcp_client.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../support/assert.ts";

/** A listener that counts connections and closes them (a fake database). */
function countingListener(): {
  port: number;
  connections(): number;
  close(): void;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
  let count = 0;
  (async () => {
    for await (const conn of listener) {
      count++;
      conn.close();
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    connections: () => count,
    close: () => listener.close(),
  };
}

Deno.test({
  name:
    "a PostgreSQL handle cannot reach another port or another tool, and a handle in a query is logged as its id",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const ccp = await startCcpFixture("PROD-DB", [{
      Name: "orders-db",
      UserName: "app_user",
      Address: "127.0.0.1",
      Content: "Pg-Secret-For-Scope-Tests-1",
      PolicyID: "PostgreSQL",
    }]);
    const fake = countingListener();
    const gateway = await startGateway({
      ...ccp.gatewayEnv,
      SSH_KNOWN_HOSTS: "disable",
      PG_SSLMODE: "disable",
    });
    const cyberark = await connectMcp(
      `${gateway.baseUrl}/mcp/cyberark`,
      ccp.key,
    );
    const database = await connectMcp(
      `${gateway.baseUrl}/mcp/database`,
      ccp.key,
    );
    const ssh = await connectMcp(`${gateway.baseUrl}/mcp/ssh`, ccp.key);
    const credential = { safe: "PROD-DB", object_name: "orders-db" };
    try {
      await t.step("get_credential says what the handle is for", async () => {
        const { text } = await callToolText(cyberark, {
          name: "get_credential",
          arguments: credential,
        });
        assertStringIncludes(
          text,
          "Use with: db_query (postgres) on 127.0.0.1:5432",
        );
      });

      const handle = await issueHandle(cyberark, credential);

      await t.step(
        "db_query to a listener on another port is refused before connecting",
        async () => {
          const { text, isError } = await callToolText(database, {
            name: "db_query",
            arguments: {
              host: "127.0.0.1",
              port: fake.port,
              database: "orders",
              db_type: "postgres",
              query: "SELECT 1",
              secret_handle: handle,
            },
          });
          assertEquals(isError, true);
          assertStringIncludes(text, "5432");
          assertStringIncludes(text, "the handle was not used");
          assertEquals(fake.connections(), 0);
          const line = await gateway.waitFor((e) =>
            e.event === "handle_scope_refused" && e.port === fake.port
          );
          assertEquals(line.tool, "db_query");
          assertEquals(line.expected_protocol, "postgres");
          assertEquals(line.expected_ports, "5432");
          assertMatch(String(line.handle_id), /^[0-9a-f]{16}$/);
        },
      );

      await t.step(
        "the same handle given to ssh_execute is refused too, and still not spent",
        async () => {
          const { text, isError } = await callToolText(ssh, {
            name: "ssh_execute",
            arguments: {
              host: "127.0.0.1",
              command: "id",
              secret_handle: handle,
            },
          });
          assertEquals(isError, true);
          assertStringIncludes(text, "db_query");
          assertStringIncludes(text, "the handle was not used");
          assert(!text.includes("consumed"), text);
        },
      );

      await t.step(
        "a handle written into a query reaches the log only as its id",
        async () => {
          const other = await issueHandle(cyberark, credential);
          await callToolText(database, {
            name: "db_query",
            arguments: {
              host: "127.0.0.1",
              database: "orders",
              db_type: "postgres",
              // The login fails (wrong password for the local server), but
              // the query is audited all the same.
              query: `SELECT '${other}'`,
              secret_handle: handle,
            },
          });
          await gateway.waitFor((e) => e.event === "db_queried");
          const log = gateway.lines.join("\n");
          assert(!log.includes(other), "a live handle reached the log");
          assert(!log.includes(handle), "a live handle reached the log");
          assertStringIncludes(log, "secret-id:");
          // Mentioning a handle spent nothing: it is still the model's.
          const { text } = await callToolText(ssh, {
            name: "ssh_execute",
            arguments: {
              host: "127.0.0.1",
              command: "id",
              secret_handle: other,
            },
          });
          assertStringIncludes(text, "the handle was not used");
        },
      );
    } finally {
      await cyberark.close();
      await database.close();
      await ssh.close();
      fake.close();
      await gateway.stop();
      await ccp.close();
    }
  },
});
