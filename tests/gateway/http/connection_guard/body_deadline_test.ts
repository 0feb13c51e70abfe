import {
  assert,
  assertEquals,
  assertRejects,
} from "../../../support/assert.ts";
import {
  BodyTimeoutError,
  withBodyDeadline,
} from "../../../../gateway/http/connection_guard/mod.ts";

/** A body that sends `first` and then nothing, until cancelled. */
function stalled(first: string): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller): void {
      controller.enqueue(new TextEncoder().encode(first));
    },
  });
}

Deno.test("withBodyDeadline(): a body read in time arrives whole, with the request's method, URL and headers", async () => {
  const original = new Request("http://127.0.0.1/mcp/ssh", {
    method: "POST",
    headers: { "x-api-key": "k", "content-type": "application/json" },
    body: '{"jsonrpc":"2.0"}',
  });
  const deadlined = withBodyDeadline(original, 5);
  try {
    const copy = deadlined.request;
    assertEquals(copy.method, "POST");
    assertEquals(copy.url, "http://127.0.0.1/mcp/ssh");
    assertEquals(copy.headers.get("x-api-key"), "k");
    assertEquals(await copy.text(), '{"jsonrpc":"2.0"}');
    assertEquals(deadlined.expired, false);
  } finally {
    deadlined.release();
  }
});

Deno.test("withBodyDeadline(): a body that stops fails with BodyTimeoutError naming HTTP_BODY_TIMEOUT_SECONDS", async () => {
  const deadlined = withBodyDeadline(
    new Request("http://127.0.0.1/", { method: "POST", body: stalled("{") }),
    0.05,
  );
  const error = await assertRejects(
    () => deadlined.request.text(),
    BodyTimeoutError,
  );
  assert(error.message.includes("HTTP_BODY_TIMEOUT_SECONDS"));
  assertEquals(deadlined.expired, true);
});

Deno.test("withBodyDeadline(): released (the handler answered), an unread body never expires", async () => {
  const deadlined = withBodyDeadline(
    new Request("http://127.0.0.1/", { method: "POST", body: stalled("{") }),
    0.05,
  );
  deadlined.release();
  await new Promise((resolve) => setTimeout(resolve, 150));
  assertEquals(deadlined.expired, false);
  await deadlined.request.body?.cancel();
});

Deno.test("withBodyDeadline(): a request without a body is passed on as it is", () => {
  const request = new Request("http://127.0.0.1/health");
  const deadlined = withBodyDeadline(request, 0.05);
  assert(deadlined.request === request, "the same request");
  deadlined.release();
});
