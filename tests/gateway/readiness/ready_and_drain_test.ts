/**
 * `/ready`, the drain guard and the count of requests in flight, through
 * `app.request()` on the real app over the real services (in-memory
 * handles, or a Redis endpoint where nothing listens); and the drain's
 * sequence ({@linkcode GracefulShutdown}) on a real lifecycle.
 */
import { getLogger } from "@logtape/logtape";
import { createApp } from "../../../gateway/app.ts";
import { createCcpClient } from "../../../gateway/ccp_setup.ts";
import { loadConfig } from "../../../gateway/config/mod.ts";
import {
  GracefulShutdown,
  InFlightRequests,
  Lifecycle,
} from "../../../gateway/readiness/mod.ts";
import { createServices } from "../../../gateway/services.ts";
import type { GatewayServices } from "../../../gateway/tool_context.ts";
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";
import { eventually } from "../../support/eventually.ts";
import { freePort } from "../../support/free_port.ts";
import { captureLogLines } from "../../support/log_lines.ts";
import { randomKeyPrefix } from "../../support/redis.ts";

const KEY = "k".repeat(8) + "0123456789abcdef0123456789abcdef";
const BASE_ENV: Record<string, string> = {
  MCP_API_KEYS: KEY,
  CYBERARK_CCP_URL:
    "https://cyberark.example.internal/AIMWebService/api/Accounts",
  CYBERARK_APP_ID: "MCP-Privileged-Service",
};
const HOST = "localhost:8443";
const TOOLS_LIST = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "tools/list",
});
const SHUTTING_DOWN =
  '{"jsonrpc":"2.0","error":{"code":-32000,"message":"The service is shutting down; retry on another replica"},"id":null}';

type App = ReturnType<typeof createApp>;

async function withApp(
  env: Record<string, string>,
  fn: (app: App, services: GatewayServices) => Promise<void>,
): Promise<void> {
  const config = loadConfig({
    env: { ...BASE_ENV, ...env },
    home: "/nonexistent",
  });
  const ccp = await createCcpClient(config.cyberark);
  const running = await createServices(config, ccp);
  try {
    await fn(createApp(running.services), running.services);
  } finally {
    ccp.close();
    await running.close();
  }
}

function send(
  app: App,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } =
    {},
): Promise<Response> {
  return Promise.resolve(app.request(
    path,
    {
      method: init.method ?? "GET",
      headers: { host: HOST, ...init.headers },
      ...(init.body === undefined ? {} : { body: init.body }),
    },
    { remoteAddr: { transport: "tcp", hostname: "10.0.0.9", port: 50123 } },
  ));
}

function toolsList(app: App): Promise<Response> {
  return send(app, "/mcp/ssh", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "x-api-key": KEY,
    },
    body: TOOLS_LIST,
  });
}

Deno.test("/ready: 503 starting, then 200 ready with every check ok; HEAD too; /health unchanged", async () => {
  await withApp({}, async (app) => {
    const first = await send(app, "/ready");
    const firstBody = await first.json();
    if (first.status === 503) {
      assertEquals(firstBody.status, "starting");
      assertEquals(first.headers.get("retry-after"), "5");
    }
    const ready = await eventually(async () => {
      const response = await send(app, "/ready");
      const body = await response.json();
      assertEquals(response.status, 200, JSON.stringify(body));
      return { response, body };
    }, { timeoutMs: 30_000 });
    assertEquals(ready.body, {
      status: "ready",
      checks: { config: "ok", handle_store: "ok", executor: "ok" },
    });
    assertEquals(ready.response.headers.get("retry-after"), null);
    assertEquals(ready.response.headers.get("cache-control"), "no-store");

    // Like /health: any Host (a kubelet probe names the pod's address).
    const head = await send(app, "/ready", {
      method: "HEAD",
      headers: { host: "10.1.2.3:8443" },
    });
    assertEquals(head.status, 200);
    assertEquals(await head.text(), "");
    const health = await send(app, "/health");
    assertEquals(await health.text(), '{"status":"ok"}');
  });
});

Deno.test("/ready: Redis where nothing listens names the endpoint without its password", async () => {
  const port = freePort();
  const password = `pw-${crypto.randomUUID()}`;
  await withApp({
    HANDLE_STORE: "redis",
    REDIS_URL: `redis://:${password}@127.0.0.1:${port}/0`,
    REDIS_KEY_PREFIX: randomKeyPrefix(),
  }, async (app, services) => {
    const response = await send(app, "/ready");
    const text = await response.text();
    assertEquals(response.status, 503);
    assertEquals(response.headers.get("retry-after"), "5");
    assert(!text.includes(password), text);
    const body = JSON.parse(text);
    assertEquals(body.status, "starting");
    assertEquals(body.checks.config, "ok");
    assertStringIncludes(
      body.checks.handle_store,
      `redis://127.0.0.1:${port}/0`,
    );
    assertStringIncludes(body.checks.handle_store, "REDIS_URL");
    assertEquals(services.lifecycle.ready, false);
  });
});

Deno.test("draining: /ready 503 draining, MCP requests refused with a JSON-RPC error before authentication, the console stays open", async () => {
  await withApp({}, async (app, services) => {
    assertEquals(services.lifecycle.beginDrain(), true);
    assertEquals(services.lifecycle.beginDrain(), false);
    assertEquals(services.lifecycle.state, "draining");
    assertEquals(services.lifecycle.ready, false);

    const ready = await send(app, "/ready");
    assertEquals(ready.status, 503);
    assertEquals(ready.headers.get("retry-after"), "5");
    assertEquals((await ready.json()).status, "draining");

    for (const headers of [{ "x-api-key": KEY }, {}]) {
      const refused = await send(app, "/mcp/ssh", {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: TOOLS_LIST,
      });
      assertEquals(refused.status, 503);
      assertEquals(refused.headers.get("retry-after"), "5");
      assertEquals(refused.headers.get("connection"), "close");
      assertEquals(await refused.text(), SHUTTING_DOWN);
    }
    assertEquals(services.lifecycle.inFlight.count, 0);

    // Approvers can still decide the calls that wait for them.
    const console = await send(app, "/approvals/");
    assert(console.status !== 503, `console answered ${console.status}`);
    await console.body?.cancel();
  });
});

Deno.test("in flight: an MCP request counts until its response body has been read", async () => {
  await withApp({}, async (app, services) => {
    const { inFlight } = services.lifecycle;
    const before = inFlight.finished;
    const response = await toolsList(app);
    assertEquals(response.status, 200);
    assertEquals(inFlight.count, 1);
    let idle = false;
    const waiting = inFlight.idle().then(() => idle = true);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assertEquals(idle, false);
    assertStringIncludes(await response.text(), "ssh_execute");
    await waiting;
    assertEquals(inFlight.count, 0);
    assertEquals(inFlight.finished, before + 1);
    // Other paths are not counted.
    await (await send(app, "/health")).body?.cancel();
    assertEquals(inFlight.finished, before + 1);
  });
});

Deno.test("in flight: a HEAD request on an MCP endpoint ends with its answer, whose body is never sent", async () => {
  await withApp({}, async (app, services) => {
    const { inFlight } = services.lifecycle;
    const before = inFlight.finished;
    // Hono answers HEAD with the GET route (405 here) and drops its body
    // unread; the count must not wait for a body that is never sent.
    const response = await send(app, "/mcp/cyberark", {
      method: "HEAD",
      headers: { "x-api-key": KEY },
    });
    assertEquals(response.status, 405);
    assertEquals(response.body, null);
    assertEquals(inFlight.count, 0);
    assertEquals(inFlight.finished, before + 1);
    await inFlight.idle();
  });
});

Deno.test("InFlightRequests.endingWith(): a stream ends when read to the end, when cancelled, or at once without a body", async () => {
  const inFlight = new InFlightRequests();
  const stream = (): ReadableStream<Uint8Array> =>
    new ReadableStream({
      start(controller): void {
        controller.enqueue(new TextEncoder().encode("event: message\n\n"));
      },
    });
  const read = InFlightRequests.endingWith(
    new Response("done"),
    inFlight.begin(),
  );
  const cancelled = InFlightRequests.endingWith(
    new Response(stream(), {
      headers: { "content-type": "text/event-stream" },
    }),
    inFlight.begin(),
  );
  assertEquals(cancelled.headers.get("content-type"), "text/event-stream");
  InFlightRequests.endingWith(
    new Response(null, { status: 204 }),
    inFlight.begin(),
  );
  assertEquals([inFlight.count, inFlight.finished], [2, 1]);
  assertEquals(await read.text(), "done");
  assertEquals([inFlight.count, inFlight.finished], [1, 2]);
  const reader = cancelled.body!.getReader();
  await reader.read();
  assertEquals(inFlight.count, 1);
  await reader.cancel();
  assertEquals([inFlight.count, inFlight.finished], [0, 3]);
});

/** A drain over a lifecycle without checks, recording what it was asked to do. */
function drainOf(
  lifecycle: Lifecycle,
  graceSeconds: number,
): { shutdown: GracefulShutdown; calls: string[] } {
  const calls: string[] = [];
  const shutdown = new GracefulShutdown({
    lifecycle,
    graceSeconds,
    stopOperations: () => {
      calls.push("stopOperations");
      return 1;
    },
    closeServices: () => {
      calls.push("closeServices");
      return Promise.resolve();
    },
    closeListener: () => {
      calls.push("closeListener");
      return Promise.resolve();
    },
    log: getLogger(["gateway"]),
    settleMs: 50,
  });
  return { shutdown, calls };
}

Deno.test("GracefulShutdown: requests that finish within the grace are counted finished; nothing is stopped", async () => {
  const lifecycle = new Lifecycle();
  const end = lifecycle.inFlight.begin();
  const { shutdown, calls } = drainOf(lifecycle, 3600);
  const lines = await captureLogLines(async () => {
    const done = shutdown.request("SIGTERM");
    assertEquals(lifecycle.state, "draining");
    setTimeout(end, 20);
    const summary = await done;
    assertEquals(summary, {
      signal: "SIGTERM",
      inFlight: 1,
      finished: 1,
      cutOff: 0,
      executorsStopped: 0,
      forced: false,
    });
  });
  assertEquals(calls, ["closeServices", "closeListener"]);
  assertEquals(lifecycle.state, "stopped");
  const draining = lines.find((l) => l.event === "service_draining");
  assertEquals(draining?.in_flight, 1);
  assertEquals(draining?.grace_seconds, 3600);
  const stopped = lines.find((l) => l.event === "service_stopped");
  assertEquals(stopped?.finished, 1);
  assertEquals(stopped?.cut_off, 0);
});

Deno.test("GracefulShutdown: after the grace, what is left is cut off and its executors stopped", async () => {
  const lifecycle = new Lifecycle();
  lifecycle.inFlight.begin();
  const { shutdown, calls } = drainOf(lifecycle, 0);
  const lines = await captureLogLines(async () => {
    const summary = await shutdown.request("SIGINT");
    assertEquals(summary.cutOff, 1);
    assertEquals(summary.finished, 0);
    assertEquals(summary.executorsStopped, 1);
  });
  assertEquals(calls, ["stopOperations", "closeServices", "closeListener"]);
  const stopped = lines.find((l) => l.event === "service_stopped");
  assertEquals(stopped?.signal, "SIGINT");
  assertEquals(stopped?.cut_off, 1);
});

Deno.test("GracefulShutdown: a second signal while draining stops at once", async () => {
  const lifecycle = new Lifecycle();
  lifecycle.inFlight.begin();
  const { shutdown, calls } = drainOf(lifecycle, 3600);
  await captureLogLines(async () => {
    const first = shutdown.request("SIGTERM");
    const second = shutdown.request("SIGTERM");
    assertEquals(first, second);
    const summary = await first;
    assertEquals(summary.forced, true);
    assertEquals(summary.cutOff, 1);
  });
  assertEquals(calls, ["stopOperations", "closeServices", "closeListener"]);
});
