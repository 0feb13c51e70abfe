/**
 * deploy/nginx-mcp-privileged.conf in front of the real gateway: TLS
 * termination, the client allowlist, X-Forwarded-For set to the address nginx
 * saw (a forged one never reaches the audit log), and the client's Host
 * passed through to the DNS-rebinding check.
 */
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../support/assert.ts";
import { PROJECT_ROOT, startGateway } from "../support/gateway_process.ts";
import { postJsonRpc } from "../support/mcp_client.ts";
import {
  announceNginxSkip,
  type NginxPrefix,
  type RunningNginx,
  startNginx,
  writeNginxPrefix,
} from "../support/nginx.ts";
import { createTlsFixtures } from "../support/tls_fixtures.ts";
import { freePort } from "../support/free_port.ts";

const skip = await announceNginxSkip();
const FORGED = "203.0.113.9";

Deno.test({
  name:
    "nginx site: TLS, allowlist, X-Forwarded-For from $remote_addr and Host passthrough",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const site = await Deno.readTextFile(
      `${PROJECT_ROOT}deploy/nginx-mcp-privileged.conf`,
    );
    const tls = createTlsFixtures();
    const key = `k-${crypto.randomUUID()}-${crypto.randomUUID()}`;
    const gateway = await startGateway({
      MCP_API_KEYS: key,
      CYBERARK_CCP_URL:
        "https://cyberark.example.internal/AIMWebService/api/Accounts",
      CYBERARK_APP_ID: "MCP-Privileged-Service",
      // As the site file's header asks, with localhost as the DNS name.
      TRUSTED_PROXIES: "127.0.0.1",
      ALLOWED_HOSTS: "localhost",
    });
    const port = freePort();
    const client = Deno.createHttpClient({ caCerts: [tls.caCertPem] });
    const get = (url: string): Promise<Response> => fetch(url, { client });
    let prefix: NginxPrefix | undefined;
    let nginx: RunningNginx | undefined;
    const serve = async (allow?: string[]): Promise<void> => {
      await nginx?.stop();
      await prefix?.remove();
      prefix = await writeNginxPrefix(site, {
        certPem: tls.serverCertPem,
        keyPem: tls.serverKeyPem,
        listenPort: port,
        upstreamPort: gateway.port,
        ...(allow === undefined ? {} : { allow }),
      });
      nginx = await startNginx(prefix, port);
    };
    const mcp = (host: string, apiKey: string): Promise<Response> =>
      postJsonRpc(`https://${host}:${port}/mcp/cyberark`, "tools/list", {
        headers: { "X-API-Key": apiKey, "X-Forwarded-For": FORGED },
        params: {},
        client,
      });
    try {
      await t.step(
        "a client outside the allowlist gets 403 from nginx",
        async () => {
          await serve();
          const response = await get(`https://localhost:${port}/health`);
          await response.body?.cancel();
          assertEquals(response.status, 403);
        },
      );

      await serve(["127.0.0.1"]);

      await t.step("/health answers over TLS", async () => {
        const response = await get(`https://localhost:${port}/health`);
        assertEquals(await response.json(), { status: "ok" });
      });

      await t.step(
        "a forged X-Forwarded-For never reaches the audit log",
        async () => {
          const response = await mcp(
            "localhost",
            "wrong-key-of-thirty-two-characters!",
          );
          await response.body?.cancel();
          assertEquals(response.status, 401);
          const line = await gateway.waitFor((e) => e.event === "auth_failure");
          assertEquals(line.client_ip, "127.0.0.1");
          assert(!gateway.lines.some((l) => l.includes(FORGED)));
        },
      );

      await t.step(
        "the client's Host passes through to ALLOWED_HOSTS",
        async () => {
          const allowed = await mcp("localhost", key);
          assertEquals(allowed.status, 200);
          assertStringIncludes(await allowed.text(), "get_credential");
          const refused = await mcp("127.0.0.1", key);
          assertEquals(refused.status, 403);
          assertStringIncludes(
            await refused.text(),
            'Host \\"127.0.0.1\\" is not allowed',
          );
        },
      );
    } finally {
      await nginx?.stop();
      await prefix?.remove();
      client.close();
      await gateway.stop();
    }
  },
});
