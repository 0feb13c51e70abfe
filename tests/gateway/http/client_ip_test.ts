import { Hono } from "hono";
import { assertEquals } from "../../support/assert.ts";
import { clientIp } from "../../../gateway/http/client_ip.ts";
import type { GatewayEnv } from "../../../gateway/http/gateway_env.ts";

/** An app that answers with the address clientIp() recorded. */
function echoApp(trustedProxies: readonly string[]): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  app.use("*", clientIp({ trustedProxies }));
  app.get("*", (c) => c.text(c.get("clientIp")));
  return app;
}

async function seen(
  app: Hono<GatewayEnv>,
  remoteAddr: Deno.NetAddr | Deno.Addr | undefined,
  forwardedFor?: string,
): Promise<string> {
  const response = await app.request(
    "/",
    {
      headers: forwardedFor === undefined
        ? {}
        : { "x-forwarded-for": forwardedFor },
    },
    remoteAddr === undefined ? undefined : { remoteAddr },
  );
  return await response.text();
}

function tcp(hostname: string): Deno.NetAddr {
  return { transport: "tcp", hostname, port: 40000 };
}

Deno.test("clientIp() records the socket peer when it is not a trusted proxy", async () => {
  const app = echoApp(["127.0.0.1"]);
  assertEquals(await seen(app, tcp("10.0.0.9")), "10.0.0.9");
  assertEquals(await seen(app, tcp("10.0.0.9"), "203.0.113.7"), "10.0.0.9");
  assertEquals(await seen(echoApp([]), tcp("::1"), "203.0.113.7"), "::1");
});

Deno.test("clientIp() records the client a trusted proxy names in X-Forwarded-For", async () => {
  const app = echoApp(["127.0.0.1", "10.1.0.0/16"]);
  assertEquals(await seen(app, tcp("127.0.0.1"), "203.0.113.7"), "203.0.113.7");
  assertEquals(
    await seen(app, tcp("10.1.9.9"), "203.0.113.7, 10.1.2.3"),
    "203.0.113.7",
  );
  assertEquals(await seen(app, tcp("127.0.0.1")), "127.0.0.1");
  assertEquals(await seen(app, tcp("127.0.0.1"), "garbage"), "127.0.0.1");
});

Deno.test("clientIp() records unknown when no network peer is bound", async () => {
  const app = echoApp(["127.0.0.1"]);
  assertEquals(await seen(app, undefined, "203.0.113.7"), "unknown");
  assertEquals(
    await seen(app, { transport: "unix", path: "/run/mcp.sock" }),
    "unknown",
  );
});
