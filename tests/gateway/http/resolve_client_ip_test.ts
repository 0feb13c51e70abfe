import { assertEquals } from "../../support/assert.ts";
import { resolveClientIp } from "../../../gateway/http/resolve_client_ip.ts";

Deno.test("resolveClientIp() ignores X-Forwarded-For from an untrusted peer", () => {
  assertEquals(resolveClientIp("203.0.113.9", "10.0.0.50", []), "203.0.113.9");
  assertEquals(
    resolveClientIp("203.0.113.9", "10.0.0.50", ["127.0.0.1"]),
    "203.0.113.9",
  );
});

Deno.test("resolveClientIp() believes a trusted proxy and takes the right-most untrusted hop", () => {
  assertEquals(
    resolveClientIp("127.0.0.1", "10.0.0.50", ["127.0.0.1"]),
    "10.0.0.50",
  );
  assertEquals(
    resolveClientIp("10.1.1.1", "6.6.6.6, 10.0.0.50, 10.1.1.2", [
      "10.1.1.0/24",
    ]),
    "10.0.0.50",
  );
  assertEquals(resolveClientIp("::1", "2001:db8::7", ["::1"]), "2001:db8::7");
});

Deno.test("resolveClientIp() falls back to the peer for garbage in X-Forwarded-For", () => {
  assertEquals(
    resolveClientIp("127.0.0.1", "not-an-ip", ["127.0.0.1"]),
    "127.0.0.1",
  );
  assertEquals(resolveClientIp("127.0.0.1", "", ["127.0.0.1"]), "127.0.0.1");
  assertEquals(
    resolveClientIp("127.0.0.1", "fe80::1%eth0", ["127.0.0.1"]),
    "127.0.0.1",
  );
});

Deno.test("resolveClientIp() strips the brackets of an IPv6 hop and trusts a mapped IPv4 peer", () => {
  assertEquals(
    resolveClientIp("::ffff:127.0.0.1", "[2001:db8::7]", ["127.0.0.1"]),
    "2001:db8::7",
  );
});
