import { Hono } from "hono";
import { assertEquals } from "../../support/assert.ts";
import { methodNotAllowed } from "../../../gateway/http/method_not_allowed.ts";

Deno.test("methodNotAllowed() answers 405 with Allow: POST and a JSON reason", async () => {
  const app = new Hono();
  app.on(["GET", "DELETE"], "/mcp/x", methodNotAllowed());
  for (const method of ["GET", "DELETE"]) {
    const response = await app.request("/mcp/x", { method });
    assertEquals(response.status, 405);
    assertEquals(response.headers.get("allow"), "POST");
    assertEquals(response.headers.get("content-type"), "application/json");
    assertEquals(
      await response.text(),
      '{"error":"method_not_allowed","message":"This MCP endpoint is stateless: send JSON-RPC requests with POST"}',
    );
  }
});
