/** HTTP/1.1 framing of the one-connection WinRM client. */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../../support/assert.ts";
import { freePort } from "../../../support/free_port.ts";
import {
  type ByteStream,
  headerValue,
  headerValues,
  HttpConnection,
  HttpError,
  openByteStream,
} from "../../../../executors/children/winrm/http_connection.ts";

/** A scripted server: answers each request with the next canned bytes, in pieces. */
class FakeStream implements ByteStream {
  written = "";
  closed = false;
  readonly #replies: Uint8Array[];
  readonly #piece: number;
  #current: Uint8Array | null = null;
  #requests = 0;

  constructor(replies: string[], piece = 1_000_000) {
    this.#replies = replies.map((r) => new TextEncoder().encode(r));
    this.#piece = piece;
  }

  read(buffer: Uint8Array): Promise<number | null> {
    if (this.closed) {
      return Promise.reject(new Deno.errors.BadResource("closed"));
    }
    if (this.#current === null || this.#current.length === 0) {
      // A new reply only after a new request was written.
      const next = this.#requests > 0 ? this.#replies.shift() : undefined;
      this.#requests = Math.max(0, this.#requests - 1);
      if (next === undefined) return Promise.resolve(null);
      this.#current = next;
    }
    const n = Math.min(buffer.length, this.#piece, this.#current.length);
    buffer.set(this.#current.subarray(0, n));
    this.#current = this.#current.subarray(n);
    return Promise.resolve(n);
  }

  write(data: Uint8Array): Promise<number> {
    const text = new TextDecoder().decode(data);
    this.written += text;
    if (text.includes("\r\n\r\n")) this.#requests++;
    return Promise.resolve(data.length);
  }

  close(): void {
    this.closed = true;
  }
}

const post = {
  method: "POST",
  path: "/wsman",
  headers: [["Content-Type", "application/soap+xml;charset=UTF-8"]] as const,
  body: new TextEncoder().encode("<x/>"),
};

Deno.test("HttpConnection writes Host and Content-Length and reads a Content-Length body", async () => {
  const stream = new FakeStream([
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
  ]);
  const connection = new HttpConnection(stream, { hostHeader: "win01:5985" });
  const response = await connection.request(post);
  assertEquals(
    stream.written,
    "POST /wsman HTTP/1.1\r\nHost: win01:5985\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: 4\r\n\r\n<x/>",
  );
  assertEquals(response.status, 200);
  assertEquals(response.reason, "OK");
  assertEquals(new TextDecoder().decode(response.body), "hello");
  assertEquals(headerValue(response.headers, "content-type"), "text/plain");
  assert(connection.isOpen);
});

Deno.test("HttpConnection reads chunked bodies with extensions and trailers, byte by byte", async () => {
  const chunked =
    "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "4;name=value\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n";
  for (const piece of [1, 3, 1_000_000]) {
    const connection = new HttpConnection(
      new FakeStream([chunked, "HTTP/1.1 204 No Content\r\n\r\n"], piece),
      { hostHeader: "h:1" },
    );
    const response = await connection.request(post);
    assertEquals(response.status, 500);
    assertEquals(
      new TextDecoder().decode(response.body),
      "Wikipedia in\r\n\r\nchunks.",
    );
    // The same connection carries the next exchange.
    assertEquals((await connection.request(post)).status, 204);
  }
});

Deno.test("HttpConnection skips 100 Continue and keeps repeated headers apart", async () => {
  const connection = new HttpConnection(
    new FakeStream([
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\n" +
      "WWW-Authenticate: Negotiate\r\nWWW-Authenticate: Kerberos\r\nContent-Length: 0\r\n\r\n",
    ]),
    { hostHeader: "h:1" },
  );
  const response = await connection.request(post);
  assertEquals(response.status, 401);
  assertEquals(headerValues(response.headers, "www-authenticate"), [
    "Negotiate",
    "Kerberos",
  ]);
});

Deno.test("HttpConnection closes after Connection: close, HTTP/1.0 and bodies read to the end", async () => {
  for (
    const reply of [
      "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
      "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
      "HTTP/1.1 200 OK\r\n\r\nok",
    ]
  ) {
    const stream = new FakeStream([reply]);
    const connection = new HttpConnection(stream, { hostHeader: "h:1" });
    const response = await connection.request(post);
    assertEquals(new TextDecoder().decode(response.body), "ok");
    assertEquals(connection.isOpen, false, reply);
    assert(stream.closed);
    await assertRejects(() => connection.request(post), HttpError, "closed");
  }
});

Deno.test("HttpConnection refuses malformed, conflicting, oversized and truncated responses", async () => {
  const cases: [string, string][] = [
    ["SSH-2.0-OpenSSH_9.2\r\n\r\n", "did not answer with HTTP"],
    [
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
      "conflicting Content-Length",
    ],
    ["HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid or conflicting"],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "does not read"],
    [
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "invalid chunk size",
    ],
    [
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
      "middle of a response body",
    ],
    ["HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n", "larger than 100 bytes"],
    ["HTTP/1.1 200 OK\r\nBroken header\r\n\r\n", "malformed header"],
    ["HTTP/1.1 200 OK\r\nContent-Le", "before the end of the response headers"],
  ];
  for (const [reply, message] of cases) {
    const connection = new HttpConnection(new FakeStream([reply]), {
      hostHeader: "h:1",
      maxResponseBytes: 100,
    });
    const error = await assertRejects(
      () => connection.request(post),
      HttpError,
    );
    assertStringIncludes(error.message, message, reply);
    assertEquals(connection.isOpen, false);
  }
});

Deno.test("HttpConnection refuses header injection and a second request in flight", async () => {
  const connection = new HttpConnection(
    new FakeStream(["HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]),
    { hostHeader: "h:1" },
  );
  await assertRejects(
    () =>
      connection.request({
        ...post,
        headers: [["X-Evil", "a\r\nInjected: yes"]],
      }),
    TypeError,
    "Invalid HTTP header",
  );
  assert(connection.isOpen, "nothing was sent");
  const fresh = new HttpConnection(new FakeStream([]), { hostHeader: "h:1" });
  const first = fresh.request(post);
  await assertRejects(() => fresh.request(post), TypeError, "in flight");
  await assertRejects(() => first, HttpError);
});

Deno.test("HttpConnection keeps one TCP connection alive against Deno.serve, with chunked and sized replies", async () => {
  const peers = new Set<number>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request, info) => {
      peers.add(info.remoteAddr.port);
      const body = await request.text();
      if (body === "stream") {
        return new Response(
          new ReadableStream({
            start(controller): void {
              controller.enqueue(new TextEncoder().encode("chunk-1,"));
              controller.enqueue(new TextEncoder().encode("chunk-2"));
              controller.close();
            },
          }),
        );
      }
      return new Response(`echo:${body}:${request.headers.get("host")}`);
    },
  );
  try {
    const stream = await openByteStream({
      host: "127.0.0.1",
      port: server.addr.port,
    });
    const connection = new HttpConnection(stream, {
      hostHeader: `127.0.0.1:${server.addr.port}`,
    });
    const send = async (text: string): Promise<string> =>
      new TextDecoder().decode(
        (await connection.request({
          ...post,
          body: new TextEncoder().encode(text),
        })).body,
      );
    assertEquals(await send("one"), `echo:one:127.0.0.1:${server.addr.port}`);
    assertEquals(await send("stream"), "chunk-1,chunk-2");
    assertEquals(await send("two"), `echo:two:127.0.0.1:${server.addr.port}`);
    assertEquals(peers.size, 1, "all requests on one TCP connection");
    connection.close();
  } finally {
    await server.shutdown();
  }
});

Deno.test("HttpConnection closes the connection when an exchange is aborted", async () => {
  const { promise: hold, resolve: release } = Promise.withResolvers<void>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async () => {
      await hold;
      return new Response("late");
    },
  );
  try {
    const connection = new HttpConnection(
      await openByteStream({ host: "127.0.0.1", port: server.addr.port }),
      { hostHeader: "h:1" },
    );
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("deadline")), 50);
    const error = await assertRejects(
      () => connection.request(post, controller.signal),
      Error,
    );
    assertEquals(error.message, "deadline");
    assertEquals(connection.isOpen, false);
  } finally {
    release();
    await server.shutdown();
  }
});

Deno.test("openByteStream() reports a refused connection as an HttpError of kind connect", async () => {
  const error = await assertRejects(
    () => openByteStream({ host: "127.0.0.1", port: freePort() }),
    HttpError,
  );
  assertEquals(error.kind, "connect");
  assertEquals(error.message, "connection refused");
});

Deno.test("openByteStream() gives up a stalled TLS handshake when the signal aborts", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn); // never answers
  })();
  try {
    const started = performance.now();
    const error = await assertRejects(
      () =>
        openByteStream({
          host: "127.0.0.1",
          port: listener.addr.port,
          tls: { verify: true },
          signal: AbortSignal.timeout(200),
        }),
      DOMException,
    );
    assertEquals(error.name, "TimeoutError");
    // Well short of forever, with room for a loaded machine.
    assert(performance.now() - started < 15_000);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const conn of accepted) conn.close();
  }
});
