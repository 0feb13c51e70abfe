/**
 * Requests the Fetch API cannot copy (found by tests/fuzz/raw_http_test.ts):
 * a method Fetch forbids, a lower-case `get` or `head` carrying a body, and a
 * Host that makes no URL. The gateway answers each with a 4xx or passes it
 * on unchanged, never a 500 and an unhandled-error line, and stays up.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { startCcpFixture } from "../support/ccp_fixture.ts";
import { startGateway } from "../support/gateway_process.ts";
import { encodeRequest, sendRaw } from "../fuzz/_http.ts";

const body = new TextEncoder().encode(
  '{"jsonrpc":"2.0","id":1,"method":"ping"}',
);

Deno.test("requests Fetch cannot copy get a 4xx (or pass unchanged), never a 500", async () => {
  const ccp = await startCcpFixture("FUZZ", []);
  const gateway = await startGateway(ccp.gatewayEnv);
  try {
    const send = (
      method: string,
      target: string,
      host = "localhost",
    ) =>
      sendRaw(
        gateway.port,
        encodeRequest({
          method,
          target,
          headers: [
            ["Host", host],
            ["X-API-Key", ccp.key],
            ["Content-Type", "application/json"],
            ["Accept", "application/json, text/event-stream"],
          ],
          body,
          chunked: false,
        }),
        method,
      );
    for (const method of ["TRACE", "TRACK", "trace"]) {
      for (const target of ["/mcp/cyberark", "/health"]) {
        const answer = await send(method, target);
        assertEquals(answer.status, 405, `${method} ${target}`);
      }
    }
    for (const method of ["get", "head"]) {
      const answer = await send(method, "/health");
      assert(answer.status < 500, `${method} /health: ${answer.status}`);
    }
    for (const host of ["! !", "localhost:99999999999", "|c"]) {
      const health = await send("POST", "/health", host);
      assert(health.status >= 400 && health.status < 500, `Host ${host}`);
      const mcp = await send("POST", "/mcp/cyberark", host);
      assert(mcp.status >= 400 && mcp.status < 500, `Host ${host}`);
    }
    const alive = await fetch(`http://127.0.0.1:${gateway.port}/health`);
    assertEquals(alive.status, 200);
    await alive.body?.cancel();
  } finally {
    await gateway.stop();
    await ccp.close();
  }
  const unhandled = gateway.lines.filter((line) =>
    line.includes("Unhandled error")
  );
  assertEquals(unhandled, []);
});
