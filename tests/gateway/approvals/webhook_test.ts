/**
 * The webhook against a local HTTP server: what it posts, and that a
 * failing or unreachable webhook is logged (origin only) and blocks nothing.
 */
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";
import { eventually } from "../../support/eventually.ts";
import { freePort } from "../../support/free_port.ts";
import { captureLogLines } from "../../support/log_lines.ts";
import type { ApprovalRequest } from "../../../gateway/approvals/approval.ts";
import {
  createApprovalWebhook,
  webhookText,
} from "../../../gateway/approvals/webhook.ts";
import { pendingRequest } from "./_store_contract.ts";

/** A path like Slack's, with the token a log line must never show. */
const TOKEN_PATH = "/services/T000/B000/S3cr3tWebhookToken";

interface Received {
  path: string;
  contentType: string | null;
  body: Record<string, unknown>;
}

/** A local webhook answering `status`; what it received is in `received`. */
function webhookServer(status = 200): {
  url: URL;
  received: Received[];
  close(): Promise<void>;
} {
  const received: Received[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      received.push({
        path: new URL(request.url).pathname,
        contentType: request.headers.get("content-type"),
        body: await request.json(),
      });
      return new Response("ok", { status });
    },
  );
  return {
    url: new URL(`http://127.0.0.1:${server.addr.port}${TOKEN_PATH}?x=1`),
    received,
    close: () => server.shutdown(),
  };
}

Deno.test("createApprovalWebhook() posts each event as JSON with a text line and the request", async () => {
  const server = webhookServer();
  const webhook = createApprovalWebhook({
    url: server.url,
    consoleUrl: new URL("https://mcp.example.internal/approvals/"),
  });
  try {
    const request = pendingRequest(300_000);
    webhook.notify("approval_requested", request);
    const decided: ApprovalRequest = {
      ...request,
      state: "denied",
      decidedAt: Date.now(),
      approver: "bob",
      comment: "not during business hours",
    };
    webhook.notify("approval_denied", decided);
    await eventually(() => assertEquals(server.received.length, 2));
    const byEvent = new Map(
      server.received.map((r) => [r.body.event, r]),
    );
    const asked = byEvent.get("approval_requested")!;
    assertEquals(asked.path, TOKEN_PATH);
    assertEquals(asked.contentType, "application/json");
    assertEquals(
      asked.body.text,
      `alice asks to run ssh_execute on web01.example.internal:22 with PROD-LINUX/web01-root as root: apt-get install -y apache2 &amp;&amp; echo "&lt;script&gt;x&lt;/script&gt;" (rule prod-changes); approve or deny within 300 s; https://mcp.example.internal/approvals/`,
    );
    const shown = asked.body.request as Record<string, unknown>;
    assertEquals(shown.id, request.id);
    assertEquals(shown.state, "pending");
    assertEquals(shown.principal, "alice");
    assertEquals(shown.command, request.command);
    assertEquals(shown.rule, "prod-changes");
    assertEquals(shown.handleId, "0123456789abcdef");
    assertEquals(shown.expiresAt, new Date(request.expiresAt).toISOString());
    const denied = byEvent.get("approval_denied")!;
    assertEquals(
      denied.body.text,
      `bob denied alice's ssh_execute on web01.example.internal:22 (rule prod-changes): "not during business hours"`,
    );
    assertEquals(
      (denied.body.request as Record<string, unknown>).comment,
      "not during business hours",
    );
  } finally {
    await webhook.close();
    await server.close();
  }
});

Deno.test("webhookText() escapes what Slack would read as a mention or a link", () => {
  const text = webhookText("approval_requested", {
    ...pendingRequest(),
    command: "echo <!channel> <https://evil.example|click>",
  });
  assert(!text.includes("<"), text);
  assertStringIncludes(text, "&lt;!channel&gt;");
});

Deno.test("a webhook answering 500, or unreachable, is logged with its origin only and blocks nothing", async () => {
  const server = webhookServer(500);
  const deadPort = freePort();
  const failing = createApprovalWebhook({ url: server.url });
  const unreachable = createApprovalWebhook({
    url: new URL(`http://127.0.0.1:${deadPort}${TOKEN_PATH}`),
    timeoutMs: 2000,
  });
  const request = pendingRequest();
  const lines = await captureLogLines(async () => {
    // notify() returns before any POST is made.
    failing.notify("approval_requested", request);
    unreachable.notify("approval_expired", request);
    await eventually(() => assertEquals(server.received.length, 1));
    await failing.close();
    await unreachable.close();
  });
  await server.close();
  const failures = lines.filter((l) => l.event === "approval_webhook_failed");
  assertEquals(failures.length, 2);
  const byStatus = failures.find((l) => l.status === 500)!;
  assertEquals(byStatus.level, "warning");
  assertEquals(byStatus.request_id, request.id);
  assertEquals(byStatus.origin, server.url.origin);
  const byError = failures.find((l) => l.status === null)!;
  assertEquals(byError.origin, `http://127.0.0.1:${deadPort}`);
  assertEquals(typeof byError.error, "string");
  for (const line of lines) {
    const json = JSON.stringify(line);
    assert(!json.includes("S3cr3tWebhookToken"), json);
    assert(!json.includes("/services/"), json);
  }
});

Deno.test("createApprovalWebhook() runs a bounded number of POSTs and drops what does not fit the queue", async () => {
  let release = (): void => {};
  const gate = new Promise<void>((resolve) => release = resolve);
  let arrived = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      arrived++;
      await request.body?.cancel();
      await gate;
      return new Response("ok");
    },
  );
  const webhook = createApprovalWebhook({
    url: new URL(`http://127.0.0.1:${server.addr.port}${TOKEN_PATH}`),
    maxConcurrent: 2,
    maxQueued: 1,
  });
  const lines = await captureLogLines(async () => {
    for (let i = 0; i < 5; i++) {
      webhook.notify("approval_requested", pendingRequest());
    }
    await eventually(() => assertEquals(arrived, 2));
    release();
    await eventually(() => assertEquals(arrived, 3));
    await webhook.close();
  });
  await server.shutdown();
  assertEquals(
    lines.filter((l) =>
      l.event === "approval_webhook_failed" && l.error === "queue_full"
    ).length,
    2,
  );
});
