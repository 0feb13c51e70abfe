import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../../../support/assert.ts";
import {
  assertAuditLine,
  captureLogLines,
} from "../../../support/log_lines.ts";
import { MemoryConsoleSessions } from "../../../../gateway/approvals/http/mod.ts";
import { ALICE_KEY, approvalsHarness } from "./_harness.ts";

function loginForm(key: string): RequestInit {
  return { method: "POST", body: new URLSearchParams({ key }) };
}

Deno.test("console login with an approver key sets an HttpOnly, SameSite=Strict, Path=/approvals cookie for sessionSeconds and redirects to the console", async () => {
  const h = approvalsHarness({ sessionSeconds: 900 });
  try {
    const response = await h.request("/login", loginForm(ALICE_KEY));
    assertEquals(response.status, 303);
    assertEquals(response.headers.get("location"), "./");
    const cookie = response.headers.get("set-cookie") ?? "";
    assertMatch(cookie, /^mcp_approvals_session=[A-Za-z0-9_-]{43}; /);
    const attributes = cookie.split("; ").slice(1);
    assert(attributes.includes("HttpOnly"), cookie);
    assert(attributes.includes("SameSite=Strict"), cookie);
    assert(attributes.includes("Path=/approvals"), cookie);
    assert(attributes.includes("Max-Age=900"), cookie);
    assert(!attributes.includes("Secure"), "no Secure without TLS");
    const session = await h.request("/api/session", {
      headers: { cookie: cookie.split(";")[0]! },
    });
    const body = await session.json();
    assertEquals(body.approver, "alice");
    assertEquals(body.auth, "session");
    assertMatch(body.csrfToken, /^[A-Za-z0-9_-]{43}$/);
  } finally {
    await h.close();
  }
});

Deno.test("console login marks the cookie Secure behind TLS (secureCookies)", async () => {
  const h = approvalsHarness({ secureCookies: true });
  try {
    const { setCookie } = await h.login(ALICE_KEY);
    assert(setCookie.split("; ").includes("Secure"), setCookie);
  } finally {
    await h.close();
  }
});

Deno.test("console login with a wrong key shows the login page with a clear message (401) and audits auth_failure with the path", async () => {
  const h = approvalsHarness();
  try {
    let html = "";
    const lines = await captureLogLines(async () => {
      const response = await h.request(
        "/login",
        loginForm("not-a-key"),
        "192.0.2.44",
      );
      assertEquals(response.status, 401);
      assertEquals(response.headers.get("set-cookie"), null);
      html = await response.text();
    });
    assertStringIncludes(html, 'data-testid="login-error"');
    assertStringIncludes(html, "That approver key is not valid");
    assertStringIncludes(html, '<form id="login"');
    const failure = lines.find((l) => l.event === "auth_failure");
    assert(failure !== undefined, "auth_failure audited");
    assertAuditLine(failure, "auth_failure", {
      level: "warning",
      fields: ["reason", "client_ip", "path"],
    });
    assertEquals(failure.client_ip, "192.0.2.44");
    assertEquals(failure.path, "/approvals/login");
    assertEquals(failure.reason, "invalid_approver_key");
    assert(
      !JSON.stringify(lines).includes("not-a-key"),
      "the key is never logged",
    );
  } finally {
    await h.close();
  }
});

Deno.test("console login refuses an address over the failed-login limit with 429, even with a right key", async () => {
  const h = approvalsHarness({ failureLimit: 3 });
  try {
    for (let i = 0; i < 3; i++) {
      const r = await h.request(
        "/login",
        loginForm(`wrong-${i}`),
        "192.0.2.50",
      );
      await r.body?.cancel();
      assertEquals(r.status, 401);
    }
    const lines = await captureLogLines(async () => {
      const blocked = await h.request(
        "/login",
        loginForm(ALICE_KEY),
        "192.0.2.50",
      );
      assertEquals(blocked.status, 429);
      assertMatch(blocked.headers.get("retry-after") ?? "", /^[0-9]+$/);
      assertEquals(blocked.headers.get("set-cookie"), null);
      const html = await blocked.text();
      assertStringIncludes(html, 'data-testid="login-error"');
      assertStringIncludes(html, "Too many failed logins");
    });
    assert(
      lines.some((l) =>
        l.event === "rate_limited" && l.reason === "auth_failures"
      ),
    );
    // Another address is not affected.
    const other = await h.request("/login", loginForm(ALICE_KEY), "192.0.2.51");
    await other.body?.cancel();
    assertEquals(other.status, 303);
  } finally {
    await h.close();
  }
});

Deno.test("failed API keys and failed logins count against the same per-address limit", async () => {
  const h = approvalsHarness({ failureLimit: 2 });
  try {
    const api = await h.request("/api/requests", {
      headers: { authorization: "Bearer wrong-key" },
    }, "192.0.2.60");
    await api.body?.cancel();
    assertEquals(api.status, 401);
    const login = await h.request("/login", loginForm("wrong"), "192.0.2.60");
    await login.body?.cancel();
    assertEquals(login.status, 401);
    const blocked = await h.request("/api/requests", {
      headers: { authorization: `Bearer ${ALICE_KEY}` },
    }, "192.0.2.60");
    assertEquals(blocked.status, 429);
    assertEquals((await blocked.json()).error, "rate_limited");
  } finally {
    await h.close();
  }
});

Deno.test("console logout needs the CSRF token, ends the session and expires the cookie", async () => {
  const h = approvalsHarness();
  try {
    const { cookie, csrf } = await h.login(ALICE_KEY);
    const without = await h.request("/logout", {
      method: "POST",
      headers: { cookie },
    });
    assertEquals(without.status, 403);
    assertEquals((await without.json()).error, "csrf");
    const out = await h.request("/logout", {
      method: "POST",
      headers: { cookie, "x-csrf-token": csrf },
    });
    assertEquals(out.status, 200);
    assertMatch(
      out.headers.get("set-cookie") ?? "",
      /^mcp_approvals_session=; Max-Age=0; Path=\/approvals/,
    );
    await out.body?.cancel();
    const after = await h.request("/api/session", { headers: { cookie } });
    assertEquals(after.status, 401);
    await after.body?.cancel();
    const page = await h.request("/", { headers: { cookie } });
    assertStringIncludes(await page.text(), '<form id="login"');
  } finally {
    await h.close();
  }
});

Deno.test("a console session ends after sessionSeconds: the API answers 401 and / shows the login page", async () => {
  let now = 1_000_000;
  const sessions = new MemoryConsoleSessions({ now: () => now });
  const h = approvalsHarness({ sessions, sessionSeconds: 60 });
  try {
    const { cookie } = await h.login(ALICE_KEY);
    const live = await h.request("/api/requests", { headers: { cookie } });
    assertEquals(live.status, 200);
    await live.body?.cancel();
    now += 59_000;
    const still = await h.request("/api/requests", { headers: { cookie } });
    assertEquals(still.status, 200, "a session does not end early");
    await still.body?.cancel();
    now += 1_000;
    const ended = await h.request("/api/requests", { headers: { cookie } });
    assertEquals(ended.status, 401);
    assertStringIncludes((await ended.json()).message, "log in again");
    const page = await h.request("/", { headers: { cookie } });
    assertStringIncludes(await page.text(), '<form id="login"');
    assertEquals(sessions.size, 0, "the expired session is dropped");
  } finally {
    await h.close();
  }
});

Deno.test("a forged or malformed session cookie is not a session", async () => {
  const h = approvalsHarness();
  try {
    for (const value of ["A".repeat(43), "x", "<script>", ""]) {
      const r = await h.request("/api/requests", {
        headers: { cookie: `mcp_approvals_session=${value}` },
      });
      await r.body?.cancel();
      assertEquals(r.status, 401, value);
    }
  } finally {
    await h.close();
  }
});
