import { assertEquals } from "../../support/assert.ts";
import { assertOneLineErrors, load } from "./_env.ts";

Deno.test("loadConfig() errors are one line naming the variable and the fix: HOST, TRUSTED_PROXIES, ALLOWED_HOSTS", () => {
  assertOneLineErrors([
    [{ HOST: "0.0.0.0 ; rm" }, "HOST", "address to listen on"],
    [
      { TRUSTED_PROXIES: "10.0.0.0/33" },
      "TRUSTED_PROXIES",
      "not an IP address or CIDR",
    ],
    [
      { ALLOWED_HOSTS: "good.example,bad host" },
      "ALLOWED_HOSTS",
      "not a host name",
    ],
  ]);
});

Deno.test("loadConfig() reads listener settings: bracketed IPv6, CIDR proxies, lower-cased hosts", () => {
  const http = load({
    HOST: "[::1]",
    PORT: "8080",
    TRUSTED_PROXIES: "127.0.0.1, 10.0.0.0/24,::ffff:10.1.0.0/112",
    ALLOWED_HOSTS: "MCP.Example.internal,[::1]",
  }).http;
  assertEquals(http, {
    hostname: "::1",
    port: 8080,
    trustedProxies: ["127.0.0.1", "10.0.0.0/24", "::ffff:10.1.0.0/112"],
    allowedHosts: ["mcp.example.internal", "::1"],
    maxRequestBytes: 1024 * 1024,
    maxConnections: 1024,
    headerTimeoutSeconds: 10,
    bodyTimeoutSeconds: 30,
    idleTimeoutSeconds: 60,
  });
  assertEquals(load({}).http.allowedHosts, ["localhost", "127.0.0.1", "::1"]);
});

Deno.test("loadConfig() reads the connection guard's bounds, each in its range", () => {
  const http = load({
    HTTP_MAX_CONNECTIONS: "20",
    HTTP_HEADER_TIMEOUT_SECONDS: "1",
    HTTP_BODY_TIMEOUT_SECONDS: "2",
    HTTP_IDLE_TIMEOUT_SECONDS: "3",
  }).http;
  assertEquals(
    [
      http.maxConnections,
      http.headerTimeoutSeconds,
      http.bodyTimeoutSeconds,
      http.idleTimeoutSeconds,
    ],
    [20, 1, 2, 3],
  );
  assertOneLineErrors([
    [{ HTTP_MAX_CONNECTIONS: "0" }, "HTTP_MAX_CONNECTIONS", "from 1 to"],
    [
      { HTTP_HEADER_TIMEOUT_SECONDS: "0" },
      "HTTP_HEADER_TIMEOUT_SECONDS",
      "from 1 to 300",
    ],
    [
      { HTTP_BODY_TIMEOUT_SECONDS: "soon" },
      "HTTP_BODY_TIMEOUT_SECONDS",
      "not a whole number of seconds",
    ],
    [
      { HTTP_IDLE_TIMEOUT_SECONDS: "3601" },
      "HTTP_IDLE_TIMEOUT_SECONDS",
      "from 1 to 3600",
    ],
  ]);
});

Deno.test("loadConfig() refuses proxies the IP parser refuses: zone ids, brackets, leading zeros", () => {
  for (
    const proxy of ["fe80::1%eth0", "[::1]", "010.0.0.1", "10.0.0.0/", "::/129"]
  ) {
    assertOneLineErrors([
      [
        { TRUSTED_PROXIES: proxy },
        "TRUSTED_PROXIES",
        "not an IP address or CIDR",
      ],
    ]);
  }
});
