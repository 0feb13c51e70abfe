import { assertEquals } from "../support/assert.ts";
import { Secret } from "../../vault/secret.ts";

Deno.test("Secret never prints its value", () => {
  const secret = new Secret("hunter2-very-secret");
  assertEquals(String(secret), "[redacted]");
  assertEquals(`${secret}`, "[redacted]");
  assertEquals(JSON.stringify({ secret }), '{"secret":"[redacted]"}');
  assertEquals(Deno.inspect(secret), "[redacted]");
  assertEquals(Deno.inspect({ nested: { secret } }).includes("hunter2"), false);
  assertEquals(secret.reveal(), "hunter2-very-secret");
});
