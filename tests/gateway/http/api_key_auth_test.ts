import { Hono } from "hono";
import {
  assert,
  assertEquals,
  assertMatch,
  assertThrows,
} from "../../support/assert.ts";
import { captureLogLines } from "../../support/log_lines.ts";
import {
  apiKeyAuth,
  ApiKeyVerifier,
  type KeyedPrincipal,
} from "../../../gateway/http/api_key_auth.ts";
import type { GatewayEnv } from "../../../gateway/http/gateway_env.ts";
import { Secret } from "../../../vault/secret.ts";
import { apiKeyDigest } from "../../../gateway/config/mod.ts";

const KEY = "k".repeat(40);

/** A principal as the configuration builds it from `NAME:KEY`. */
function principal(name: string, key: string): KeyedPrincipal {
  return { name, sha256: new Secret(apiKeyDigest(key)) };
}
const UNAUTHORIZED =
  '{"error":"unauthorized","message":"Missing or invalid X-API-Key header; use a key from MCP_API_KEYS"}';

Deno.test("apiKeyVerifier.verify() names the principal of each configured key and accepts nothing else", () => {
  const a = "a".repeat(40);
  const b = "b".repeat(40);
  const auth = new ApiKeyVerifier([principal("alpha", a), principal("b", b)]);
  assertEquals(auth.verify(a), "alpha");
  assertEquals(auth.verify(b), "b");
  for (
    const bad of [undefined, null, "", `${a}x`, a.slice(1), "A".repeat(40)]
  ) {
    assertEquals(auth.verify(bad), undefined);
  }
  assertThrows(() => new ApiKeyVerifier([]), RangeError);
});

Deno.test("apiKeyVerifier.verify() accepts a key from its sha256sum digest (MCP_API_KEYS_FILE)", () => {
  const key = "c".repeat(16) + "0123456789abcdef0123";
  // printf %s "$KEY" | sha256sum
  const sha256sum = apiKeyDigest(key);
  assertMatch(sha256sum, /^[0-9a-f]{64}$/);
  const auth = new ApiKeyVerifier([
    principal("from-env", KEY),
    { name: "from-file", sha256: new Secret(sha256sum) },
  ]);
  assertEquals(auth.verify(key), "from-file");
  assertEquals(auth.verify(KEY), "from-env");
  assertEquals(auth.verify(sha256sum), undefined, "the digest is no key");
});

Deno.test("apiKeyVerifier.verify() compares every digest with timingSafeEqual, whatever matches", async () => {
  const source = await Deno.readTextFile(
    new URL("../../../gateway/http/api_key_auth.ts", import.meta.url),
  );
  const verify = source.slice(source.indexOf("  verify("));
  const loop = verify.slice(0, verify.indexOf("return match"));
  assertMatch(
    loop,
    /for \(const known of this\.#known\) \{\n\s+if \(timingSafeEqual\(candidate, known\.digest\)\) match = known\.name;\n\s+\}/,
  );
  assert(
    !/break|return/.test(loop.slice(loop.indexOf("for ("))),
    "no early exit",
  );
});

Deno.test("new ApiKeyVerifier() refuses a digest that is not 64 lowercase hex digits", () => {
  for (const bad of ["AB".repeat(32), "ab".repeat(31), "zz".repeat(32)]) {
    assertThrows(
      () => new ApiKeyVerifier([{ name: "x", sha256: new Secret(bad) }]),
      RangeError,
    );
  }
});

/**
 * An app behind apiKeyAuth() that answers with the principal it set; `ip` stands
 * in for clientIp() (undefined: no such step before it).
 */
function authApp(ip: string | undefined): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  if (ip !== undefined) {
    app.use("*", async (c, next): Promise<void> => {
      c.set("clientIp", ip);
      await next();
    });
  }
  app.use("*", apiKeyAuth({ principals: [principal("agent-7", KEY)] }));
  app.post("*", (c) => c.json(c.get("principal")));
  return app;
}

Deno.test("apiKeyAuth() sets the principal of a valid X-API-Key and writes no audit line", async () => {
  const lines = await captureLogLines(async () => {
    const response = await authApp("10.0.0.9").request("/mcp/ssh", {
      method: "POST",
      headers: { "x-api-key": KEY },
    });
    assertEquals(response.status, 200);
    assertEquals(await response.json(), { name: "agent-7", auth: "api_key" });
  });
  assertEquals(lines, []);
});

Deno.test("apiKeyAuth() answers 401 and writes auth_failure with client_ip and path", async () => {
  const lines = await captureLogLines(async () => {
    for (const headers of [{}, { "x-api-key": `${KEY}x` }]) {
      const response = await authApp("10.0.0.9").request("/mcp/ssh", {
        method: "POST",
        headers,
      });
      assertEquals(response.status, 401);
      assertEquals(response.headers.get("content-type"), "application/json");
      assertEquals(await response.text(), UNAUTHORIZED);
    }
  });
  assertEquals(lines.length, 2);
  for (const line of lines) {
    const { timestamp, ...rest } = line;
    assertMatch(String(timestamp), /Z$/);
    assertEquals(rest, {
      event: "auth_failure",
      logger: "audit",
      level: "warning",
      reason: "invalid_or_missing_api_key",
      client_ip: "10.0.0.9",
      path: "/mcp/ssh",
    });
  }
  assert(!JSON.stringify(lines).includes(KEY), "no key in the audit line");
});

Deno.test("apiKeyAuth() refuses to run without clientIp() before it", async () => {
  const app = authApp(undefined);
  let caught: unknown;
  app.onError((error, c) => {
    caught = error;
    return c.text("error", 500);
  });
  const response = await app.request("/", {
    method: "POST",
    headers: { "x-api-key": KEY },
  });
  assertEquals(response.status, 500);
  await response.body?.cancel();
  assert(caught instanceof TypeError, "a TypeError names the misuse");
  assertMatch(caught.message, /register clientIp\(\) before it/);
});

Deno.test("apiKeyAuth() needs at least one key", () => {
  assertThrows(() => apiKeyAuth({ principals: [] }), RangeError);
});
