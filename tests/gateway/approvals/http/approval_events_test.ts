import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../../support/assert.ts";
import { eventually } from "../../../support/eventually.ts";
import { MemoryConsoleSessions } from "../../../../gateway/approvals/http/mod.ts";
import { ALICE_KEY, approvalsHarness } from "./_harness.ts";

/** Reads an event stream into `text` as it arrives. */
function collect(
  response: Response,
): { text: () => string; done: Promise<void>; cancel: () => Promise<void> } {
  let text = "";
  const reader = response.body!.pipeThrough(new TextDecoderStream())
    .getReader();
  const done = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      text += value;
    }
  })();
  return { text: () => text, done, cancel: () => reader.cancel() };
}

Deno.test("api/events streams each new request and each decision as a server-sent event, unbuffered by nginx", async () => {
  const h = approvalsHarness();
  let stream: ReturnType<typeof collect> | undefined;
  try {
    const { cookie } = await h.login(ALICE_KEY);
    const response = await h.request("/api/events", {
      headers: { cookie },
    });
    assertEquals(response.status, 200);
    assertEquals(response.headers.get("content-type"), "text/event-stream");
    assertEquals(response.headers.get("x-accel-buffering"), "no");
    assertEquals(response.headers.get("cache-control"), "no-store");
    assertEquals(
      response.headers.get("content-security-policy")?.startsWith(
        "default-src 'none'",
      ),
      true,
    );
    const events = collect(response);
    stream = events;
    await eventually(() => assertStringIncludes(events.text(), "retry: 2000"));

    const { id } = await h.file({ command: "<script>alert(1)</script>" });
    await eventually(() => assertStringIncludes(events.text(), `id: ${id}`));
    const first = events.text().split("\n\n").find((e) =>
      e.includes(`id: ${id}`)
    )!;
    assertStringIncludes(first, "event: request");
    const data = JSON.parse(
      first.split("\n").find((l) => l.startsWith("data: "))!.slice(6),
    );
    assertEquals(data.state, "pending");
    assertEquals(data.command, "<script>alert(1)</script>");

    await h.broker.decide(id, "alice", "deny", "no");
    await eventually(() =>
      assertStringIncludes(events.text(), '"state":"denied"')
    );
  } finally {
    await stream?.cancel();
    await h.close();
  }
});

Deno.test("api/events accepts a Bearer approver key and refuses a request without one", async () => {
  const h = approvalsHarness();
  let stream: ReturnType<typeof collect> | undefined;
  try {
    const refused = await h.request("/api/events");
    assertEquals(refused.status, 401);
    await refused.body?.cancel();
    const response = await h.request("/api/events", {
      headers: { authorization: `Bearer ${ALICE_KEY}` },
    });
    assertEquals(response.status, 200);
    const events = collect(response);
    stream = events;
    const { id } = await h.file();
    await eventually(() => assertStringIncludes(events.text(), `id: ${id}`));
  } finally {
    await stream?.cancel();
    await h.close();
  }
});

Deno.test("api/events ends a session's stream with session-ended when the session ends", async () => {
  const sessions = new MemoryConsoleSessions();
  const h = approvalsHarness({ sessions, sessionSeconds: 1 });
  try {
    const { cookie } = await h.login(ALICE_KEY);
    const response = await h.request("/api/events", { headers: { cookie } });
    assertEquals(response.status, 200);
    const stream = collect(response);
    await stream.done;
    assertStringIncludes(stream.text(), "event: session-ended");
    const after = await h.request("/api/events", { headers: { cookie } });
    assertEquals(after.status, 401);
    await after.body?.cancel();
  } finally {
    await h.close();
  }
});

Deno.test("api/events stops listening to the broker when the client goes away", async () => {
  const h = approvalsHarness();
  let listeners = 0;
  const subscribe = h.broker.subscribe.bind(h.broker);
  h.broker.subscribe = (listener) => {
    listeners++;
    const unsubscribe = subscribe(listener);
    return () => {
      listeners--;
      unsubscribe();
    };
  };
  try {
    const response = await h.request("/api/events", {
      headers: { authorization: `Bearer ${ALICE_KEY}` },
    });
    const stream = collect(response);
    await eventually(() => assert(listeners === 1, "subscribed"));
    await stream.cancel();
    await stream.done.catch(() => {});
    await eventually(() => assertEquals(listeners, 0));
  } finally {
    await h.close();
  }
});
