import { assertEquals } from "../support/assert.ts";
import { clientIp } from "../../gateway/client_ip.ts";
import { ipMatchesAny, parseIp } from "../../gateway/ip_match.ts";

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
});

Deno.test("ipMatchesAny() matches IPv4, IPv6 and IPv4-mapped addresses against CIDRs", () => {
  assertEquals(ipMatchesAny("10.0.0.200", ["10.0.0.0/24"]), true);
  assertEquals(ipMatchesAny("10.0.1.1", ["10.0.0.0/24"]), false);
  assertEquals(ipMatchesAny("::ffff:127.0.0.1", ["127.0.0.0/8"]), true);
  assertEquals(ipMatchesAny("2001:db8::1", ["2001:db8::/32"]), true);
  assertEquals(ipMatchesAny("2001:db9::1", ["2001:db8::/32"]), false);
  assertEquals(ipMatchesAny("1.2.3.4", ["0.0.0.0/0"]), true);
  assertEquals(parseIp("01.2.3.4"), undefined);
  assertEquals(parseIp("1.2.3"), undefined);
});
