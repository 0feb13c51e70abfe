import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../../../support/assert.ts";
import { captureLogLines } from "../../../support/log_lines.ts";
import { MAX_APPROVAL_COMMENT_CHARS } from "../../../../gateway/approvals/broker.ts";
import {
  ALICE_KEY,
  approvalsHarness,
  BOB_KEY,
  type Harness,
} from "./_harness.ts";

const SCRIPT_TAG = "<script>alert(1)</script>";
const IMG_TAG = '"><img src=x onerror=alert(1)>';

function bearer(key = ALICE_KEY): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}

function post(
  h: Harness,
  path: string,
  body: unknown,
  headers: Record<string, string> = bearer(),
): Promise<Response> {
  return h.request(path, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

Deno.test("requests API: Bearer approver key lists, filters by state and gets one request", async () => {
  const h = approvalsHarness();
  try {
    const first = await h.file({ command: "apt-get install -y apache2" });
    const second = await h.file({ command: "systemctl restart apache2" });
    const all = await h.request("/api/requests", { headers: bearer() });
    assertEquals(all.status, 200);
    const body = await all.json();
    assertEquals(typeof body.now, "number");
    assertEquals(body.requests.map((r: { id: string }) => r.id), [
      second.id,
      first.id,
    ]);
    const request = body.requests[1];
    assertEquals(request.state, "pending");
    assertEquals(request.principal, "agent-1");
    assertEquals(request.clientIp, "10.0.0.7");
    assertEquals(request.tool, "ssh_execute");
    assertEquals(request.host, "web-01.corp.example");
    assertEquals(request.port, 22);
    assertEquals(request.safe, "PROD-LINUX");
    assertEquals(request.object, "linux-root");
    assertEquals(request.username, "root");
    assertEquals(request.rule, "patching-needs-approval");
    assertEquals(request.reason, "Apache patching run");
    assertEquals(request.handleId, "h_0123456789abcdef");
    assert(request.expiresAt > request.createdAt);

    await post(h, `/api/requests/${first.id}/deny`, { comment: "not now" });
    const pending = await (await h.request("/api/requests?state=pending", {
      headers: bearer(),
    })).json();
    assertEquals(pending.requests.map((r: { id: string }) => r.id), [
      second.id,
    ]);
    const denied = await (await h.request("/api/requests?state=denied", {
      headers: bearer(),
    })).json();
    assertEquals(denied.requests.map((r: { id: string }) => r.id), [first.id]);
    const one = await h.request(`/api/requests/${second.id}`, {
      headers: bearer(),
    });
    assertEquals(
      (await one.json()).request.command,
      "systemctl restart apache2",
    );
    const limited =
      await (await h.request("/api/requests?limit=1", { headers: bearer() }))
        .json();
    assertEquals(limited.requests.length, 1);
  } finally {
    await h.close();
  }
});

Deno.test("requests API: approve wakes the waiting call with the approver and the comment", async () => {
  const h = approvalsHarness();
  try {
    const { id, outcome } = await h.file();
    const lines = await captureLogLines(async () => {
      const response = await post(h, `/api/requests/${id}/approve`, {
        comment: "go ahead",
      });
      assertEquals(response.status, 200);
      const { request } = await response.json();
      assertEquals(request.state, "approved");
      assertEquals(request.approver, "alice");
      assertEquals(request.comment, "go ahead");
      assertEquals((await outcome).state, "approved");
    });
    assert(lines.some((l) => l.event === "approval_granted"));
    assert(!JSON.stringify(lines).includes(ALICE_KEY));
  } finally {
    await h.close();
  }
});

Deno.test("requests API: deny with a comment, and an empty body approves without one", async () => {
  const h = approvalsHarness();
  try {
    const denied = await h.file();
    const response = await post(h, `/api/requests/${denied.id}/deny`, {
      comment: "use the maintenance window",
    });
    assertEquals(response.status, 200);
    const outcome = await denied.outcome;
    assertEquals(outcome.state, "denied");
    assertEquals(outcome.comment, "use the maintenance window");

    const approved = await h.file();
    const bare = await h.request(`/api/requests/${approved.id}/approve`, {
      method: "POST",
      headers: bearer(),
    });
    assertEquals(bare.status, 200);
    assertEquals((await bare.json()).request.state, "approved");
  } finally {
    await h.close();
  }
});

Deno.test("requests API: an approver named like the requesting principal gets 403 with the broker's message", async () => {
  const h = approvalsHarness();
  try {
    const { id } = await h.file({ principal: "agent-1" });
    // BOB_KEY belongs to the approver "agent-1".
    const response = await post(h, `/api/requests/${id}/approve`, {
      comment: "",
    }, bearer(BOB_KEY));
    assertEquals(response.status, 403);
    const body = await response.json();
    assertEquals(body.error, "self_approval");
    assertStringIncludes(body.message, "own request");
    const still =
      await (await h.request(`/api/requests/${id}`, { headers: bearer() }))
        .json();
    assertEquals(still.request.state, "pending");
  } finally {
    await h.close();
  }
});

Deno.test("requests API: deciding a request that is no longer pending is 409, an unknown id 404", async () => {
  const h = approvalsHarness();
  try {
    const { id } = await h.file();
    assertEquals(
      (await post(h, `/api/requests/${id}/approve`, {})).status,
      200,
    );
    const again = await post(h, `/api/requests/${id}/deny`, {
      comment: "too late",
    });
    assertEquals(again.status, 409);
    assertEquals((await again.json()).error, "not_pending");
    const unknown = "A".repeat(22);
    const missing = await post(h, `/api/requests/${unknown}/approve`, {});
    assertEquals(missing.status, 404);
    assertEquals((await missing.json()).error, "not_found");
    const get = await h.request(`/api/requests/${unknown}`, {
      headers: bearer(),
    });
    assertEquals(get.status, 404);
    await get.body?.cancel();
  } finally {
    await h.close();
  }
});

Deno.test("requests API: a malformed id, state, limit or body is a 400 with a message", async () => {
  const h = approvalsHarness();
  try {
    const { id } = await h.file();
    for (
      const bad of [
        "abc",
        "A".repeat(21),
        "A".repeat(23),
        "AAAAAAAAAAAAAAAAAAAA%2B%2B",
        "..%2F..%2Fetc",
      ]
    ) {
      const r = await h.request(`/api/requests/${bad}`, { headers: bearer() });
      assertEquals(r.status, 400, bad);
      assertEquals((await r.json()).error, "invalid_id");
      const d = await post(h, `/api/requests/${bad}/approve`, {});
      assertEquals(d.status, 400, bad);
      await d.body?.cancel();
    }
    for (const query of ["state=done", "limit=0", "limit=501", "limit=x"]) {
      const r = await h.request(`/api/requests?${query}`, {
        headers: bearer(),
      });
      assertEquals(r.status, 400, query);
      assertEquals((await r.json()).error, "invalid");
    }
    for (
      const body of [
        "{",
        "[]",
        '"text"',
        '{"comment": 5}',
        '{"comment": "x", "approver": "mallory"}',
      ]
    ) {
      const r = await post(h, `/api/requests/${id}/approve`, body);
      assertEquals(r.status, 400, body);
      const json = await r.json();
      assertEquals(json.error, "invalid");
      assertEquals(typeof json.message, "string");
    }
    const form = await h.request(`/api/requests/${id}/approve`, {
      method: "POST",
      headers: { ...bearer(), "content-type": "text/plain" },
      body: '{"comment":"x"}',
    });
    assertEquals(form.status, 400);
    await form.body?.cancel();
    const long = await post(h, `/api/requests/${id}/approve`, {
      comment: "x".repeat(MAX_APPROVAL_COMMENT_CHARS + 1),
    });
    assertEquals(long.status, 400);
    await long.body?.cancel();
    const huge = await post(h, `/api/requests/${id}/approve`, {
      comment: "x".repeat(20_000),
    });
    assertEquals(huge.status, 413);
    assertEquals((await huge.json()).error, "payload_too_large");
    const still =
      await (await h.request(`/api/requests/${id}`, { headers: bearer() }))
        .json();
    assertEquals(
      still.request.state,
      "pending",
      "no bad request decided anything",
    );
  } finally {
    await h.close();
  }
});

Deno.test("requests API: XSS strings in a request come back only as JSON strings", async () => {
  const h = approvalsHarness();
  try {
    const { id } = await h.file({
      command: `echo '${SCRIPT_TAG}'`,
      reason: IMG_TAG,
      rule: SCRIPT_TAG,
    });
    const response = await h.request(`/api/requests/${id}`, {
      headers: bearer(),
    });
    assertEquals(response.headers.get("content-type"), "application/json");
    assertEquals(response.headers.get("x-content-type-options"), "nosniff");
    const text = await response.text();
    const { request } = JSON.parse(text);
    assertEquals(request.command, `echo '${SCRIPT_TAG}'`);
    assertEquals(request.reason, IMG_TAG);
    assertEquals(request.rule, SCRIPT_TAG);
    const decided = await post(h, `/api/requests/${id}/deny`, {
      comment: IMG_TAG,
    });
    assertEquals((await decided.json()).request.comment, IMG_TAG);
  } finally {
    await h.close();
  }
});

Deno.test("requests API: no key, a wrong key or a malformed Authorization is 401 with a message naming APPROVERS", async () => {
  const h = approvalsHarness();
  try {
    const none = await h.request("/api/requests");
    assertEquals(none.status, 401);
    assertEquals((await none.json()).error, "unauthorized");
    for (
      const authorization of [
        "Bearer wrong",
        `Basic ${btoa(`alice:${ALICE_KEY}`)}`,
        `Bearer  ${ALICE_KEY}`,
        "Bearer ",
      ]
    ) {
      const lines = await captureLogLines(async () => {
        const r = await h.request("/api/requests", {
          headers: { authorization },
        });
        assertEquals(r.status, 401, authorization);
        const body = await r.json();
        assertEquals(body.error, "unauthorized");
        assertStringIncludes(body.message, "APPROVERS");
      });
      const failure = lines.find((l) => l.event === "auth_failure");
      assertEquals(failure?.path, "/approvals/api/requests");
    }
  } finally {
    await h.close();
  }
});

Deno.test("requests API: the console may use its cookie with the CSRF header; without or with a wrong one it is 403", async () => {
  const h = approvalsHarness();
  try {
    const { cookie, csrf } = await h.login(ALICE_KEY);
    const { id, outcome } = await h.file();
    for (
      const headers of [
        { cookie },
        { cookie, "x-csrf-token": "A".repeat(43) },
        { cookie, "x-csrf-token": `${csrf}x` },
        { cookie, "x-csrf-token": "" },
      ]
    ) {
      const r = await post(
        h,
        `/api/requests/${id}/approve`,
        { comment: "" },
        headers,
      );
      assertEquals(r.status, 403);
      const body = await r.json();
      assertEquals(body.error, "csrf");
      assertStringIncludes(body.message, "X-CSRF-Token");
    }
    // A CSRF token of another session does not do either.
    const other = await h.login(ALICE_KEY);
    const crossed = await post(h, `/api/requests/${id}/approve`, {}, {
      cookie,
      "x-csrf-token": other.csrf,
    });
    assertEquals(crossed.status, 403);
    await crossed.body?.cancel();
    const ok = await post(h, `/api/requests/${id}/approve`, { comment: "ok" }, {
      cookie,
      "x-csrf-token": csrf,
    });
    assertEquals(ok.status, 200);
    assertEquals((await outcome).approver, "alice");
  } finally {
    await h.close();
  }
});

Deno.test("requests API: a cross-origin POST is refused before it is looked at", async () => {
  const h = approvalsHarness();
  try {
    const { cookie, csrf } = await h.login(ALICE_KEY);
    const { id } = await h.file();
    const cases: Record<string, string>[] = [
      { origin: "http://approvals.test.evil.example" },
      { origin: "null" },
      { "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "same-site" },
    ];
    for (const extra of cases) {
      for (const auth of [{ cookie, "x-csrf-token": csrf }, bearer()]) {
        const r = await post(h, `/api/requests/${id}/approve`, {}, {
          ...auth,
          ...extra,
        });
        assertEquals(r.status, 403, JSON.stringify(extra));
        const body = await r.json();
        assert(
          body.error === "cross_origin" || body.error === "forbidden",
          body.error,
        );
      }
      const login = await h.request("/login", {
        method: "POST",
        headers: extra,
        body: new URLSearchParams({ key: ALICE_KEY }),
      });
      assertEquals(login.status, 403, `login ${JSON.stringify(extra)}`);
      assertEquals(login.headers.get("set-cookie"), null);
      await login.body?.cancel();
    }
    // The console's own login form: Chromium sends Origin: null under
    // Referrer-Policy: no-referrer, and Sec-Fetch-Site: same-origin.
    const form = await h.request("/login", {
      method: "POST",
      headers: { origin: "null", "sec-fetch-site": "same-origin" },
      body: new URLSearchParams({ key: ALICE_KEY }),
    });
    assertEquals(form.status, 303);
    await form.body?.cancel();
    const spoofed = await h.request("/login", {
      method: "POST",
      headers: {
        origin: "https://evil.example",
        "sec-fetch-site": "same-origin",
      },
      body: new URLSearchParams({ key: ALICE_KEY }),
    });
    assertEquals(spoofed.status, 403, "a foreign Origin is refused anyway");
    await spoofed.body?.cancel();
    // The console's own origin (any port: nginx passes Host without it).
    const same = await post(h, `/api/requests/${id}/approve`, {}, {
      cookie,
      "x-csrf-token": csrf,
      origin: "https://approvals.test:8443",
      "sec-fetch-site": "same-origin",
    });
    assertEquals(same.status, 200);
    await same.body?.cancel();
  } finally {
    await h.close();
  }
});

Deno.test("requests API: GET /api/session names a Bearer approver without a CSRF token", async () => {
  const h = approvalsHarness();
  try {
    const r = await h.request("/api/session", { headers: bearer() });
    const body = await r.json();
    assertEquals(body.approver, "alice");
    assertEquals(body.auth, "bearer");
    assertEquals(body.csrfToken, undefined);
    assertMatch(String(body.now), /^[0-9]+$/);
  } finally {
    await h.close();
  }
});

Deno.test("requests API: a request whose wait ran out is listed as expired and cannot be approved (409)", async () => {
  const h = approvalsHarness({ timeoutSeconds: 1 });
  try {
    const { id, outcome } = await h.file();
    assertEquals((await outcome).state, "expired");
    const expired = await (await h.request("/api/requests?state=expired", {
      headers: bearer(),
    })).json();
    assertEquals(expired.requests.map((r: { id: string }) => r.id), [id]);
    const late = await post(h, `/api/requests/${id}/approve`, { comment: "" });
    assertEquals(late.status, 409);
    assertEquals((await late.json()).error, "not_pending");
  } finally {
    await h.close();
  }
});
