import { assertEquals, assertStringIncludes } from "../support/assert.ts";
import { checkHostAndOrigin } from "../../gateway/host_guard.ts";

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
