/**
 * The connection guard end to end, with the real gateway (`deno task
 * start`), the CCP emulator, the MCP SDK client and, for a long call, a
 * real OpenSSH server: a connection that sends nothing, a slowloris that
 * never finishes its headers and a body that stops half way are closed
 * after their timeouts; connections over `HTTP_MAX_CONNECTIONS` are closed
 * at once while the open ones go on working; a call that runs longer than
 * the idle timeout is not cut; keep-alive still carries several requests;
 * the audit lines name the real client address (also through
 * `TRUSTED_PROXIES`); and the internal loopback port the guard relays to
 * refuses a request that did not come through the guard.
 *
 * Timing bounds are generous: "closed before 10 s" for a 1 s timeout.
 */
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../support/assert.ts";
import { startCcpFixture } from "../support/ccp_fixture.ts";
import {
  type GatewayProcess,
  startGateway,
} from "../support/gateway_process.ts";
import {
  callToolText,
  connectMcp,
  issueHandle,
} from "../support/mcp_client.ts";
import { RawConnection } from "../support/raw_http.ts";
import { announceSkip, missingToolReason } from "../support/skip.ts";
import { announceSshdSkip, sshdAccount, startSshd } from "../support/sshd.ts";

const skipSsh = await announceSshdSkip();
const PRLIMIT = "/usr/bin/prlimit";
const skipPrlimit = await announceSkip(
  missingToolReason(PRLIMIT, {
    aptPackage: "util-linux",
    suite: "Descriptor exhaustion",
  }),
);

/** A loopback address other than the relay's 127.0.0.1. */
const OTHER_LOOPBACK = "127.0.0.7";
/** What a request for /health looks like on a kept-alive connection. */
const HEALTH = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/** A gateway with the CCP emulator, for the tests that need no sshd. */
async function startWithCcp(
  env: Record<string, string>,
  wrap?: () => string[],
): Promise<{ gateway: GatewayProcess; key: string; close(): Promise<void> }> {
  const ccp = await startCcpFixture("LINUX", [{
    Name: "web-root",
    UserName: "root",
    Address: "web01.internal",
    PolicyID: "UnixSSH",
    Content: `pw-${crypto.randomUUID()}`,
  }]);
  let gateway: GatewayProcess;
  try {
    gateway = await startGateway(
      { ...ccp.gatewayEnv, ...env },
      wrap === undefined ? {} : { wrap },
    );
  } catch (error) {
    await ccp.close();
    throw error;
  }
  return {
    gateway,
    key: ccp.key,
    close: async () => {
      await gateway.stop();
      await ccp.close();
    },
  };
}

/** A POST of `body` to an MCP endpoint, as raw HTTP. */
function mcpPost(
  key: string,
  body: string,
  extraHeaders: Record<string, string> = {},
): string {
  const headers = {
    Host: "127.0.0.1",
    "Content-Type": "application/json",
    Accept: "application/json, text/event-stream",
    "X-API-Key": key,
    "Content-Length": String(new TextEncoder().encode(body).length),
    ...extraHeaders,
  };
  return `POST /mcp/cyberark HTTP/1.1\r\n${
    Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")
  }\r\n${body}`;
}

const GET_CREDENTIAL = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "tools/call",
  params: {
    name: "get_credential",
    arguments: { safe: "LINUX", object_name: "web-root" },
  },
});

/** The lines of the gateway's output that are not one JSON object. */
function notJson(gateway: GatewayProcess): string[] {
  return gateway.lines.filter((line) => {
    if (line.trim() === "") return false;
    try {
      const value = JSON.parse(line);
      return typeof value !== "object" || value === null;
    } catch {
      return true;
    }
  });
}

/** The TCP ports a process listens on, from /proc (Linux). */
function listeningPorts(pid: number): { hostname: string; port: number }[] {
  const inodes = new Set<string>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const target = Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode !== undefined) inodes.add(inode);
    } catch {
      // Closed while we looked.
    }
  }
  const found: { hostname: string; port: number }[] = [];
  const table = Deno.readTextFileSync(`/proc/${pid}/net/tcp`).split("\n")
    .slice(1);
  for (const line of table) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10 || fields[3] !== "0A") continue; // LISTEN
    if (!inodes.has(fields[9]!)) continue;
    const [ipHex, portHex] = fields[1]!.split(":");
    const ip = ipHex!.match(/../g)!.reverse().map((b) => parseInt(b, 16))
      .join(".");
    found.push({ hostname: ip, port: parseInt(portHex!, 16) });
  }
  return found;
}

Deno.test({
  name:
    "connection guard: silent, slowloris and half-body connections are closed after their timeouts",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const setup = await startWithCcp({
      HTTP_HEADER_TIMEOUT_SECONDS: "1",
      HTTP_BODY_TIMEOUT_SECONDS: "1",
      HTTP_IDLE_TIMEOUT_SECONDS: "2",
      HTTP_MAX_CONNECTIONS: "20",
    });
    const { gateway, key } = setup;
    try {
      await t.step(
        "a connection that sends nothing is closed after HTTP_IDLE_TIMEOUT_SECONDS",
        async () => {
          const silent = await RawConnection.open(gateway.port);
          const opened = performance.now();
          assert(await silent.waitForEnd(10_000), "still open after 10 s");
          // Not at once: it had its idle time (2 s; timers never fire early).
          assert(silent.endedAt! - opened >= 1500, "closed before its time");
          assertEquals(silent.pending, "");
          silent.close();
        },
      );

      await t.step(
        "a slowloris (a header byte every 200 ms) is answered 408 and closed after HTTP_HEADER_TIMEOUT_SECONDS",
        async () => {
          const slow = await RawConnection.open(gateway.port);
          await slow.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
          let sent = 0;
          // Never ends its headers; bytes keep coming, so this is not idle.
          while (!slow.ended && sent < 50) {
            await slow.send("X").catch(() => {});
            sent++;
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
          assert(slow.ended, `still open after ${sent} bytes (10 s)`);
          assert(sent >= 3, `closed after ${sent} bytes, before its time`);
          assertStringIncludes(slow.pending, "HTTP/1.1 408 Request Timeout");
          assertStringIncludes(slow.pending, "HTTP_HEADER_TIMEOUT_SECONDS");
          slow.close();
          const closed = await gateway.waitFor((e) =>
            e.event === "connection_closed" && e.reason === "header_timeout"
          );
          assertEquals(closed.client_ip, "127.0.0.1");
          assertEquals(closed.setting, "HTTP_HEADER_TIMEOUT_SECONDS");
          assertEquals(closed.level, "warning");
        },
      );

      await t.step(
        "a body that stops half way (10 of 1000 bytes) gets 408 and is closed after HTTP_BODY_TIMEOUT_SECONDS",
        async () => {
          const half = await RawConnection.open(gateway.port);
          const full = mcpPost(key, "x".repeat(1000));
          await half.send(full.slice(0, full.length - 990));
          const response = await half.readResponse(10_000);
          assertEquals(response.status, 408, response.body);
          assertEquals(response.headers["connection"], "close");
          assertEquals(JSON.parse(response.body).error, "request_timeout");
          assertStringIncludes(response.body, "HTTP_BODY_TIMEOUT_SECONDS");
          assert(await half.waitForEnd(10_000), "still open after the 408");
          half.close();
          const closed = await gateway.waitFor((e) =>
            e.event === "connection_closed" && e.reason === "body_timeout"
          );
          assertEquals(closed.client_ip, "127.0.0.1");
        },
      );

      await t.step(
        "the same half body without a key gets 401 at once, and the connection is still closed",
        async () => {
          const half = await RawConnection.open(gateway.port);
          const full = mcpPost("wrong-key", "x".repeat(1000));
          await half.send(full.slice(0, full.length - 990));
          assertEquals((await half.readResponse(10_000)).status, 401);
          assert(await half.waitForEnd(10_000), "still open after 10 s");
          half.close();
        },
      );

      await t.step("the gateway still answers", async () => {
        const client = await connectMcp(`${gateway.baseUrl}/mcp/cyberark`, key);
        await issueHandle(client, { safe: "LINUX", object_name: "web-root" });
        await client.close();
      });

      await t.step("every line the gateway wrote is JSON", () => {
        assertEquals(notJson(gateway), []);
      });
    } finally {
      await setup.close();
    }
  },
});

Deno.test({
  name:
    "connection guard: over HTTP_MAX_CONNECTIONS new connections are closed at once, open ones keep working; keep-alive, client addresses, the internal port",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const setup = await startWithCcp({
      HTTP_MAX_CONNECTIONS: "20",
      TRUSTED_PROXIES: OTHER_LOOPBACK,
    });
    const { gateway, key } = setup;
    const open: RawConnection[] = [];
    try {
      await t.step(
        "keep-alive: sequential requests share one connection",
        async () => {
          const conn = await RawConnection.open(gateway.port);
          open.push(conn);
          for (let i = 0; i < 3; i++) {
            await conn.send(HEALTH);
            const response = await conn.readResponse();
            assertEquals(response.status, 200);
            assertEquals(JSON.parse(response.body), { status: "ok" });
          }
          await conn.send(mcpPost(key, GET_CREDENTIAL));
          const call = await conn.readResponse();
          assertEquals(call.status, 200);
          assertStringIncludes(call.body, "Handle: secret://");
          assert(!conn.ended);
        },
      );

      await t.step(
        "connections over the cap are closed at once, one warning for the burst",
        async () => {
          while (open.length < 20) {
            const conn = await RawConnection.open(gateway.port);
            open.push(conn);
            await conn.send(HEALTH);
            assertEquals((await conn.readResponse()).status, 200);
          }
          const refused: RawConnection[] = [];
          for (let i = 0; i < 3; i++) {
            const extra = await RawConnection.open(gateway.port);
            refused.push(extra);
            await extra.send(HEALTH).catch(() => {});
          }
          for (const extra of refused) {
            assert(await extra.waitForEnd(10_000), "an extra one stayed open");
            assertEquals(extra.pending, "", "no answer on a refused one");
            extra.close();
          }
          const lines = gateway.events().filter((e) =>
            e.event === "connection_refused"
          );
          assertEquals(lines.length, 1, JSON.stringify(lines));
          assertEquals(lines[0]!.limit, 20);
          assertEquals(lines[0]!.setting, "HTTP_MAX_CONNECTIONS");
          assertEquals(lines[0]!.level, "warning");
          // The open ones were not touched.
          for (const conn of open) {
            await conn.send(HEALTH);
            assertEquals((await conn.readResponse()).status, 200);
          }
        },
      );

      await t.step(
        "once some close, new connections are taken again",
        async () => {
          for (const conn of open.splice(0, 5)) conn.close();
          const again = await (async () => {
            for (let attempt = 0; attempt < 100; attempt++) {
              const conn = await RawConnection.open(gateway.port);
              await conn.send(HEALTH).catch(() => {});
              try {
                await conn.readResponse(5_000);
                return conn;
              } catch {
                conn.close();
                // The guard has not seen the closes yet.
                await new Promise((resolve) => setTimeout(resolve, 50));
              }
            }
            throw new Error("no new connection was taken");
          })();
          open.push(again);
        },
      );
      for (const conn of open.splice(0)) conn.close();

      await t.step(
        "the audit line names the client's own address, not the relay's",
        async () => {
          const other = await RawConnection.open(gateway.port, {
            localAddress: OTHER_LOOPBACK,
          });
          await other.send(mcpPost("wrong-key", "{}"));
          assertEquals((await other.readResponse()).status, 401);
          other.close();
          const line = await gateway.waitFor((e) =>
            e.event === "auth_failure" && e.client_ip === OTHER_LOOPBACK
          );
          assertEquals(line.path, "/mcp/cyberark");
        },
      );

      await t.step(
        "X-Forwarded-For is believed from a trusted proxy only",
        async () => {
          const proxy = await RawConnection.open(gateway.port, {
            localAddress: OTHER_LOOPBACK,
          });
          await proxy.send(
            mcpPost(key, GET_CREDENTIAL, {
              "X-Forwarded-For": "203.0.113.9",
            }),
          );
          assertEquals((await proxy.readResponse()).status, 200);
          proxy.close();
          await gateway.waitFor((e) =>
            e.event === "credential_fetched" && e.client_ip === "203.0.113.9"
          );
          const direct = await RawConnection.open(gateway.port);
          await direct.send(
            mcpPost(key, GET_CREDENTIAL, {
              "X-Forwarded-For": "198.51.100.4",
            }),
          );
          assertEquals((await direct.readResponse()).status, 200);
          direct.close();
          const fetched = await gateway.waitFor((e) =>
            e.event === "credential_fetched" && e.client_ip === "127.0.0.1"
          );
          assert(fetched !== undefined);
          assert(
            !gateway.events().some((e) => e.client_ip === "198.51.100.4"),
            "an untrusted peer's X-Forwarded-For was believed",
          );
        },
      );

      await t.step(
        "a request straight to the internal port is refused with 403",
        async () => {
          const fetched = (): number =>
            gateway.events().filter((e) => e.event === "credential_fetched")
              .length;
          const before = fetched();
          const ports = listeningPorts(gateway.pid);
          const internal = ports.filter((p) => p.port !== gateway.port);
          assertEquals(internal.length, 1, JSON.stringify(ports));
          assertEquals(internal[0]!.hostname, "127.0.0.1");
          for (const request of [HEALTH, mcpPost(key, GET_CREDENTIAL)]) {
            const bypass = await RawConnection.open(internal[0]!.port);
            await bypass.send(request);
            const response = await bypass.readResponse();
            assertEquals(response.status, 403);
            assertStringIncludes(response.body, "relayed");
            bypass.close();
          }
          assertEquals(fetched(), before, "the refused call fetched nothing");
          assertEquals(notJson(gateway), [], "every line is JSON");
        },
      );
    } finally {
      for (const conn of open) conn.close();
      await setup.close();
    }
  },
});

Deno.test({
  name:
    "connection guard: a call that runs longer than HTTP_IDLE_TIMEOUT_SECONDS is not cut",
  ignore: skipSsh !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sshd = await startSshd();
    const ccp = await startCcpFixture("LINUX", [sshdAccount(sshd, "pw")]);
    let gateway: GatewayProcess | undefined;
    try {
      gateway = await startGateway({
        ...ccp.gatewayEnv,
        SSH_KNOWN_HOSTS: sshd.knownHostsPath,
        HTTP_HEADER_TIMEOUT_SECONDS: "1",
        HTTP_BODY_TIMEOUT_SECONDS: "1",
        HTTP_IDLE_TIMEOUT_SECONDS: "2",
      });
      const cyberark = await connectMcp(
        `${gateway.baseUrl}/mcp/cyberark`,
        ccp.key,
      );
      const ssh = await connectMcp(`${gateway.baseUrl}/mcp/ssh`, ccp.key);
      try {
        const handle = await issueHandle(cyberark, {
          safe: "LINUX",
          object_name: "pw",
        });
        // No progress token: a plain JSON answer, nothing on the wire for 4 s.
        const { text, isError } = await callToolText(ssh, {
          name: "ssh_execute",
          arguments: {
            host: "127.0.0.1",
            port: sshd.port,
            command: "sleep 4; echo done",
            secret_handle: handle,
          },
        });
        assertEquals(isError, false, text);
        assertStringIncludes(text, "--- stdout ---\ndone");
      } finally {
        await cyberark.close();
        await ssh.close();
      }
      assert(
        !gateway.events().some((e) => e.event === "connection_closed"),
        "the guard closed a connection",
      );
    } finally {
      await gateway?.stop();
      await ccp.close();
      await sshd.stop();
    }
  },
});

Deno.test({
  name:
    "connection guard: out of file descriptors below HTTP_MAX_CONNECTIONS, the gateway lowers its cap, logs it and goes on serving",
  ignore: skipPrlimit !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // 120 descriptors: about 30 connections at 3 each, far below the cap.
    const setup = await startWithCcp(
      { HTTP_MAX_CONNECTIONS: "1000" },
      () => [PRLIMIT, "--nofile=120", "--"],
    );
    const { gateway } = setup;
    const open: RawConnection[] = [];
    try {
      for (let i = 0; i < 60; i++) {
        const conn = await RawConnection.open(gateway.port).catch(() => null);
        if (conn === null) break;
        open.push(conn);
        await conn.send(HEALTH).catch(() => {});
        await conn.readResponse(2_000).catch(() => {});
      }
      const lowered = await gateway.waitFor((e) =>
        e.event === "connection_limit_lowered"
      );
      assertEquals(lowered.level, "error");
      assertEquals(lowered.reason, "out_of_file_descriptors");
      assert(Number(lowered.limit) < 60, JSON.stringify(lowered));
      assertStringIncludes(String(lowered.message), "LimitNOFILE");
      for (const conn of open.splice(0)) conn.close();
      // Still running, and answering once descriptors are free again.
      const answered = await (async () => {
        for (let attempt = 0; attempt < 100; attempt++) {
          const conn = await RawConnection.open(gateway.port);
          await conn.send(HEALTH).catch(() => {});
          try {
            return (await conn.readResponse(2_000)).status;
          } catch {
            await new Promise((resolve) => setTimeout(resolve, 100));
          } finally {
            conn.close();
          }
        }
        return undefined;
      })();
      assertEquals(answered, 200, gateway.lines.join("\n"));
      const client = await connectMcp(
        `${gateway.baseUrl}/mcp/cyberark`,
        setup.key,
      );
      await issueHandle(client, { safe: "LINUX", object_name: "web-root" });
      await client.close();
      assertEquals(notJson(gateway), [], "every line is JSON");
    } finally {
      for (const conn of open) conn.close();
      await setup.close();
    }
  },
});
