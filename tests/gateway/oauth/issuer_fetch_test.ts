import { assertEquals, assertRejects } from "../../support/assert.ts";
import { createTlsFixtures } from "../../support/tls_fixtures.ts";
import { createIssuerFetch } from "../../../gateway/oauth/mod.ts";

Deno.test("createIssuerFetch() trusts OAUTH_CA_BUNDLE's CA and nothing unverified without it", async () => {
  const tls = createTlsFixtures();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: tls.serverCertPem,
    key: tls.serverKeyPem,
    onListen: () => {},
  }, () => Response.json({ ok: true }));
  const url =
    `https://localhost:${server.addr.port}/.well-known/openid-configuration`;
  const trusted = createIssuerFetch({ caPem: tls.caCertPem });
  const untrusted = createIssuerFetch();
  try {
    const response = await trusted.fetch(url);
    assertEquals(await response.json(), { ok: true });
    await assertRejects(() => untrusted.fetch(url), TypeError);
  } finally {
    trusted.close();
    untrusted.close();
    await server.shutdown();
  }
});

Deno.test("createIssuerFetch() gives up after its timeout", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn);
  })();
  const issuer = createIssuerFetch({ timeoutMs: 100 });
  try {
    const error = await assertRejects(() =>
      issuer.fetch(`http://127.0.0.1:${listener.addr.port}/`)
    );
    assertEquals((error as DOMException).name, "TimeoutError");
  } finally {
    issuer.close();
    listener.close();
    for (const conn of accepted) conn.close();
    await accepting.catch(() => {});
  }
});

Deno.test("createIssuerFetch() refuses redirects", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => Response.redirect("https://elsewhere.example/", 302),
  );
  const issuer = createIssuerFetch();
  try {
    await assertRejects(
      () => issuer.fetch(`http://127.0.0.1:${server.addr.port}/`),
      TypeError,
    );
  } finally {
    issuer.close();
    await server.shutdown();
  }
});
