/**
 * get_credential warms the executor of a handle's predicted call only while
 * the gateway is not busy: with more MCP requests in flight than
 * `EXECUTOR_MAX_CONCURRENT`, a warm start would take its CPU from the calls
 * being answered. Through the real app and services, the CCP emulator, and
 * the services' own spawner watched for warm requests.
 */
import { assertEquals } from "../../support/assert.ts";
import { startCcpFixture } from "../../support/ccp_fixture.ts";
import { createApp } from "../../../gateway/app.ts";
import { createCcpClient } from "../../../gateway/ccp_setup.ts";
import { loadConfig } from "../../../gateway/config/mod.ts";
import { createServices } from "../../../gateway/services.ts";
import type { WarmRequest } from "../../../executors/spawner/mod.ts";

const SAFE = "DB";

Deno.test("get_credential warms an executor only while no more requests than EXECUTOR_MAX_CONCURRENT are in flight", async () => {
  const ccp = await startCcpFixture(SAFE, [{
    Name: "pg",
    Content: "warm-Secret-6d1a",
    UserName: "app",
    Address: "127.0.0.1",
    PolicyID: "PostgreSQL",
    Port: "5432",
  }]);
  const config = loadConfig({
    env: { ...ccp.gatewayEnv, EXECUTOR_MAX_CONCURRENT: "2" },
    home: "/nonexistent",
  });
  const client = await createCcpClient(config.cyberark);
  const running = await createServices(config, client);
  const { services } = running;
  const warmed: WarmRequest[] = [];
  // Watch (and stop) the warm starts: the decision is under test, not the spawn.
  services.executors.warm = (request) => {
    warmed.push(request);
    return false;
  };
  const app = createApp(services);
  const fetchHandle = async (): Promise<void> => {
    const response = await app.request("/mcp/cyberark", {
      method: "POST",
      headers: {
        host: "localhost",
        "x-api-key": ccp.key,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: {
          name: "get_credential",
          arguments: { safe: SAFE, object_name: "pg" },
        },
      }),
    }, {
      remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
    });
    const text = await response.text();
    assertEquals(response.status, 200, text);
  };
  try {
    await fetchHandle();
    assertEquals(warmed.length, 1, "an idle gateway warms");
    assertEquals(warmed[0]!.target, { host: "127.0.0.1", port: 5432 });
    // Two other requests in flight besides this one: three > 2.
    const others = [
      services.lifecycle.inFlight.begin(),
      services.lifecycle.inFlight.begin(),
    ];
    await fetchHandle();
    assertEquals(warmed.length, 1, "a busy gateway does not warm");
    for (const end of others) end();
    await fetchHandle();
    assertEquals(warmed.length, 2, "warming again once the load is gone");
  } finally {
    client.close();
    await running.close();
    await ccp.close();
  }
});
