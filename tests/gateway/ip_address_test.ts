import { assert, assertEquals } from "../support/assert.ts";
import {
  inNetwork,
  ipMatchesAny,
  isIp,
  isIpOrCidr,
  isLoopback,
  parseCidr,
  parseIp,
  unbracket,
} from "../../gateway/ip_address.ts";

const MAPPED = 0xffff_0000_0000n;

Deno.test("parseIp() reads IPv4 as four decimal parts without leading zeros", () => {
  assertEquals(parseIp("10.0.0.1"), { family: 4, value: MAPPED | 0x0a000001n });
  assertEquals(parseIp("0.0.0.0"), { family: 4, value: MAPPED });
  assertEquals(parseIp("255.255.255.255")?.value, MAPPED | 0xffffffffn);
  for (
    const junk of [
      "01.2.3.4",
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "1.2.3.",
      "1..2.3",
      "1.2.3.4 ",
      "0x1.2.3.4",
      "１.2.3.4",
    ]
  ) {
    assertEquals(parseIp(junk), undefined, junk);
  }
});

Deno.test("parseIp() reads IPv6 with :: and an IPv4 tail, in any case", () => {
  assertEquals(parseIp("::"), { family: 6, value: 0n });
  assertEquals(parseIp("::1"), { family: 6, value: 1n });
  assertEquals(
    parseIp("2001:DB8::7")?.value,
    0x2001_0db8_0000_0000_0000_0000_0000_0007n,
  );
  assertEquals(
    parseIp("1:2:3:4:5:6:7:8")?.value,
    0x0001_0002_0003_0004_0005_0006_0007_0008n,
  );
  assertEquals(
    parseIp("1:2:3:4:5:6:7::")?.value,
    0x0001_0002_0003_0004_0005_0006_0007_0000n,
  );
  assertEquals(
    parseIp("::2:3:4:5:6:7:8")?.value,
    0x0000_0002_0003_0004_0005_0006_0007_0008n,
  );
  assertEquals(parseIp("0001:0:0:0:0:0:0:0001")?.value, parseIp("1::1")?.value);
  assertEquals(
    parseIp("64:ff9b::192.0.2.33")?.value,
    0x0064_ff9b_0000_0000_0000_0000_c000_0221n,
  );
  assertEquals(parseIp("1:2:3:4:5:6:1.2.3.4")?.family, 6);
});

Deno.test("parseIp() gives an IPv4-mapped IPv6 address the value of its IPv4 address", () => {
  const mapped = parseIp("::ffff:10.0.0.1");
  assertEquals(mapped?.family, 6);
  assertEquals(mapped?.value, parseIp("10.0.0.1")?.value);
  assertEquals(parseIp("::ffff:a00:1")?.value, parseIp("10.0.0.1")?.value);
});

Deno.test("parseIp() refuses zone ids, brackets and malformed IPv6", () => {
  for (
    const junk of [
      "fe80::1%eth0",
      "fe80::1%25eth0",
      "[::1]",
      "1::2::3",
      ":1",
      "1:",
      ":::",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8::",
      "::1:2:3:4:5:6:7:8",
      "12345::",
      "g::1",
      "::1.2.3",
      "::01.2.3.4",
      "1.2.3.4::",
      "::1.2.3.4:1",
      "1:2:3:4:5:6::1.2.3.4",
      "",
      "localhost",
      " ::1",
    ]
  ) {
    assertEquals(parseIp(junk), undefined, junk);
    assertEquals(isIp(junk), false, junk);
  }
});

Deno.test("unbracket() strips the brackets URLs and headers put around IPv6", () => {
  assertEquals(unbracket("[::1]"), "::1");
  assertEquals(unbracket("10.0.0.1"), "10.0.0.1");
  assert(isIp(unbracket("[2001:db8::1]")));
});

Deno.test("parseCidr() reads an address or ADDRESS/PREFIX within the family's bits", () => {
  assertEquals(parseCidr("10.0.0.0/24")?.prefix, 24);
  assertEquals(parseCidr("10.0.0.1")?.prefix, 32);
  assertEquals(parseCidr("2001:db8::/32")?.prefix, 32);
  assertEquals(parseCidr("::1")?.prefix, 128);
  assertEquals(parseCidr("0.0.0.0/0")?.prefix, 0);
  for (
    const junk of [
      "10.0.0.0/33",
      "::/129",
      "10.0.0.0/",
      "10.0.0.0/8/8",
      "10.0.0.0/-1",
      "10.0.0.0/ 8",
      "10.0.0.0/0x8",
      "[::1]/128",
      "host/24",
      "fe80::%eth0/64",
    ]
  ) {
    assertEquals(parseCidr(junk), undefined, junk);
    assertEquals(isIpOrCidr(junk), false, junk);
  }
});

Deno.test("inNetwork() compares IPv4 and IPv4-mapped IPv6 alike", () => {
  const net = parseCidr("10.0.0.0/24")!;
  assert(inNetwork(parseIp("10.0.0.200")!, net));
  assert(inNetwork(parseIp("::ffff:10.0.0.200")!, net));
  assert(!inNetwork(parseIp("10.0.1.1")!, net));
  assert(!inNetwork(parseIp("::a00:1")!, net), "IPv4-compatible is not mapped");
  assert(inNetwork(parseIp("10.0.0.1")!, parseCidr("::ffff:0:0/96")!));
  assert(inNetwork(parseIp("10.0.0.1")!, parseCidr("::/0")!));
  assert(!inNetwork(parseIp("2001:db8::1")!, parseCidr("0.0.0.0/0")!));
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

Deno.test("ipMatchesAny() allows spaces and brackets around the address, never junk", () => {
  assertEquals(ipMatchesAny(" [::1] ", ["::1"]), true);
  assertEquals(ipMatchesAny("fe80::1%eth0", ["::/0"]), false);
  assertEquals(ipMatchesAny("not-an-ip", ["0.0.0.0/0", "::/0"]), false);
  assertEquals(ipMatchesAny("10.0.0.1", ["junk", "10.0.0.0/"]), false);
  assertEquals(ipMatchesAny("10.0.0.1", []), false);
});

Deno.test("isLoopback() is true for 127.0.0.0/8, its mapped form and ::1 only", () => {
  for (
    const ip of [
      "127.0.0.1",
      "127.255.0.9",
      "::ffff:127.0.0.1",
      "::1",
      "0:0::1",
    ]
  ) {
    assert(isLoopback(parseIp(ip)!), ip);
  }
  for (const ip of ["128.0.0.1", "10.0.0.1", "::", "::2", "::127.0.0.1"]) {
    assert(!isLoopback(parseIp(ip)!), ip);
  }
});
