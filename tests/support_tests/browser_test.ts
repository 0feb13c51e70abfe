// Tests of the headless browser helper: Debian's Chromium driven by
// puppeteer-core loads a page served with a strict CSP, clicks, reads text,
// and records console errors, CSP violations and dialogs.
import {
  announceBrowserSkip,
  artifactsDir,
  launchBrowser,
  type TestBrowser,
} from "../support/browser.ts";
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../support/assert.ts";
import { eventually } from "../support/eventually.ts";

const browserSkip = await announceBrowserSkip();

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; " +
  "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; " +
  "frame-ancestors 'none'";

const XSS = `<script>alert(1)</script> "><img src=x onerror=alert(1)>`;

const PAGES: Record<string, { type: string; body: string }> = {
  "/": {
    type: "text/html; charset=utf-8",
    body: `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CSP page</title>
<link rel="stylesheet" href="/page.css"><script src="/page.js" defer></script></head>
<body><h1>Strict CSP</h1><button id="go" type="button">Go</button>
<p id="out"></p></body></html>`,
  },
  "/page.css": {
    type: "text/css",
    body: "body { font-family: sans-serif; } #out { color: #060; }",
  },
  "/page.js": {
    type: "text/javascript",
    body: `document.getElementById("go").addEventListener("click", async () => {
  const answer = await fetch("/data.json").then((r) => r.json());
  document.getElementById("out").textContent = answer.text;
});`,
  },
  "/data.json": {
    type: "application/json",
    body: JSON.stringify({ text: XSS }),
  },
  // Everything this page does is refused by the CSP or is a problem.
  "/bad": {
    type: "text/html; charset=utf-8",
    body: `<!doctype html><html><head><meta charset="utf-8">
<script>alert("inline ran")</script><script src="/bad.js"></script></head>
<body><p>bad</p></body></html>`,
  },
  "/bad.js": {
    type: "text/javascript",
    body: `console.error("page said error");
document.body?.setAttribute("style", "color: red");
window.addEventListener("DOMContentLoaded", () => {
  document.body.setAttribute("style", "color: red");
  setTimeout(() => { throw new Error("uncaught in page"); }, 0);
});`,
  },
};

function servePages(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const page = PAGES[new URL(request.url).pathname];
      if (page === undefined) return new Response("not found", { status: 404 });
      return new Response(page.body, {
        headers: {
          "content-type": page.type,
          "content-security-policy": CSP,
          "x-content-type-options": "nosniff",
        },
      });
    },
  );
}

async function withBrowser(
  body: (browser: TestBrowser, baseUrl: string) => Promise<void>,
): Promise<void> {
  const server = servePages();
  const browser = await launchBrowser();
  try {
    await body(browser, `http://127.0.0.1:${server.addr.port}`);
  } finally {
    await browser.close();
    await server.shutdown();
  }
}

Deno.test({
  name:
    "launchBrowser() loads a page under a strict CSP, clicks, reads text set by a script and saves a screenshot",
  ignore: browserSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withBrowser(async (browser, baseUrl) => {
      const tab = await browser.newPage();
      await tab.goto(`${baseUrl}/`);
      assertEquals(await tab.textOf("h1"), "Strict CSP");
      await (await tab.waitFor("button#go")).click();
      const text = await tab.waitForText("#out", "alert(1)");
      assertEquals(text, XSS);
      assertEquals(
        await tab.page.$$eval("#out *", (elements) => elements.length),
        0,
        "the text created elements",
      );
      const path = await tab.screenshot("browser-helper-csp-page");
      assert(path.startsWith(artifactsDir()), path);
      const png = await Deno.readFile(path);
      assertEquals([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
      tab.assertNoProblems();
    }),
});

Deno.test({
  name:
    "a test page records console errors, CSP violations, uncaught errors and dialogs",
  ignore: browserSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withBrowser(async (browser, baseUrl) => {
      const tab = await browser.newPage();
      await tab.goto(`${baseUrl}/bad`);
      await tab.page.evaluate(() => alert("a dialog"));
      const kinds = (): string[] => tab.problems.map((p) => p.kind);
      await eventually(() => {
        for (const kind of ["console", "csp", "pageerror", "dialog"]) {
          assert(kinds().includes(kind), `no ${kind} in ${kinds()}`);
        }
      });
      const all = tab.problems.map((p) => `${p.kind}: ${p.text}`).join("\n");
      assertStringIncludes(all, "console: page said error");
      assertStringIncludes(all, "csp: script-src-elem blocked inline");
      assertStringIncludes(all, "csp: style-src-attr blocked inline");
      assertStringIncludes(all, "pageerror: uncaught in page");
      assertStringIncludes(all, "dialog: alert: a dialog");
      assert(!all.includes("inline ran"), "the inline script ran");
      let thrown: unknown;
      try {
        tab.assertNoProblems();
      } catch (error) {
        thrown = error;
      }
      assert(thrown instanceof Error, "assertNoProblems() did not throw");
      assertStringIncludes(thrown.message, "csp: script-src-elem");
    }),
});

Deno.test({
  name:
    "a wait that fails names the selector and says what the page shows instead",
  ignore: browserSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withBrowser(async (browser, baseUrl) => {
      const tab = await browser.newPage();
      await tab.goto(`${baseUrl}/`);
      let thrown: unknown;
      try {
        await tab.waitFor("#missing", { timeoutMs: 200 });
      } catch (error) {
        thrown = error;
      }
      assert(thrown instanceof Error, "waitFor() did not throw");
      assertStringIncludes(thrown.message, "Waiting for a visible #missing");
      assertStringIncludes(thrown.message, `page ${baseUrl}/ says:`);
      assertStringIncludes(thrown.message, "Strict CSP");
    }),
});
