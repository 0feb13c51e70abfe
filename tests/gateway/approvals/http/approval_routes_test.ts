import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../../../support/assert.ts";
import {
  CONSOLE_CSP,
  CONSOLE_SECURITY_HEADERS,
} from "../../../../gateway/approvals/http/mod.ts";
import { ALICE_KEY, approvalsHarness } from "./_harness.ts";

const SCRIPT_TAG = "<script>alert(1)</script>";
const IMG_TAG = '"><img src=x onerror=alert(1)>';

function assertSecurityHeaders(response: Response, what: string): void {
  for (const [name, value] of Object.entries(CONSOLE_SECURITY_HEADERS)) {
    assertEquals(response.headers.get(name), value, `${name} on ${what}`);
  }
}

Deno.test("approvalRoutes() sets the strict CSP and the security headers on every console response", async () => {
  const h = approvalsHarness();
  try {
    assertEquals(
      CONSOLE_CSP,
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    const { cookie, csrf } = await h.login(ALICE_KEY);
    const { id } = await h.file();
    const cases: [string, RequestInit][] = [
      ["/", {}],
      ["/", { headers: { cookie } }],
      ["/console.js", {}],
      ["/console.css", {}],
      ["/login", { method: "POST", body: new URLSearchParams({ key: "x" }) }],
      ["/api/requests", {}],
      ["/api/requests", { headers: { cookie } }],
      [`/api/requests/${id}`, { headers: { cookie } }],
      ["/api/requests/bad", { headers: { cookie } }],
      [`/api/requests/${id}/deny`, { method: "POST", headers: { cookie } }],
      ["/api/session", { headers: { authorization: `Bearer ${ALICE_KEY}` } }],
      ["/no-such-page", {}],
      ["/logout", {
        method: "POST",
        headers: { cookie, "x-csrf-token": csrf },
      }],
    ];
    for (const [path, init] of cases) {
      const response = await h.request(path, init);
      await response.body?.cancel();
      assertSecurityHeaders(response, `${init.method ?? "GET"} ${path}`);
    }
  } finally {
    await h.close();
  }
});

Deno.test("approvalRoutes() serves the login page without a session and the console with one, as HTML", async () => {
  const h = approvalsHarness();
  try {
    const bare = await h.app.request("http://approvals.test/approvals", {
      headers: { host: "approvals.test" },
    }, { remoteAddr: { transport: "tcp", hostname: "192.0.2.1", port: 1 } });
    assertEquals(bare.status, 301);
    assertEquals(bare.headers.get("location"), "/approvals/");
    const login = await h.request("/");
    assertEquals(login.status, 200);
    assertEquals(
      login.headers.get("content-type")?.toLowerCase(),
      "text/html; charset=utf-8",
    );
    const loginHtml = await login.text();
    assertStringIncludes(
      loginHtml,
      '<form id="login" method="post" action="login"',
    );
    assertStringIncludes(loginHtml, 'name="key"');
    assertStringIncludes(loginHtml, 'type="submit"');
    assert(!loginHtml.includes("login-error"), "no error before a try");

    const { cookie } = await h.login(ALICE_KEY);
    const page = await h.request("/", { headers: { cookie } });
    const html = await page.text();
    for (
      const selector of [
        'data-testid="approver"',
        'data-testid="pending"',
        'data-testid="no-pending"',
        'data-testid="recent"',
        'data-action="logout"',
        'data-field="principal"',
        'data-field="tool"',
        'data-field="target"',
        'data-field="credential"',
        'data-field="command"',
        'data-field="rule"',
        'data-field="reason"',
        'data-field="time-left"',
        'textarea name="comment"',
        'data-action="approve"',
        'data-action="deny"',
        'data-field="error"',
        '<script src="console.js" defer></script>',
      ]
    ) {
      assertStringIncludes(html, selector);
    }
  } finally {
    await h.close();
  }
});

Deno.test("approvalRoutes() serves console.js and console.css with their content types", async () => {
  const h = approvalsHarness();
  try {
    const js = await h.request("/console.js");
    assertEquals(js.status, 200);
    assertEquals(
      js.headers.get("content-type"),
      "text/javascript; charset=utf-8",
    );
    assertStringIncludes(await js.text(), "textContent");
    const css = await h.request("/console.css");
    assertEquals(css.headers.get("content-type"), "text/css; charset=utf-8");
    assertStringIncludes(await css.text(), "pre-wrap");
  } finally {
    await h.close();
  }
});

Deno.test("the console's files hold no inline script or style, no innerHTML and no event-handler attributes", async () => {
  const dir = new URL(
    "../../../../gateway/approvals/console/",
    import.meta.url,
  );
  for (const name of ["index.html", "login.html"]) {
    const html = await Deno.readTextFile(new URL(name, dir));
    for (const script of html.match(/<script\b[^>]*>/g) ?? []) {
      assertMatch(script, /\bsrc="console\.js"/, `${name}: ${script}`);
    }
    assert(
      !/<script\b[^>]*>[^<]+<\/script>/.test(html),
      `${name}: inline script`,
    );
    assert(!/<style\b/i.test(html), `${name}: inline style element`);
    assert(!/\sstyle=/i.test(html), `${name}: style attribute`);
    assert(!/\son[a-z]+=/i.test(html), `${name}: event handler attribute`);
    assert(!/javascript:/i.test(html), `${name}: javascript: URL`);
  }
  const js = await Deno.readTextFile(new URL("console.js", dir));
  for (
    const sink of [
      "innerHTML",
      "outerHTML",
      "insertAdjacentHTML",
      "document.write",
      "eval(",
      "new Function",
    ]
  ) {
    assert(!js.includes(sink), `console.js uses ${sink}`);
  }
});

Deno.test("the HTML pages carry no request data: a request with XSS strings appears only as JSON strings from the API", async () => {
  const h = approvalsHarness();
  try {
    const { id } = await h.file({
      command: `echo ${SCRIPT_TAG}; ${IMG_TAG}`,
      reason: IMG_TAG,
      principal: `p${SCRIPT_TAG}`,
    });
    const { cookie } = await h.login(ALICE_KEY);
    for (const path of ["/", "/console.js", "/console.css"]) {
      const text = await (await h.request(path, { headers: { cookie } }))
        .text();
      assert(!text.includes(id), `${path} holds the request id`);
      assert(!text.includes("alert(1)"), `${path} holds request data`);
    }
    const api = await h.request(`/api/requests/${id}`, { headers: { cookie } });
    assertEquals(api.headers.get("content-type"), "application/json");
    const body = await api.json();
    assertEquals(body.request.command, `echo ${SCRIPT_TAG}; ${IMG_TAG}`);
    assertEquals(body.request.reason, IMG_TAG);
  } finally {
    await h.close();
  }
});

Deno.test("approvalRoutes() answers an unknown path with a JSON 404", async () => {
  const h = approvalsHarness();
  try {
    const response = await h.request("/nothing-here");
    assertEquals(response.status, 404);
    assertEquals((await response.json()).error, "not_found");
  } finally {
    await h.close();
  }
});
