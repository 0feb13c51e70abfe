/**
 * With `LOG_FORMAT=json` every line the gateway writes, on stdout and on
 * stderr, is one JSON object, also through a busy run: many concurrent
 * `get_credential` calls, refused and malformed requests, bodies over
 * `MAX_REQUEST_BYTES` (by `Content-Length` and chunked), a chunked body that
 * is accepted, garbage on a raw connection, a client that goes away before
 * its answer, and SIGTERM at the end. A log shipper reads the whole output
 * line by line and trips on anything else (Deno's own plain-text warnings,
 * stray `console` calls, a library printing to stderr).
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { assert, assertEquals } from "../support/assert.ts";
import { startCcpFixture } from "../support/ccp_fixture.ts";
import { PROJECT_ROOT, startGateway } from "../support/gateway_process.ts";
import { connectMcp, issueHandle, postJsonRpc } from "../support/mcp_client.ts";

const ACCOUNT = {
  Name: "web-root",
  UserName: "root",
  Address: "web01.internal",
  PolicyID: "UnixSSH",
  Content: `pw-${crypto.randomUUID()}`,
};
const CLIENTS = 8;
const CALLS_PER_CLIENT = 6;
const MAX_REQUEST_BYTES = 4096;

/** A body that `fetch` sends chunked (no Content-Length), in small pieces. */
function chunked(text: string, pieceBytes: number): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  return new ReadableStream({
    pull(controller): void {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(offset, offset + pieceBytes));
      offset += pieceBytes;
    },
  });
}

/** Writes `request` on a raw connection and reads until the server closes it. */
async function rawExchange(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    return await new Response(conn.readable).text();
  } catch {
    return "";
  }
}

Deno.test({
  name:
    "LOG_FORMAT=json: every line on stdout and stderr of a busy run, SIGTERM included, is one JSON object",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const ccp = await startCcpFixture("LINUX", [ACCOUNT]);
    const gateway = await startGateway({
      ...ccp.gatewayEnv,
      LOG_LEVEL: "DEBUG",
      MAX_REQUEST_BYTES: String(MAX_REQUEST_BYTES),
    });
    const url = `${gateway.baseUrl}/mcp/cyberark`;
    const withKey = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "x-api-key": ccp.key,
    };
    try {
      // Many concurrent tool calls through the MCP SDK client.
      const clients: Client[] = await Promise.all(
        Array.from({ length: CLIENTS }, () => connectMcp(url, ccp.key)),
      );
      try {
        await Promise.all(clients.map(async (client: Client) => {
          for (let i = 0; i < CALLS_PER_CLIENT; i++) {
            await issueHandle(client, {
              safe: "LINUX",
              object_name: "web-root",
            });
          }
        }));
      } finally {
        for (const client of clients) await client.close();
      }

      // Refused and malformed requests.
      const answers: number[] = [];
      const status = async (response: Promise<Response>): Promise<void> => {
        const answer = await response;
        await answer.body?.cancel();
        answers.push(answer.status);
      };
      await Promise.all([
        status(postJsonRpc(url, "tools/list", {
          headers: { "x-api-key": "wrong-key" },
        })),
        status(fetch(url, { method: "POST", headers: withKey, body: "{no" })),
        status(fetch(url, { headers: withKey })),
        status(fetch(`${gateway.baseUrl}/nowhere`)),
        // Over MAX_REQUEST_BYTES: by Content-Length, then chunked.
        status(fetch(url, {
          method: "POST",
          headers: withKey,
          body: "x".repeat(MAX_REQUEST_BYTES + 1),
        })),
        status(fetch(url, {
          method: "POST",
          headers: withKey,
          body: chunked("x".repeat(MAX_REQUEST_BYTES * 2), 512),
        })),
      ]);
      // A chunked body within the limit reaches the endpoint.
      const listed = await fetch(url, {
        method: "POST",
        headers: withKey,
        body: chunked(
          JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
          7,
        ),
      });
      assertEquals(listed.status, 200);
      assert((await listed.text()).includes("get_credential"));
      // Every one is refused; how exactly is not the point here.
      assert(answers.every((code) => code >= 400), answers.join(","));

      // Garbage on a raw connection, and a client that goes away mid-call.
      await rawExchange(gateway.port, "NOT HTTP AT ALL\r\n\r\n");
      await rawExchange(
        gateway.port,
        `POST /mcp/cyberark HTTP/1.1\r\nHost: evil.example\r\nX-API-Key: ${ccp.key}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
      );
      const going = new AbortController();
      const gone = fetch(url, {
        method: "POST",
        headers: withKey,
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 2,
          method: "tools/call",
          params: {
            name: "get_credential",
            arguments: { safe: "LINUX", object_name: "web-root" },
          },
        }),
        signal: going.signal,
      });
      going.abort();
      await gone.catch(() => {});

      // One more call after all that, then SIGTERM.
      const last = await connectMcp(url, ccp.key);
      await issueHandle(last, { safe: "LINUX", object_name: "web-root" });
      await last.close();
      gateway.kill("SIGTERM");
      assertEquals((await gateway.status).code, 0, gateway.lines.join("\n"));
    } finally {
      await gateway.stop();
      await ccp.close();
    }

    const written = gateway.lines.filter((line) => line.trim() !== "");
    const notJson = written.filter((line) => {
      try {
        const value = JSON.parse(line);
        return typeof value !== "object" || value === null ||
          Array.isArray(value);
      } catch {
        return true;
      }
    });
    assertEquals(notJson, [], "lines that are not one JSON object");
    // The run did what it says: the test cannot pass on an empty output.
    const events = written.map((line) => JSON.parse(line).event);
    // (The call whose client went away may or may not have been made.)
    const fetched = events.filter((e) => e === "credential_fetched").length;
    assert(fetched >= CLIENTS * CALLS_PER_CLIENT + 1, `${fetched} fetched`);
    for (
      const expected of ["service_started", "auth_failure", "service_stopped"]
    ) {
      assert(events.includes(expected), `no ${expected} line`);
    }
  },
});

Deno.test("deno.json opts every program in to no-legacy-abort: reading request.signal prints nothing", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-net=127.0.0.1",
      "tests/testdata/http/reads_request_signal.ts",
    ],
    cwd: PROJECT_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stderr) +
    new TextDecoder().decode(output.stdout);
  assertEquals(output.code, 0, text);
  assertEquals(text, "");
});
