import { getLogger } from "@logtape/logtape";
import { assert, assertEquals } from "../../../support/assert.ts";
import { RawConnection } from "../../../support/raw_http.ts";
import {
  type GuardedHandler,
  type GuardedServer,
  serveGuarded,
} from "../../../../gateway/http/connection_guard/mod.ts";

const GET = (path: string): string =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;

function start(
  handler: GuardedHandler,
  limits: Partial<{
    maxConnections: number;
    headerTimeoutSeconds: number;
    bodyTimeoutSeconds: number;
    idleTimeoutSeconds: number;
  }> = {},
): GuardedServer {
  return serveGuarded({
    hostname: "127.0.0.1",
    port: 0,
    maxConnections: 10,
    headerTimeoutSeconds: 10,
    bodyTimeoutSeconds: 10,
    idleTimeoutSeconds: 60,
    ...limits,
    log: getLogger(["gateway", "http"]),
  }, handler);
}

Deno.test("serveGuarded(): the handler gets the client's own address, not the relay's", async () => {
  const server = start((_request, env) =>
    Response.json({ ip: env.remoteAddr.hostname, port: env.remoteAddr.port })
  );
  try {
    const conn = await RawConnection.open(server.addr.port, {
      localAddress: "127.0.0.7",
    });
    await conn.send(GET("/"));
    const answer = JSON.parse((await conn.readResponse()).body);
    assertEquals(answer.ip, "127.0.0.7");
    conn.close();
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveGuarded(): a request in flight is not cut by the idle timeout, and the connection goes idle after it", async () => {
  const server = start(async () => {
    await new Promise((resolve) => setTimeout(resolve, 600));
    return new Response("late");
  }, { idleTimeoutSeconds: 0.2 });
  try {
    const conn = await RawConnection.open(server.addr.port);
    await conn.send(GET("/"));
    const response = await conn.readResponse();
    assertEquals(response.body, "late");
    assert(await conn.waitForEnd(10_000), "idle afterwards, then closed");
    assertEquals(server.counts.idleTimeouts, 1);
    conn.close();
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveGuarded(): shutdown lets a request in flight finish, closes idle connections and takes no new one", async () => {
  const { promise: arrived, resolve: onArrived } = Promise.withResolvers<
    void
  >();
  const server = start(async (request) => {
    if (new URL(request.url).pathname === "/slow") {
      onArrived();
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    return new Response("done");
  });
  const idle = await RawConnection.open(server.addr.port);
  await idle.send(GET("/"));
  assertEquals((await idle.readResponse()).body, "done");
  const busy = await RawConnection.open(server.addr.port);
  await busy.send(GET("/slow"));
  await arrived;
  const stopped = server.shutdown();
  assertEquals((await busy.readResponse()).body, "done");
  await stopped;
  await server.finished;
  assert(await idle.waitForEnd(5_000), "the idle connection was closed");
  assert(await busy.waitForEnd(5_000), "the busy one too, after its answer");
  assertEquals(server.open, 0);
  const late = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  })
    .then((c) => {
      c.close();
      return "connected";
    }, () => "refused");
  assertEquals(late, "refused");
  idle.close();
  busy.close();
});

Deno.test("serveGuarded(): a body that stalls past the body timeout is answered 408 and the connection closed, whatever the route made of it", async () => {
  const server = start(async (request) => {
    try {
      await request.text();
      return new Response("read");
    } catch {
      return new Response("the route's own error", { status: 400 });
    }
  }, { bodyTimeoutSeconds: 0.2 });
  try {
    const conn = await RawConnection.open(server.addr.port);
    await conn.send(
      "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nabc",
    );
    const response = await conn.readResponse();
    assertEquals(response.status, 408);
    assertEquals(JSON.parse(response.body).error, "request_timeout");
    assert(await conn.waitForEnd(5_000), "closed after the 408");
    assertEquals(server.counts.bodyTimeouts, 1);
    conn.close();
  } finally {
    await server.shutdown();
  }
});
