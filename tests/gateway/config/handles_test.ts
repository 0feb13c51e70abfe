import { assertEquals } from "../../support/assert.ts";
import { load } from "./_env.ts";

Deno.test("loadConfig() reads the handle rules and warns about each relaxed one", () => {
  const relaxed = load({
    HANDLE_TTL_SECONDS: "60",
    HANDLE_SINGLE_USE: "no",
    HANDLE_HOST_BINDING: "0",
  });
  const { scopeBinding: _scope, scopeRules: _rules, ...handles } =
    relaxed.handles;
  assertEquals(handles, {
    ttlSeconds: 60,
    singleUse: false,
    hostBinding: false,
  });
  assertEquals(relaxed.warnings, [
    "HANDLE_HOST_BINDING=false: a handle can be used against any host, not only the account's Address",
    "HANDLE_SINGLE_USE=false: a handle can be redeemed until it expires",
  ]);
});
