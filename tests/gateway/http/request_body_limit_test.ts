import { Hono } from "hono";
import { assertEquals } from "../../support/assert.ts";
import { requestBodyLimit } from "../../../gateway/http/request_body_limit.ts";

const TOO_LARGE =
  '{"error":"payload_too_large","message":"Request body is larger than 1024 bytes (MAX_REQUEST_BYTES)"}';

/** An app that answers with the length of the body the limit let through. */
function lengthApp(): Hono {
  const app = new Hono();
  app.use("*", requestBodyLimit({ maxBytes: 1024 }));
  app.post("*", async (c) => c.text(String((await c.req.text()).length)));
  return app;
}

function chunked(size: number, chunkBytes: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller): void {
      if (sent >= size) {
        controller.close();
        return;
      }
      const n = Math.min(chunkBytes, size - sent);
      controller.enqueue(new Uint8Array(n).fill(0x78));
      sent += n;
    },
  });
}

Deno.test("requestBodyLimit() answers 413 for a Content-Length over the limit", async () => {
  const response = await lengthApp().request("/", {
    method: "POST",
    headers: { "content-length": "1025" },
    body: "x".repeat(1025),
  });
  assertEquals(response.status, 413);
  assertEquals(response.headers.get("content-type"), "application/json");
  assertEquals(await response.text(), TOO_LARGE);
});

Deno.test("requestBodyLimit() answers 413 for a chunked body once it passes the limit", async () => {
  const response = await lengthApp().request("/", {
    method: "POST",
    body: chunked(1_000_000, 300),
  });
  assertEquals(response.status, 413);
  assertEquals(await response.text(), TOO_LARGE);
});

Deno.test("requestBodyLimit() passes a body within the limit on whole", async () => {
  const app = lengthApp();
  const cases: [BodyInit, string][] = [
    [chunked(1024, 100), "1024"],
    [chunked(0, 100), "0"],
    ["x".repeat(1024), "1024"],
  ];
  for (const [body, length] of cases) {
    const response = await app.request("/", { method: "POST", body });
    assertEquals(response.status, 200);
    assertEquals(await response.text(), length);
  }
  const declared = await app.request("/", {
    method: "POST",
    headers: { "content-length": "1024" },
    body: "x".repeat(1024),
  });
  assertEquals(await declared.text(), "1024");
});

Deno.test("requestBodyLimit() lets a request without a body through", async () => {
  const app = new Hono();
  app.use("*", requestBodyLimit({ maxBytes: 1024 }));
  app.get("*", (c) => c.text("reached"));
  const response = await app.request("/");
  assertEquals(await response.text(), "reached");
});
