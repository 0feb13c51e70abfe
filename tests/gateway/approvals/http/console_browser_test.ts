/**
 * The console page alone in a real browser (Debian's headless Chromium via
 * puppeteer-core): the approvals routes served by a small Deno.serve on the
 * real broker, no gateway. Log in, see a request with XSS strings appear
 * live as text, approve and deny by clicking, see the broker's refusal of a
 * self-approval, log out; all under the strict CSP without a page problem.
 * The whole-service browser test is tests/e2e/approvals_browser_test.ts.
 */
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../../support/assert.ts";
import {
  announceBrowserSkip,
  launchBrowser,
} from "../../../support/browser.ts";
import { ALICE_KEY, approvalsHarness, BOB_KEY } from "./_harness.ts";

const browserSkip = await announceBrowserSkip();
const SCRIPT_TAG = "<script>alert(1)</script>";
const IMG_TAG = '"><img src=x onerror=alert(1)>';

Deno.test({
  name:
    "the console in a real browser: login, live pending request shown as text, approve, deny, self-approval error, logout",
  ignore: browserSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const h = approvalsHarness({ allowedHosts: ["127.0.0.1"] });
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request, info) => h.app.fetch(request, { remoteAddr: info.remoteAddr }),
    );
    const base = `http://127.0.0.1:${server.addr.port}/approvals/`;
    const browser = await launchBrowser();
    try {
      const tab = await browser.newPage();
      const { page } = tab;

      await t.step("a wrong key shows the login error", async () => {
        await tab.goto(base);
        await page.type("form#login input[name=key]", "wrong-key");
        await Promise.all([
          page.waitForNavigation(),
          page.click("form#login button[type=submit]"),
        ]);
        await tab.waitForText("[data-testid=login-error]", "not valid");
      });

      await t.step(
        "the right key opens the console with the approver's name and an empty list",
        async () => {
          await page.type("form#login input[name=key]", ALICE_KEY);
          await Promise.all([
            page.waitForNavigation(),
            page.click("form#login button[type=submit]"),
          ]);
          await tab.waitForText("[data-testid=approver]", "alice");
          await tab.waitFor("[data-testid=no-pending]");
        },
      );

      const xss = await h.file({
        command: `echo '${SCRIPT_TAG}'\n${IMG_TAG}`,
        reason: IMG_TAG,
      });
      const item = `[data-testid=pending] [data-request-id="${xss.id}"]`;

      await t.step(
        "a new request appears live, every field as text",
        async () => {
          await tab.waitFor(item);
          await tab.waitForGone("[data-testid=no-pending]");
          assertEquals(
            await tab.textOf(`${item} [data-field=command]`),
            `echo '${SCRIPT_TAG}'\n${IMG_TAG}`,
          );
          assertEquals(
            await tab.textOf(`${item} [data-field=reason]`),
            IMG_TAG,
          );
          assertEquals(
            await tab.textOf(`${item} [data-field=principal]`),
            "agent-1",
          );
          assertEquals(
            await tab.textOf(`${item} [data-field=tool]`),
            "ssh_execute",
          );
          assertEquals(
            await tab.textOf(`${item} [data-field=target]`),
            "web-01.corp.example:22",
          );
          assertStringIncludes(
            await tab.textOf(`${item} [data-field=credential]`),
            "PROD-LINUX/linux-root",
          );
          assertStringIncludes(
            await tab.textOf(`${item} [data-field=credential]`),
            "root",
          );
          assertEquals(
            await tab.textOf(`${item} [data-field=rule]`),
            "patching-needs-approval",
          );
          await tab.waitForText(`${item} [data-field=time-left]`, /min|s$/);
          assertEquals(
            await page.$$eval("img", (n) => n.length),
            0,
            "no injected element",
          );
        },
      );

      await t.step(
        "deny with a comment: the call ends denied and the decision is listed",
        async () => {
          await page.type(`${item} textarea[name=comment]`, "not on a Friday");
          await page.click(`${item} button[data-action=deny]`);
          const outcome = await xss.outcome;
          assertEquals(outcome.state, "denied");
          assertEquals(outcome.comment, "not on a Friday");
          const row = `[data-testid=recent] [data-request-id="${xss.id}"]`;
          await tab.waitForText(`${row} [data-field=state]`, "denied");
          assertEquals(
            await tab.textOf(`${row} [data-field=approver]`),
            "alice",
          );
          assertEquals(
            await tab.textOf(`${row} [data-field=comment]`),
            "not on a Friday",
          );
          await tab.waitForGone(item);
        },
      );

      await t.step(
        "approve by clicking: the waiting call is approved",
        async () => {
          const next = await h.file({ command: "apt-get install -y apache2" });
          const sel = `[data-testid=pending] [data-request-id="${next.id}"]`;
          await tab.waitFor(sel);
          await tab.screenshot("approvals-console-pending");
          await page.click(`${sel} button[data-action=approve]`);
          assertEquals((await next.outcome).approver, "alice");
        },
      );

      await t.step("logout returns to the login page", async () => {
        await Promise.all([
          page.waitForNavigation(),
          page.click("button[data-action=logout]"),
        ]);
        await tab.waitFor("form#login");
        const api = await fetch(`${base}api/requests`);
        assertEquals(api.status, 401);
        await api.body?.cancel();
      });

      await t.step(
        "self-approval shows the broker's message on the request",
        async () => {
          await page.type("form#login input[name=key]", BOB_KEY);
          await Promise.all([
            page.waitForNavigation(),
            page.click("form#login button[type=submit]"),
          ]);
          await tab.waitForText("[data-testid=approver]", "agent-1");
          const own = await h.file({ principal: "agent-1" });
          const sel = `[data-testid=pending] [data-request-id="${own.id}"]`;
          await tab.waitFor(sel);
          await page.click(`${sel} button[data-action=approve]`);
          await tab.waitForText(`${sel} [data-field=error]`, "own request");
          await h.broker.decide(own.id, "alice", "deny", "cleanup");
          await tab.waitForGone(sel);
        },
      );

      // The browser logs refused loads: the wrong login (401) and the
      // refused self-approval (403) are answers the page shows, not errors.
      const problems = tab.problems.filter((p) =>
        !/status of 401 .*\/approvals\/login\)$/.test(p.text) &&
        !/status of 403 .*\/approve\)$/.test(p.text)
      );
      assert(problems.length === 0, JSON.stringify(problems));
    } finally {
      await browser.close();
      await server.shutdown();
      await h.close();
    }
  },
});
