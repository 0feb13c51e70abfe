import {
  allowNetFlag,
  validateTarget,
} from "../../../executors/spawner/mod.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
  assertThrows,
} from "../../support/assert.ts";

Deno.test("validateTarget() accepts hostnames and lower-cases them", () => {
  assertEquals(validateTarget("db01.example.com", 5432), {
    host: "db01.example.com",
    port: 5432,
  });
  assertEquals(
    validateTarget("DB-01.Example.COM", 22).host,
    "db-01.example.com",
  );
  assertEquals(validateTarget("localhost", 1).host, "localhost");
  assertEquals(validateTarget("a", 65535).host, "a");
  assertEquals(
    validateTarget("xn--bcher-kva.example", 22).host,
    "xn--bcher-kva.example",
  );
  assertEquals(validateTarget("1host.example", 22).host, "1host.example");
});

Deno.test("validateTarget() accepts hostnames up to 253 characters and labels up to 63", () => {
  const label = "a".repeat(63);
  const longest = [label, label, label, "a".repeat(61)].join(".");
  assertEquals(longest.length, 253);
  assertEquals(validateTarget(longest, 22).host, longest);
  assertThrows(
    () => validateTarget(`${longest}a`, 22),
    TypeError,
    "at most 253",
  );
  assertThrows(
    () => validateTarget(`${"a".repeat(64)}.example`, 22),
    TypeError,
    "RFC 1123",
  );
});

Deno.test("validateTarget() accepts dotted-quad IPv4 addresses", () => {
  for (
    const host of [
      "127.0.0.1",
      "10.0.0.5",
      "192.0.2.255",
      "255.255.255.255",
      "1.0.0.0",
    ]
  ) {
    assertEquals(validateTarget(host, 22).host, host);
  }
});

Deno.test("validateTarget() refuses IPv4 shorthand, octal, hex and out-of-range forms", () => {
  for (
    const host of [
      "127.1",
      "127.0.1",
      "127.0.0.01",
      "0177.0.0.1",
      "0x7f.0.0.1",
      "0x7f000001",
      "2130706433",
      "256.0.0.1",
      "1.2.3.4.5",
      "1..2.3",
      "example.123",
      "host.0x1f",
    ]
  ) {
    assertThrows(() => validateTarget(host, 22), TypeError, `"${host}"`);
  }
  assertThrows(() => validateTarget("0.0.0.0", 22), TypeError, "unspecified");
});

Deno.test("validateTarget() normalizes IPv6 literals with or without brackets", () => {
  assertEquals(validateTarget("::1", 22).host, "::1");
  assertEquals(validateTarget("[::1]", 22).host, "::1");
  assertEquals(validateTarget("0:0:0:0:0:0:0:1", 22).host, "::1");
  assertEquals(
    validateTarget("2001:DB8:0:0:1:0:0:1", 22).host,
    "2001:db8::1:0:0:1",
  );
  assertEquals(
    validateTarget("2001:0db8:0000:0000:0000:0000:0002:0001", 22).host,
    "2001:db8::2:1",
  );
  assertEquals(
    validateTarget("2001:db8:0:1:1:1:1:1", 22).host,
    "2001:db8:0:1:1:1:1:1",
  );
  assertEquals(validateTarget("fe80::", 22).host, "fe80::");
  assertEquals(validateTarget("::ffff:127.0.0.1", 22).host, "::ffff:7f00:1");
  assertThrows(() => validateTarget("::", 22), TypeError, "unspecified");
});

Deno.test("validateTarget() refuses malformed IPv6 and host:port forms", () => {
  for (
    const host of [
      "::1:22:",
      "1::2::3",
      "12345::1",
      "g::1",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "[::1]:22",
      "[::1",
      "::1]",
      "db01:22",
      "::ffff:127.0.0.01",
      "[[::1]]",
      "db[1]",
    ]
  ) {
    assertThrows(() => validateTarget(host, 22), TypeError);
  }
  assertThrows(
    () => validateTarget("db01:22", 22),
    TypeError,
    "give the port separately",
  );
});

Deno.test("validateTarget() refuses characters that could widen --allow-net", () => {
  const cases: [string, string][] = [
    ["db01,169.254.169.254:80", "comma"],
    ["db01 ", "whitespace"],
    ["db 01", "whitespace"],
    ["db01\n", "control character"],
    ["db01\u0000", "control character"],
    ["\u001b[31mdb01", "control character"],
    ["*.example.com", "wildcard"],
    ["user@db01", '"@"'],
    ["db01/path", "slash"],
    ["http://db01", "slash"],
    ["fe80::1%eth0", "zone id"],
    ["db%2c01", '"%"'],
    ["db01.", "trailing dot"],
    [".db01", "empty label"],
    ["db..01", "empty label"],
    ["-db01", "RFC 1123"],
    ["db01-", "RFC 1123"],
    ["db_01", "RFC 1123"],
    ["dbé01", "RFC 1123"],
    ["", "empty"],
  ];
  for (const [host, problem] of cases) {
    assertThrows(() => validateTarget(host, 22), TypeError, problem);
  }
});

Deno.test("validateTarget() refuses ports outside 1-65535 and non-integers", () => {
  for (
    const port of [0, -1, 65536, 22.5, Number.NaN, Number.POSITIVE_INFINITY]
  ) {
    assertThrows(() => validateTarget("db01", port), TypeError, "1 to 65535");
  }
  assertThrows(
    () => validateTarget("db01", "22" as unknown as number),
    TypeError,
    "1 to 65535",
  );
  assertThrows(
    () => validateTarget(22 as unknown as string, 22),
    TypeError,
    "as a string",
  );
});

Deno.test("validateTarget() echoes only a short escaped prefix of hostile input", () => {
  const hostile = `\u001b]0;pwned\u0007${"A".repeat(5000)},evil:1`;
  const error = assertThrows(() => validateTarget(hostile, 22), TypeError);
  assert(
    error.message.length < 300,
    `message too long: ${error.message.length}`,
  );
  assert(
    !error.message.includes("\u001b"),
    "message contains a raw escape character",
  );
  assert(
    !error.message.includes("evil"),
    "message echoes the tail of the input",
  );
  assertStringIncludes(error.message, "\\u{1b}");
  assertStringIncludes(error.message, "...");
  assertMatch(error.message, /^Invalid executor host "/);
});

Deno.test("allowNetFlag() grants exactly one host:port, bracketing IPv6", () => {
  assertEquals(
    allowNetFlag({ host: "db01.example.com", port: 5432 }),
    "--allow-net=db01.example.com:5432",
  );
  assertEquals(
    allowNetFlag({ host: "127.0.0.1", port: 22 }),
    "--allow-net=127.0.0.1:22",
  );
  assertEquals(allowNetFlag({ host: "::1", port: 22 }), "--allow-net=[::1]:22");
  assertEquals(
    allowNetFlag({ host: "[0:0::1]", port: 22 }),
    "--allow-net=[::1]:22",
  );
});

Deno.test("allowNetFlag() validates an unchecked target again", () => {
  assertThrows(
    () => allowNetFlag({ host: "a,b", port: 22 }),
    TypeError,
    "comma",
  );
  assertThrows(
    () => allowNetFlag({ host: "a", port: 0 }),
    TypeError,
    "1 to 65535",
  );
});
