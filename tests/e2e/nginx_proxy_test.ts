/**
 * deploy/nginx-mcp-privileged.conf in front of the real gateway: TLS
 * termination, the client allowlist, X-Forwarded-For set to the address nginx
 * saw (a forged one never reaches the audit log), and the client's Host
 * passed through to the DNS-rebinding check; the approvals console only
 * from the approvers' network, with its server-sent events unbuffered.
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
import { eventually } from "../support/eventually.ts";
import { captureLogLines } from "../support/log_lines.ts";
import {
  ALICE_KEY,
  approvalsHarness,
} from "../gateway/approvals/http/_harness.ts";

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

Deno.test({
  name:
    "nginx site: /approvals/ only from the approvers' network, with login, the audited address and live events through the proxy",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const site = await Deno.readTextFile(
      `${PROJECT_ROOT}deploy/nginx-mcp-privileged.conf`,
    );
    const tls = createTlsFixtures();
    // The approvals routes as the gateway mounts them, behind nginx as the
    // site file's header asks (TRUSTED_PROXIES=127.0.0.1, TLS so Secure cookies).
    const h = approvalsHarness({
      allowedHosts: ["localhost"],
      trustedProxies: ["127.0.0.1"],
      secureCookies: true,
    });
    const upstream = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request, info) => h.app.fetch(request, { remoteAddr: info.remoteAddr }),
    );
    const port = freePort();
    const client = Deno.createHttpClient({ caCerts: [tls.caCertPem] });
    const base = `https://localhost:${port}/approvals`;
    let prefix: NginxPrefix | undefined;
    let nginx: RunningNginx | undefined;
    const serve = async (approversAllow?: string[]): Promise<void> => {
      await nginx?.stop();
      await prefix?.remove();
      prefix = await writeNginxPrefix(site, {
        certPem: tls.serverCertPem,
        keyPem: tls.serverKeyPem,
        listenPort: port,
        upstreamPort: upstream.addr.port,
        // The Claude Code clients' network is 127.0.0.1 here...
        allow: ["127.0.0.1"],
        ...(approversAllow === undefined ? {} : { approversAllow }),
      });
      nginx = await startNginx(prefix, port);
    };
    let events: ReadableStreamDefaultReader<string> | undefined;
    try {
      await t.step(
        "outside the approvers' network /approvals/ is 403 from nginx, though the rest of the site is reachable",
        async () => {
          await serve();
          for (
            const path of ["/", "/console.js", "/api/requests", "/api/events"]
          ) {
            const response = await fetch(`${base}${path}`, {
              client,
              headers: { authorization: `Bearer ${ALICE_KEY}` },
            });
            await response.body?.cancel();
            assertEquals(response.status, 403, path);
            assertEquals(
              response.headers.get("content-security-policy"),
              null,
              "nginx refused it, not the service",
            );
          }
          const other = await fetch(`https://localhost:${port}/elsewhere`, {
            client,
          });
          await other.body?.cancel();
          assertEquals(other.status, 404, "the server's allowlist admits it");
        },
      );

      // ...and now also the approvers' network.
      await serve(["127.0.0.1"]);

      await t.step("the console, login and API answer", async () => {
        const page = await fetch(`${base}/`, { client });
        assertEquals(page.status, 200);
        assertStringIncludes(
          page.headers.get("content-security-policy") ?? "",
          "default-src 'none'",
        );
        assertStringIncludes(await page.text(), '<form id="login"');
        const lines = await captureLogLines(async () => {
          const wrong = await fetch(`${base}/login`, {
            client,
            method: "POST",
            body: new URLSearchParams({ key: "wrong" }),
            headers: { "x-forwarded-for": FORGED },
          });
          assertEquals(wrong.status, 401);
          await wrong.body?.cancel();
        });
        const failure = lines.find((l) => l.event === "auth_failure");
        assertEquals(failure?.client_ip, "127.0.0.1");
        assertEquals(failure?.path, "/approvals/login");
        assert(!JSON.stringify(lines).includes(FORGED));
        const api = await fetch(`${base}/api/requests`, {
          client,
          headers: { authorization: `Bearer ${ALICE_KEY}` },
        });
        assertEquals(api.status, 200);
        assertEquals((await api.json()).requests, []);
      });

      await t.step(
        "a login sets a Secure cookie and the event stream delivers a new request at once",
        async () => {
          const login = await fetch(`${base}/login`, {
            client,
            method: "POST",
            redirect: "manual",
            headers: { origin: `https://localhost:${port}` },
            body: new URLSearchParams({ key: ALICE_KEY }),
          });
          assertEquals(login.status, 303);
          await login.body?.cancel();
          const setCookie = login.headers.get("set-cookie") ?? "";
          assert(setCookie.split("; ").includes("Secure"), setCookie);
          const cookie = setCookie.split(";")[0]!;
          const stream = await fetch(`${base}/api/events`, {
            client,
            headers: { cookie, accept: "text/event-stream" },
          });
          assertEquals(stream.status, 200);
          assertEquals(
            stream.headers.get("content-type"),
            "text/event-stream",
          );
          events = stream.body!.pipeThrough(new TextDecoderStream())
            .getReader();
          let text = "";
          const reading = (async () => {
            for (;;) {
              const { value, done } = await events!.read();
              if (done) return;
              text += value;
            }
          })().catch(() => {});
          await eventually(() => assertStringIncludes(text, "retry: 2000"));
          const { id } = await h.file({
            command: "apt-get install -y apache2",
          });
          // Unbuffered: the event arrives while the stream stays open.
          await eventually(() => assertStringIncludes(text, `id: ${id}`));
          assertStringIncludes(text, "apt-get install -y apache2");
          await events.cancel();
          events = undefined;
          await reading;
        },
      );
    } finally {
      await events?.cancel().catch(() => {});
      await nginx?.stop();
      await prefix?.remove();
      client.close();
      await upstream.shutdown();
      await h.close();
    }
  },
});
