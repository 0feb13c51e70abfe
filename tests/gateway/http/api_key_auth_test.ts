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
} from "../../../gateway/http/api_key_auth.ts";
import type { GatewayEnv } from "../../../gateway/http/gateway_env.ts";
import { Secret } from "../../../vault/secret.ts";

const KEY = "k".repeat(40);
const UNAUTHORIZED =
  '{"error":"unauthorized","message":"Missing or invalid X-API-Key header; use a key from MCP_API_KEYS"}';

Deno.test("apiKeyVerifier.verify() accepts each configured key and nothing else", () => {
  const a = "a".repeat(40);
  const b = "b".repeat(40);
  const auth = new ApiKeyVerifier([new Secret(a), new Secret(b)]);
  const idA = auth.verify(a);
  const idB = auth.verify(b);
  assertMatch(idA ?? "", /^[0-9a-f]{8}$/);
  assertMatch(idB ?? "", /^[0-9a-f]{8}$/);
  assertEquals(idA === idB, false);
  for (
    const bad of [undefined, null, "", `${a}x`, a.slice(1), "A".repeat(40)]
  ) {
    assertEquals(auth.verify(bad), undefined);
  }
  assertThrows(() => new ApiKeyVerifier([]), RangeError);
});

/**
 * An app behind apiKeyAuth() that answers with the key id it set; `ip` stands
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
  app.use("*", apiKeyAuth({ keys: [new Secret(KEY)] }));
  app.post("*", (c) => c.text(c.get("apiKeyId")));
  return app;
}

Deno.test("apiKeyAuth() sets the key id of a valid X-API-Key and writes no audit line", async () => {
  const lines = await captureLogLines(async () => {
    const response = await authApp("10.0.0.9").request("/mcp/ssh", {
      method: "POST",
      headers: { "x-api-key": KEY },
    });
    assertEquals(response.status, 200);
    assertEquals(
      await response.text(),
      new ApiKeyVerifier([new Secret(KEY)]).verify(KEY),
    );
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
  assertThrows(() => apiKeyAuth({ keys: [] }), RangeError);
});
