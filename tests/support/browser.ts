/**
 * A real headless browser for tests: Debian's Chromium (`apt-get install
 * chromium`, never a browser download) driven by puppeteer-core over a pipe,
 * and pages that record every console error, uncaught page error,
 * Content-Security-Policy violation and dialog, so a test can assert that a
 * page works with its CSP in force.
 *
 * When Chromium is missing it is installed with apt-get if `CI` is set (or the
 * suite fails); otherwise {@linkcode announceBrowserSkip} explains why the
 * tests are skipped.
 *
 * @module
 */
import puppeteer, {
  type Browser,
  type ElementHandle,
  type Page,
} from "puppeteer-core";
import { eventually } from "./eventually.ts";
import { PROJECT_ROOT } from "./paths.ts";
import { announceSkip, missingToolReason } from "./skip.ts";

/** Debian's Chromium launcher (it reads /etc/chromium.d and execs the browser). */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * The flags Chromium needs here, beyond puppeteer's own headless defaults.
 *
 * - `--no-sandbox`: Chromium refuses to start as root with its sandbox
 *   ("Running as root without --no-sandbox is not supported"), and the tests
 *   and CI run as root in a container. The browser only loads pages the test
 *   serves itself on loopback, so the renderer sandbox protects nothing here;
 *   never copy this flag to a browser that visits other sites.
 * - `--disable-dev-shm-usage`: containers often give /dev/shm 64 MB, which
 *   Chromium fills and then crashes; it writes those files to /tmp instead.
 * - `--lang=en-US`: the same page text and date formats on every machine.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  "--no-sandbox",
  "--disable-dev-shm-usage",
  "--lang=en-US",
];

/** The viewport of every page, so screenshots have one size. */
export const VIEWPORT = { width: 1280, height: 900 } as const;

/** Where screenshots go: `TEST_ARTIFACTS_DIR`, or `tests/.artifacts/` (git-ignored). */
export function artifactsDir(): string {
  return Deno.env.get("TEST_ARTIFACTS_DIR") ??
    `${PROJECT_ROOT}tests/.artifacts`;
}

let checked: Promise<string | null> | undefined;

/** Why browser tests cannot run here, or `null` when they can. */
export function browserSkipReason(): Promise<string | null> {
  checked ??= missingToolReason(CHROMIUM, {
    aptPackage: "chromium",
    suite: "Browser",
  });
  return checked;
}

/** Prints the skip reason to stderr and returns it, for `Deno.test({ ignore })`. */
export function announceBrowserSkip(): Promise<string | null> {
  return announceSkip(browserSkipReason());
}

/** Something a page did that a working page under a strict CSP never does. */
export interface PageProblem {
  /** `console`: console.error or a browser log error (a failed load, a blocked style); `pageerror`: an uncaught exception; `csp`: a `securitypolicyviolation` event; `dialog`: alert, confirm or prompt. */
  readonly kind: "console" | "pageerror" | "csp" | "dialog";
  readonly text: string;
  /** The page's URL when it happened. */
  readonly url: string;
}

/** A page that records its problems, with the waits tests use. */
export interface TestPage {
  readonly page: Page;
  /** Every problem so far, oldest first (dialogs were dismissed). */
  readonly problems: readonly PageProblem[];
  /** Opens `url` and waits until the network is idle for a moment. */
  goto(url: string): Promise<void>;
  /** Waits until `selector` matches a visible element (30 s by default). */
  waitFor(
    selector: string,
    options?: WaitOptions,
  ): Promise<ElementHandle>;
  /** Waits until `selector` matches nothing, or only hidden elements. */
  waitForGone(selector: string, options?: WaitOptions): Promise<void>;
  /** The `textContent` of the first element `selector` matches (waits for it). */
  textOf(selector: string, options?: WaitOptions): Promise<string>;
  /**
   * Waits until the text of `selector` contains `expected` (or matches it),
   * and returns the text.
   */
  waitForText(
    selector: string,
    expected: string | RegExp,
    options?: WaitOptions,
  ): Promise<string>;
  /** Saves a full-page PNG as `<artifactsDir>/<name>.png` and returns its path. */
  screenshot(name: string): Promise<string>;
  /** Throws listing the problems recorded since index `from` (default 0), if any. */
  assertNoProblems(from?: number): void;
}

/** How long a wait of {@linkcode TestPage} may take. */
export interface WaitOptions {
  /** Give up after this many milliseconds; default 30 000. */
  timeoutMs?: number;
}

/** A running headless Chromium. */
export interface TestBrowser {
  readonly browser: Browser;
  /** A new page (tab) at the fixed viewport, recording its problems. */
  newPage(): Promise<TestPage>;
  /** Closes the browser and every page. */
  close(): Promise<void>;
}

const DEFAULT_WAIT_MS = 30_000;

/**
 * Starts Debian's headless Chromium with {@linkcode CHROMIUM_ARGS}, talking
 * DevTools over a pipe (no debugging port is opened).
 *
 * Call {@linkcode announceBrowserSkip} first; this throws when Chromium cannot run.
 *
 * @throws {Error} when Chromium is missing or does not start
 */
export async function launchBrowser(): Promise<TestBrowser> {
  const reason = await browserSkipReason();
  if (reason !== null) throw new Error(reason);
  let browser: Browser;
  try {
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      pipe: true,
      args: [...CHROMIUM_ARGS],
      defaultViewport: VIEWPORT,
    });
  } catch (error) {
    throw new Error(
      `Cannot start ${CHROMIUM} headless: ${
        error instanceof Error ? error.message : String(error)
      }; run "${CHROMIUM} --headless --no-sandbox --dump-dom about:blank" to see why`,
      { cause: error },
    );
  }
  return {
    browser,
    newPage: () => newTestPage(browser),
    close: () => browser.close(),
  };
}

/** The binding the page calls for each CSP violation. */
const CSP_BINDING = "__testReportCspViolation";

async function newTestPage(browser: Browser): Promise<TestPage> {
  const page = await browser.newPage();
  const problems: PageProblem[] = [];
  const record = (kind: PageProblem["kind"], text: string): void => {
    problems.push({ kind, text, url: page.url() });
  };
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const where = message.location().url;
    // The browser asks for /favicon.ico on its own; a page need not have one.
    if (where?.endsWith("/favicon.ico")) return;
    record("console", where ? `${message.text()} (${where})` : message.text());
  });
  page.on("pageerror", (error) => {
    record("pageerror", error instanceof Error ? error.message : String(error));
  });
  page.on("dialog", (dialog) => {
    record("dialog", `${dialog.type()}: ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });
  // A DevTools binding and a script run before any of the page's own: both
  // live outside the page's CSP, so they neither need nor weaken it.
  await page.exposeFunction(CSP_BINDING, (text: string) => record("csp", text));
  await page.evaluateOnNewDocument(`document.addEventListener(
    "securitypolicyviolation",
    (event) => globalThis[${JSON.stringify(CSP_BINDING)}]?.(
      event.effectiveDirective + " blocked " + (event.blockedURI || "inline") +
        " at " + event.sourceFile + ":" + event.lineNumber,
    ),
  );`);

  /** What the page shows, for the message of a wait that failed. */
  const describe = async (): Promise<string> => {
    let text = "";
    try {
      text = await page.$eval("body", (body) => body.innerText);
    } catch {
      text = "(no body)";
    }
    const seen = problems.map((p) => `\n  ${p.kind}: ${p.text}`).join("");
    return `page ${page.url()} says:\n${text.slice(0, 2000)}${
      seen === "" ? "" : `\nproblems so far:${seen}`
    }`;
  };
  const waited = async <T>(
    what: string,
    wait: () => Promise<T>,
  ): Promise<T> => {
    try {
      return await wait();
    } catch (error) {
      throw new Error(`${what} failed; ${await describe()}`, { cause: error });
    }
  };
  const waitFor = (
    selector: string,
    options: WaitOptions = {},
  ): Promise<ElementHandle> =>
    waited(`Waiting for a visible ${selector}`, async () => {
      const found = await page.waitForSelector(selector, {
        visible: true,
        timeout: options.timeoutMs ?? DEFAULT_WAIT_MS,
      });
      if (found === null) throw new Error(`No element matches ${selector}`);
      return found;
    });
  const readText = async (
    selector: string,
    timeoutMs: number,
  ): Promise<string> => {
    const element = await page.waitForSelector(selector, {
      timeout: timeoutMs,
    });
    if (element === null) throw new Error(`No element matches ${selector}`);
    return await element.evaluate((e) => e.textContent ?? "");
  };
  const textOf = (
    selector: string,
    options: WaitOptions = {},
  ): Promise<string> =>
    waited(
      `Reading the text of ${selector}`,
      () => readText(selector, options.timeoutMs ?? DEFAULT_WAIT_MS),
    );
  return {
    page,
    problems,
    async goto(url: string): Promise<void> {
      await page.goto(url, { waitUntil: "networkidle2" });
    },
    waitFor,
    async waitForGone(selector, options = {}): Promise<void> {
      await waited(
        `Waiting until ${selector} is gone`,
        () =>
          page.waitForSelector(selector, {
            hidden: true,
            timeout: options.timeoutMs ?? DEFAULT_WAIT_MS,
          }),
      );
    },
    textOf,
    waitForText(selector, expected, options = {}): Promise<string> {
      return waited(
        `Waiting for ${selector} to say ${String(expected)}`,
        () =>
          eventually(async () => {
            const text = await readText(selector, 1_000);
            const ok = typeof expected === "string"
              ? text.includes(expected)
              : expected.test(text);
            if (!ok) {
              throw new Error(
                `${selector} says ${JSON.stringify(text)}, not ${
                  String(expected)
                }`,
              );
            }
            return text;
          }, {
            timeoutMs: options.timeoutMs ?? DEFAULT_WAIT_MS,
            intervalMs: 100,
          }),
      );
    },
    async screenshot(name: string): Promise<string> {
      const dir = artifactsDir();
      await Deno.mkdir(dir, { recursive: true });
      const path = `${dir}/${name}.png`;
      await page.screenshot({ path: path as `${string}.png`, fullPage: true });
      return path;
    },
    assertNoProblems(from = 0): void {
      const seen = problems.slice(from);
      if (seen.length > 0) {
        throw new Error(
          `The page had ${seen.length} problem(s) (console errors, page errors, CSP violations or dialogs); fix the page:\n${
            seen.map((p) => `  ${p.kind}: ${p.text} [${p.url}]`).join("\n")
          }`,
        );
      }
    },
  };
}
