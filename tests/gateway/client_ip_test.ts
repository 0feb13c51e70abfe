import { assertEquals } from "../support/assert.ts";
import { clientIp } from "../../gateway/client_ip.ts";

Deno.test("clientIp() ignores X-Forwarded-For from an untrusted peer", () => {
  assertEquals(clientIp("203.0.113.9", "10.0.0.50", []), "203.0.113.9");
  assertEquals(
    clientIp("203.0.113.9", "10.0.0.50", ["127.0.0.1"]),
    "203.0.113.9",
  );
});

Deno.test("clientIp() believes a trusted proxy and takes the right-most untrusted hop", () => {
  assertEquals(clientIp("127.0.0.1", "10.0.0.50", ["127.0.0.1"]), "10.0.0.50");
  assertEquals(
    clientIp("10.1.1.1", "6.6.6.6, 10.0.0.50, 10.1.1.2", ["10.1.1.0/24"]),
    "10.0.0.50",
  );
  assertEquals(clientIp("::1", "2001:db8::7", ["::1"]), "2001:db8::7");
});

Deno.test("clientIp() falls back to the peer for garbage in X-Forwarded-For", () => {
  assertEquals(clientIp("127.0.0.1", "not-an-ip", ["127.0.0.1"]), "127.0.0.1");
  assertEquals(clientIp("127.0.0.1", "", ["127.0.0.1"]), "127.0.0.1");
  assertEquals(
    clientIp("127.0.0.1", "fe80::1%eth0", ["127.0.0.1"]),
    "127.0.0.1",
  );
});

Deno.test("clientIp() strips the brackets of an IPv6 hop and trusts a mapped IPv4 peer", () => {
  assertEquals(
    clientIp("::ffff:127.0.0.1", "[2001:db8::7]", ["127.0.0.1"]),
    "2001:db8::7",
  );
});
