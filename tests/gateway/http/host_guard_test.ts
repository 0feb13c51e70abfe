import { Hono } from "hono";
import { assertEquals, assertStringIncludes } from "../../support/assert.ts";
import {
  checkHostAndOrigin,
  hostGuard,
} from "../../../gateway/http/host_guard.ts";

const ALLOWED = ["localhost", "127.0.0.1", "::1", "mcp.example.internal"];

Deno.test("checkHostAndOrigin() accepts allowed hosts with or without a port", () => {
  for (
    const host of [
      "localhost:8443",
      "127.0.0.1",
      "[::1]:8443",
      "MCP.example.internal",
    ]
  ) {
    assertEquals(checkHostAndOrigin(host, undefined, ALLOWED), undefined, host);
  }
  assertEquals(
    checkHostAndOrigin("localhost", "http://localhost:3000", ALLOWED),
    undefined,
  );
});

Deno.test("checkHostAndOrigin() refuses rebinding hosts, odd Host syntax and foreign origins", () => {
  for (
    const host of [
      "evil.example",
      "evil.example@localhost",
      "localhost/x",
      "",
      "local host",
    ]
  ) {
    assertStringIncludes(
      checkHostAndOrigin(host, undefined, ALLOWED) ?? "",
      "ALLOWED_HOSTS",
    );
  }
  assertStringIncludes(
    checkHostAndOrigin(undefined, undefined, ALLOWED) ?? "",
    "ALLOWED_HOSTS",
  );
  assertStringIncludes(
    checkHostAndOrigin("localhost", "https://evil.example", ALLOWED) ?? "",
    "Origin",
  );
  assertEquals(
    checkHostAndOrigin("anything", "https://evil.example", ["*"]),
    undefined,
  );
});

/** An app behind hostGuard() that answers "reached" when the guard lets it. */
function guardedApp(allowedHosts: readonly string[]): Hono {
  const app = new Hono();
  app.use("*", hostGuard({ allowedHosts }));
  app.post("*", (c) => c.text("reached"));
  return app;
}

Deno.test("hostGuard() answers 403 with the reason and stops the chain", async () => {
  const app = guardedApp(ALLOWED);
  const host = await app.request("/", {
    method: "POST",
    headers: { host: "attacker.example:8443" },
  });
  assertEquals(host.status, 403);
  assertEquals(host.headers.get("content-type"), "application/json");
  assertEquals(
    await host.text(),
    '{"error":"forbidden","message":"Host \\"attacker.example:8443\\" is not allowed; add the name clients use to ALLOWED_HOSTS"}',
  );
  const origin = await app.request("/", {
    method: "POST",
    headers: { host: "localhost", origin: "https://evil.example" },
  });
  assertEquals(origin.status, 403);
  assertEquals(
    await origin.text(),
    '{"error":"forbidden","message":"Origin \\"https://evil.example\\" is not allowed; add its host to ALLOWED_HOSTS"}',
  );
});

Deno.test("hostGuard() passes an allowed Host and Origin on", async () => {
  for (
    const headers of [
      { host: "mcp.example.internal:8443" },
      { host: "[::1]:8443", origin: "http://localhost:3000" },
    ]
  ) {
    const response = await guardedApp(ALLOWED).request("/", {
      method: "POST",
      headers,
    });
    assertEquals(await response.text(), "reached");
  }
  const open = await guardedApp(["*"]).request("/", {
    method: "POST",
    headers: { host: "attacker.example" },
  });
  assertEquals(await open.text(), "reached");
});
