import { assertEquals } from "../support/assert.ts";
import { hostMatchesAddress, normalizeHost } from "../../vault/host_binding.ts";

Deno.test("hostMatchesAddress() accepts the address itself, case-insensitively", () => {
  assertEquals(
    hostMatchesAddress("Server01.Internal", "server01.internal"),
    true,
  );
  assertEquals(
    hostMatchesAddress("server01.internal.", "server01.internal"),
    true,
  );
  assertEquals(hostMatchesAddress("10.0.0.5", "10.0.0.5"), true);
  assertEquals(hostMatchesAddress("[::1]", "0:0::1"), true);
});

Deno.test("hostMatchesAddress() accepts hosts under a domain-name address", () => {
  assertEquals(hostMatchesAddress("db1.corp.example", "corp.example"), true);
  assertEquals(hostMatchesAddress("a.b.corp.example", "CORP.example"), true);
});

Deno.test("hostMatchesAddress() refuses look-alikes, other IPs and empty values", () => {
  assertEquals(hostMatchesAddress("evilcorp.example", "corp.example"), false);
  assertEquals(hostMatchesAddress("corp.example.evil", "corp.example"), false);
  assertEquals(hostMatchesAddress("10.0.0.51", "10.0.0.5"), false);
  assertEquals(hostMatchesAddress("1.10.0.0.5", "10.0.0.5"), false);
  assertEquals(hostMatchesAddress("x.localhost", "localhost"), false);
  assertEquals(hostMatchesAddress("server01", ""), false);
  assertEquals(hostMatchesAddress("", "server01"), false);
});

Deno.test("normalizeHost() strips brackets and the root dot", () => {
  assertEquals(normalizeHost("[::1]"), "::1");
  assertEquals(normalizeHost("Host.Example."), "host.example");
});
