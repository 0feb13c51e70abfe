/**
 * Two real gateway processes (`deno task start`) behind no load balancer at
 * all: both use one Redis (`HANDLE_STORE=redis`, the same key prefix), one
 * CCP emulator and one OpenSSH server. A handle issued by replica A works on
 * replica B exactly once, and Redis never holds a plaintext secret. Failed
 * authentications counted on A block the address on B; without Redis a
 * replica counts them in its own memory.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../support/assert.ts";
import {
  type GatewayProcess,
  startGateway,
} from "../support/gateway_process.ts";
import { startCcpFixture } from "../support/ccp_fixture.ts";
import { assertNoLeak } from "../support/log_lines.ts";
import {
  callToolText,
  connectMcp,
  issueHandle,
  postJsonRpc,
  resultText,
  type ToolOutcome,
} from "../support/mcp_client.ts";
import {
  announceRedisSkip,
  deleteKeysUnder,
  keysUnder,
  randomKeyPrefix,
  rawRedis,
} from "../support/redis.ts";
import { announceSshdSkip, sshdAccount, startSshd } from "../support/sshd.ts";
import { freePort } from "../support/free_port.ts";

const sshdSkip = await announceSshdSkip();
const redisSkip = await announceRedisSkip();

/** One replica and its MCP clients. */
interface Replica {
  gateway: GatewayProcess;
  cyberark: Client;
  ssh: Client;
}

async function connectReplica(
  gateway: GatewayProcess,
  key: string,
): Promise<Replica> {
  return {
    gateway,
    cyberark: await connectMcp(`${gateway.baseUrl}/mcp/cyberark`, key),
    ssh: await connectMcp(`${gateway.baseUrl}/mcp/ssh`, key),
  };
}

Deno.test({
  name:
    "two gateway replicas share handles through Redis: issued on A, redeemed once on B, ciphertext only in Redis",
  ignore: sshdSkip !== null || redisSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const sshd = await startSshd();
    const ccp = await startCcpFixture("LINUX", [
      sshdAccount(sshd, "pw"),
      sshdAccount(sshd, "key-enc", {
        Content: sshd.encryptedPrivateKeyPem,
        Passphrase: sshd.keyPassphrase,
      }),
    ]);
    const { key } = ccp;
    const prefix = randomKeyPrefix();
    const env = {
      ...ccp.gatewayEnv,
      SSH_KNOWN_HOSTS: sshd.knownHostsPath,
      HANDLE_STORE: "redis",
      REDIS_URL: "redis://127.0.0.1:6379/0",
      REDIS_KEY_PREFIX: prefix,
    };
    const gateways = await Promise.all([startGateway(env), startGateway(env)]);
    const replicas: Replica[] = [];
    const handles: string[] = [];
    const getCredential = async (
      replica: Replica,
      object: string,
    ): Promise<string> => {
      const handle = await issueHandle(replica.cyberark, {
        safe: "LINUX",
        object_name: object,
      });
      handles.push(handle);
      return handle;
    };
    const sshExecute = (
      replica: Replica,
      handle: string,
    ): Promise<ToolOutcome> =>
      callToolText(replica.ssh, {
        name: "ssh_execute",
        arguments: {
          host: "127.0.0.1",
          port: sshd.port,
          command: "echo replica-$((20+22))",
          secret_handle: handle,
        },
      });
    try {
      for (const gateway of gateways) {
        replicas.push(await connectReplica(gateway, key));
      }
      const [a, b] = replicas as [Replica, Replica];

      await t.step("both replicas start on the Redis store", async () => {
        for (const { gateway } of replicas) {
          const started = await gateway.waitFor((e) =>
            e.event === "service_started"
          );
          assertEquals(started.handle_store, "redis://127.0.0.1:6379/0");
        }
      });

      await t.step(
        "a handle issued by replica A runs ssh_execute on replica B, and is then consumed for A too",
        async () => {
          const handle = await getCredential(a, "pw");
          const onB = await sshExecute(b, handle);
          assertEquals(onB.isError, false, onB.text);
          assertStringIncludes(onB.text, "Exit code: 0");
          assertStringIncludes(onB.text, "replica-42");
          const onA = await sshExecute(a, handle);
          assertEquals(onA.isError, true);
          assertMatch(onA.text, /^Handle already consumed: /);
          const refused = await a.gateway.waitFor((e) =>
            e.event === "handle_expired" && e.reason === "already_consumed"
          );
          assertEquals(refused.tool, "ssh_execute");
          const onBAgain = await sshExecute(b, handle);
          assertMatch(onBAgain.text, /^Handle already consumed: /);
        },
      );

      await t.step(
        "Redis holds only ciphertext of a private key and its passphrase, which replica A decrypts",
        async () => {
          const handle = await getCredential(b, "key-enc");
          const keys = await keysUnder(prefix);
          assert(keys.length >= 2, keys.join(", "));
          const raw = rawRedis();
          try {
            for (const redisKey of keys) {
              assert(!redisKey.includes(handle.slice("secret://".length)));
              const value = await raw.getBuffer(redisKey);
              const text = new TextDecoder("latin1").decode(value ?? undefined);
              const decoded = text.startsWith("v1.")
                ? text.split(".").slice(2).map((p) => atob(p)).join("")
                : "";
              for (
                const plain of [
                  sshd.password,
                  sshd.keyPassphrase,
                  sshd.username,
                  "PRIVATE KEY",
                  "127.0.0.1",
                  "LINUX",
                ]
              ) {
                assert(!text.includes(plain), `${redisKey} holds ${plain}`);
                assert(!decoded.includes(plain), `${redisKey} holds ${plain}`);
              }
            }
          } finally {
            raw.disconnect();
          }
          const onA = await sshExecute(a, handle);
          assertEquals(onA.isError, false, onA.text);
          assertStringIncludes(onA.text, "replica-42");
        },
      );
    } finally {
      for (const replica of replicas) {
        await replica.cyberark.close();
        await replica.ssh.close();
      }
      await Promise.all(gateways.map((g) => g.stop()));
      await deleteKeysUnder(prefix);
      await ccp.close();
      await sshd.stop();
    }

    assertNoLeak(gateways.flatMap((g) => g.lines), [
      sshd.password,
      sshd.keyPassphrase,
      key,
      ...handles,
      "PRIVATE KEY",
    ]);
  },
});

Deno.test({
  name:
    "a replica whose Redis is unreachable answers 'Handle store unavailable' and never logs the Redis password",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const port = freePort();
    const redisPassword = `Redis-${crypto.randomUUID()}`;
    const ccp = await startCcpFixture("LINUX", [{
      Name: "pw",
      Content: "Never-Stored-Password-1",
      UserName: "root",
      Address: "127.0.0.1",
      PolicyID: "UnixSSH",
    }]);
    const { key } = ccp;
    const gateway = await startGateway({
      ...ccp.gatewayEnv,
      HANDLE_STORE: "redis",
      REDIS_URL: `redis://:${redisPassword}@127.0.0.1:${port}/0`,
    });
    let cyberark: Client | undefined;
    try {
      cyberark = await connectMcp(`${gateway.baseUrl}/mcp/cyberark`, key);
      const result = await cyberark.callTool({
        name: "get_credential",
        arguments: { safe: "LINUX", object_name: "pw" },
      });
      assertEquals(result.isError, true);
      assertMatch(
        resultText(result),
        new RegExp(
          `^Handle store unavailable: Redis at redis://127\\.0\\.0\\.1:${port}/0: .*ECONNREFUSED.*; check REDIS_URL and that Redis is reachable$`,
        ),
      );
      const audited = await gateway.waitFor((e) =>
        e.event === "handle_store_error"
      );
      assertEquals(audited.reason, "unavailable");
      assertEquals(audited.tool, "get_credential");
      await gateway.waitFor((e) =>
        String(e.event).startsWith(
          `Handle store at redis://127.0.0.1:${port}/0 failed`,
        )
      );
    } finally {
      await cyberark?.close();
      await gateway.stop();
      await ccp.close();
    }
    for (const line of gateway.lines) {
      assert(!line.includes(redisPassword), `log line leaks: ${line}`);
      assert(!line.includes("Never-Stored-Password-1"), `log line leaks`);
    }
  },
});

Deno.test({
  name:
    "two gateway replicas share the failed-authentication count through Redis: failures on A block the address on B",
  ignore: redisSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const ccp = await startCcpFixture("LINUX", []);
    const { key } = ccp;
    const prefix = randomKeyPrefix();
    // A window no test run outlasts: the block never ends while the test runs.
    const env = {
      ...ccp.gatewayEnv,
      HANDLE_STORE: "redis",
      REDIS_URL: "redis://127.0.0.1:6379/0",
      REDIS_KEY_PREFIX: prefix,
      AUTH_FAILURE_LIMIT: "3",
      AUTH_FAILURE_WINDOW_SECONDS: "3600",
    };
    const [a, b] = await Promise.all([startGateway(env), startGateway(env)]);
    const post = (replica: GatewayProcess, apiKey: string): Promise<Response> =>
      postJsonRpc(`${replica.baseUrl}/mcp/cyberark`, "tools/list", {
        headers: { "x-api-key": apiKey },
      });
    try {
      const before = await post(b!, key);
      assertEquals(before.status, 200);
      await before.body?.cancel();
      for (let i = 0; i < 3; i++) {
        const refused = await post(a!, `${key}x`);
        assertEquals(refused.status, 401);
        await refused.body?.cancel();
      }
      const blocked = await post(b!, key);
      assertEquals(blocked.status, 429, "B refuses even the correct key");
      const retryAfter = Number(blocked.headers.get("retry-after"));
      assert(retryAfter > 0 && retryAfter <= 3600, `Retry-After ${retryAfter}`);
      assertStringIncludes(
        (await blocked.json()).message,
        "Too many failed authentications from this address",
      );
      const audited = await b!.waitFor((e) => e.event === "rate_limited");
      assertEquals(audited.reason, "auth_failures");
      assertEquals(audited.client_ip, "127.0.0.1");
      assertEquals(audited.path, "/mcp/cyberark");
      assertEquals(typeof audited.retry_after_seconds, "number");
      assertEquals(await keysUnder(`${prefix}ratelimit:`), [
        `${prefix}ratelimit:auth_failures:127.0.0.1`,
      ]);
    } finally {
      await Promise.all([a!.stop(), b!.stop()]);
      await ccp.close();
      await deleteKeysUnder(prefix);
    }
    assertNoLeak([...a!.lines, ...b!.lines], [key]);
  },
});

Deno.test({
  name:
    "a replica whose Redis is unreachable counts failed authentications in its own memory and still blocks",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const port = freePort();
    const redisPassword = `Redis-${crypto.randomUUID()}`;
    const ccp = await startCcpFixture("LINUX", []);
    const { key } = ccp;
    const gateway = await startGateway({
      ...ccp.gatewayEnv,
      HANDLE_STORE: "redis",
      REDIS_URL: `redis://:${redisPassword}@127.0.0.1:${port}/0`,
      AUTH_FAILURE_LIMIT: "2",
      AUTH_FAILURE_WINDOW_SECONDS: "3600",
    });
    const post = (apiKey: string): Promise<Response> =>
      postJsonRpc(`${gateway.baseUrl}/mcp/cyberark`, "tools/list", {
        headers: { "x-api-key": apiKey },
      });
    try {
      for (let i = 0; i < 2; i++) {
        const refused = await post("wrong-key");
        assertEquals(refused.status, 401);
        await refused.body?.cancel();
      }
      const blocked = await post(key);
      assertEquals(blocked.status, 429);
      await blocked.body?.cancel();
      await gateway.waitFor((e) =>
        String(e.event).startsWith(
          `Rate limit counters at redis://127.0.0.1:${port}/0 unreachable; counting in this replica's memory`,
        )
      );
    } finally {
      await gateway.stop();
      await ccp.close();
    }
    assertNoLeak(gateway.lines, [redisPassword, key]);
  },
});
