/**
 * The approvals console in a real browser: Debian's headless Chromium
 * (puppeteer-core) against the real gateway (`deno task start`), a real
 * OpenSSH server, the CCP emulator and the MCP SDK client. Principal alice
 * runs `apt-get install` over ssh_execute, which a rule sends for approval;
 * approver bob logs in to `/approvals/`, sees the call wait, approves or
 * denies it by clicking, and alice's call completes or fails accordingly.
 * Request fields render as text, and the whole session runs under the
 * console's strict CSP without a console error.
 *
 * Screenshots go to `TEST_ARTIFACTS_DIR` (default `tests/.artifacts/`);
 * `UPDATE_DOCS_SCREENSHOTS=1` also copies the console with a pending request
 * to `docs/approvals-console.png`.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../support/assert.ts";
import {
  announceBrowserSkip,
  launchBrowser,
  type PageProblem,
  type TestPage,
} from "../support/browser.ts";
import { randomApiKey, startCcpFixture } from "../support/ccp_fixture.ts";
import { eventually } from "../support/eventually.ts";
import { PROJECT_ROOT, startGateway } from "../support/gateway_process.ts";
import {
  connectMcp,
  resultText,
  type ToolOutcome,
} from "../support/mcp_client.ts";
import { announceSshdSkip, sshdAccount, startSshd } from "../support/sshd.ts";

const sshdSkip = await announceSshdSkip();
const browserSkip = await announceBrowserSkip();

const APPROVE_RULE = "package-changes-need-approval";
const ALLOW_RULE = "web-servers";

/** alice may run anything on loopback's sshd; installing packages needs a second person. */
const POLICY = `rules:
  - name: ${ALLOW_RULE}
    principals: [alice]
    safes: ["PROD-LINUX"]
    objects: ["svc_admin"]
    tools: [get_credential, ssh_execute]
    hosts: ["127.0.0.0/8"]
    effect: allow
  - name: ${APPROVE_RULE}
    description: package changes on production need a second person
    principals: ["*"]
    tools: [ssh_execute]
    commands: ["\\\\bapt-get\\\\s+install\\\\b"]
    effect: approve
`;

/** A tool call that has not been awaited yet; it never rejects. */
interface RunningCall {
  /** Resolves with the outcome, or with the error the client threw. */
  readonly done: Promise<ToolOutcome | Error>;
}

/** The outcome of a running call, failing the test when the client threw. */
async function outcomeOf(call: RunningCall): Promise<ToolOutcome> {
  const outcome = await call.done;
  if (outcome instanceof Error) throw outcome;
  return outcome;
}

/** The selector of one request's element in a list. */
function requestSelector(list: "pending" | "recent", id: string): string {
  return `[data-testid="${list}"] [data-request-id="${id}"]`;
}

Deno.test({
  name:
    "approvals console in a real browser: bob logs in, sees alice's call wait, approves and denies it by clicking, and every field renders as text under the CSP",
  ignore: sshdSkip !== null || browserSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const sshd = await startSshd();
    const ccp = await startCcpFixture("PROD-LINUX", [
      sshdAccount(sshd, "svc_admin"),
    ]);
    const aliceKey = randomApiKey();
    const bobKey = randomApiKey();
    const dir = await Deno.makeTempDir({ prefix: "mcp-approvals-browser-" });
    const policyFile = `${dir}/policy.yaml`;
    await Deno.writeTextFile(policyFile, POLICY);
    const gateway = await startGateway({
      ...ccp.gatewayEnv,
      MCP_API_KEYS: `alice:${aliceKey}`,
      APPROVERS: `bob:${bobKey}`,
      APPROVAL_TIMEOUT_SECONDS: "120",
      SSH_KNOWN_HOSTS: sshd.knownHostsPath,
      POLICY_FILE: policyFile,
    });
    const browser = await launchBrowser();
    const clients: Client[] = [];
    const running: RunningCall[] = [];
    try {
      const connect = async (endpoint: string): Promise<Client> => {
        const client = await connectMcp(
          `${gateway.baseUrl}/mcp/${endpoint}`,
          aliceKey,
        );
        clients.push(client);
        return client;
      };
      const cyberark = await connect("cyberark");
      const ssh = await connect("ssh");
      const consoleUrl = `${gateway.baseUrl}/approvals/`;
      const tab: TestPage = await browser.newPage();
      /** Problems the test caused on purpose (a refused login), not the page. */
      const expected = new Set<PageProblem>();

      const handleFor = async (reason: string): Promise<string> => {
        const result = await cyberark.callTool({
          name: "get_credential",
          arguments: { safe: "PROD-LINUX", object_name: "svc_admin", reason },
        });
        const text = resultText(result);
        assertEquals(result.isError === true, false, text);
        const handle = text.split("\n")[0]!.replace("Handle: ", "");
        assertMatch(handle, /^secret:\/\/[A-Za-z0-9_-]{43}$/);
        return handle;
      };

      /** Starts ssh_execute as alice without awaiting it (it waits for bob). */
      const startSsh = async (
        command: string,
        reason: string,
      ): Promise<RunningCall> => {
        const secretHandle = await handleFor(reason);
        const done = ssh.callTool(
          {
            name: "ssh_execute",
            arguments: {
              host: "127.0.0.1",
              port: sshd.port,
              command,
              secret_handle: secretHandle,
            },
          },
          undefined,
          // The call waits for a person: longer than the SDK's 60 s default,
          // and kept alive by the gateway's progress notifications.
          {
            timeout: 120_000,
            resetTimeoutOnProgress: true,
            onprogress: () => {},
          },
        ).then(
          (result: CallToolResult): ToolOutcome => ({
            text: resultText(result),
            isError: result.isError === true,
          }),
          (error: unknown): Error =>
            error instanceof Error ? error : new Error(String(error)),
        );
        const call = { done };
        running.push(call);
        return call;
      };

      /** The id of the pending request whose command is `command`, once the console shows it. */
      const pendingIdFor = (command: string): Promise<string> =>
        eventually(async () => {
          const id = await tab.page.$$eval(
            '[data-testid="pending"] [data-request-id]',
            (elements, wanted) =>
              elements.find((e) =>
                e.querySelector('[data-field="command"]')?.textContent ===
                  wanted
              )?.getAttribute("data-request-id") ?? null,
            command,
          );
          if (id === null) {
            throw new Error(
              `The console shows no pending request for ${
                JSON.stringify(command)
              }`,
            );
          }
          return id;
        }, { timeoutMs: 30_000, intervalMs: 100 });

      const fieldOf = (
        list: "pending" | "recent",
        id: string,
        field: string,
      ): Promise<string> =>
        tab.textOf(`${requestSelector(list, id)} [data-field="${field}"]`);

      /** Types a comment into a pending request and clicks approve or deny. */
      const decide = async (
        id: string,
        action: "approve" | "deny",
        comment: string,
      ): Promise<void> => {
        const item = requestSelector("pending", id);
        await (await tab.waitFor(`${item} textarea[name="comment"]`)).type(
          comment,
        );
        await (await tab.waitFor(`${item} button[data-action="${action}"]`))
          .click();
      };

      // Each step builds on the one before (a session, a decided request):
      // after a failure the rest are skipped instead of each timing out.
      let broken = false;
      const step = async (
        name: string,
        fn: () => void | Promise<void>,
      ): Promise<void> => {
        const passed = await t.step({ name, ignore: broken, fn });
        if (!passed) broken = true;
      };

      await step(
        "a wrong approver key is refused on the login page",
        async () => {
          await tab.goto(consoleUrl);
          await tab.waitFor("form#login");
          const before = tab.problems.length;
          await (await tab.waitFor('form#login input[name="key"]')).type(
            randomApiKey(),
          );
          await Promise.all([
            tab.page.waitForNavigation(),
            tab.page.click('form#login button[type="submit"]'),
          ]);
          const error = await tab.textOf('[data-testid="login-error"]');
          assertStringIncludes(error, "not valid");
          await tab.waitFor("form#login");
          // Chromium logs the refused login's 401 as a failed load.
          for (const problem of tab.problems.slice(before)) {
            assert(
              problem.kind === "console" &&
                /Failed to load resource: .* 401/.test(problem.text),
              `unexpected ${problem.kind}: ${problem.text}`,
            );
            expected.add(problem);
          }
        },
      );

      await step(
        "bob logs in with his key and sees his name and no pending request",
        async () => {
          await (await tab.waitFor('form#login input[name="key"]')).type(
            bobKey,
          );
          await Promise.all([
            tab.page.waitForNavigation(),
            tab.page.click('form#login button[type="submit"]'),
          ]);
          await tab.waitForText('[data-testid="approver"]', "bob");
          await tab.waitFor('[data-testid="no-pending"]');
          assertEquals(
            await tab.page.$$eval(
              '[data-testid="pending"] [data-request-id]',
              (elements) => elements.length,
            ),
            0,
          );
          const cookies = await browser.browser.cookies();
          assert(cookies.length > 0, "no session cookie");
          for (const cookie of cookies) {
            assert(cookie.httpOnly, `cookie ${cookie.name} is not HttpOnly`);
            assertEquals(cookie.sameSite, "Strict", cookie.name);
            assert(!cookie.value.includes(bobKey), "the key is in a cookie");
          }
        },
      );

      await step(
        "a command no approval rule matches runs at once and never reaches the console",
        async () => {
          const call = await startSsh("echo ran-without-approval", "check");
          const outcome = await outcomeOf(call);
          assertEquals(outcome.isError, false, outcome.text);
          assertStringIncludes(outcome.text, "ran-without-approval");
          assert(!outcome.text.includes("Approved by"), outcome.text);
          await tab.waitFor('[data-testid="no-pending"]');
          assertEquals(
            await tab.page.$$eval(
              "[data-request-id]",
              (elements) => elements.length,
            ),
            0,
          );
        },
      );

      await step(
        "bob denies a call with a comment; alice's call fails with that comment and does not run",
        async () => {
          const command =
            "sudo apt-get install -y telnetd && echo installed-without-approval";
          const call = await startSsh(command, "debugging");
          const id = await pendingIdFor(command);
          await decide(id, "deny", "No telnet on production; use ssh");
          const outcome = await outcomeOf(call);
          assertEquals(outcome.isError, true, outcome.text);
          assertStringIncludes(outcome.text, 'Denied by approver "bob"');
          assertStringIncludes(
            outcome.text,
            "No telnet on production; use ssh",
          );
          assert(!outcome.text.includes("installed-without-approval"));
          await tab.waitFor(requestSelector("recent", id));
          assertEquals(await fieldOf("recent", id, "state"), "denied");
          assertEquals(await fieldOf("recent", id, "approver"), "bob");
          assertEquals(
            await fieldOf("recent", id, "comment"),
            "No telnet on production; use ssh",
          );
        },
      );

      await step(
        "alice's apt-get install waits for approval, shows in the console in full, and runs once bob clicks Approve",
        async () => {
          const command =
            "apt-get install --simulate --only-upgrade apache2 >/dev/null 2>&1; echo upgraded-after-approval";
          const reason = "CHG-4711 Apache security update";
          const call = await startSsh(command, reason);
          const id = await pendingIdFor(command);
          assertEquals(await fieldOf("pending", id, "principal"), "alice");
          assertEquals(await fieldOf("pending", id, "tool"), "ssh_execute");
          assertEquals(
            await fieldOf("pending", id, "target"),
            `127.0.0.1:${sshd.port}`,
          );
          const credential = await fieldOf("pending", id, "credential");
          assertStringIncludes(credential, "PROD-LINUX/svc_admin");
          assertStringIncludes(credential, sshd.username);
          assertEquals(await fieldOf("pending", id, "command"), command);
          assertEquals(await fieldOf("pending", id, "rule"), APPROVE_RULE);
          assertEquals(await fieldOf("pending", id, "reason"), reason);
          await eventually(async () =>
            assertMatch(
              await fieldOf("pending", id, "time-left"),
              /^(\d+ min )?\d+ s$/,
            )
          );
          const page = await tab.textOf("body");
          assert(!page.includes("secret://"), "the console shows a handle");
          const item = requestSelector("pending", id);
          await (await tab.waitFor(`${item} textarea[name="comment"]`)).type(
            "Patch window CHG-4711, go ahead",
          );
          // The picture in the README: the patching run waiting for bob,
          // the earlier call he denied among the recent decisions.
          const shot = await tab.screenshot("approvals-console-pending");
          if (Deno.env.get("UPDATE_DOCS_SCREENSHOTS") === "1") {
            await Deno.copyFile(
              shot,
              `${PROJECT_ROOT}docs/approvals-console.png`,
            );
          }
          await (await tab.waitFor(`${item} button[data-action="approve"]`))
            .click();
          const outcome = await outcomeOf(call);
          assertEquals(outcome.isError, false, outcome.text);
          assertStringIncludes(outcome.text, "Approved by: bob");
          assertStringIncludes(outcome.text, "upgraded-after-approval");

          await tab.waitFor(requestSelector("recent", id));
          await tab.waitForGone(requestSelector("pending", id));
          assertEquals(await fieldOf("recent", id, "state"), "approved");
          assertEquals(await fieldOf("recent", id, "approver"), "bob");
          assertEquals(
            await fieldOf("recent", id, "comment"),
            "Patch window CHG-4711, go ahead",
          );
          await tab.waitFor('[data-testid="no-pending"]');
        },
      );

      await step(
        "markup in a command and a comment shows as text: no script runs, no element is made",
        async () => {
          const markup =
            `<script>alert(1)</script> "><img src=x onerror=alert(1)>`;
          const command =
            `echo '${markup}'; apt-get install --simulate apache2`;
          const comment =
            `</textarea><b>bold</b> "><img src=y onerror=alert(2)>`;
          const elementsBefore = await tab.page.$$eval(
            "script, img, iframe, object, embed, b",
            (elements) => elements.length,
          );
          const call = await startSsh(command, `<i>${markup}</i>`);
          const id = await pendingIdFor(command);
          const item = requestSelector("pending", id);
          assertEquals(await fieldOf("pending", id, "command"), command);
          assertEquals(
            await fieldOf("pending", id, "reason"),
            `<i>${markup}</i>`,
          );
          assertEquals(
            await tab.page.$eval(
              `${item} [data-field="command"]`,
              (e) => e.childElementCount,
            ),
            0,
          );
          await tab.screenshot("approvals-console-markup");
          await decide(id, "deny", comment);
          const outcome = await outcomeOf(call);
          assertEquals(outcome.isError, true, outcome.text);
          assertStringIncludes(outcome.text, comment);
          await tab.waitFor(requestSelector("recent", id));
          assertEquals(await fieldOf("recent", id, "comment"), comment);
          assertEquals(await fieldOf("recent", id, "command"), command);
          assertEquals(
            await tab.page.$$eval(
              "script, img, iframe, object, embed, b",
              (elements) => elements.length,
            ),
            elementsBefore,
            "the markup created elements",
          );
          assertEquals(
            tab.problems.filter((p) => p.kind === "dialog"),
            [],
            "a dialog opened",
          );
        },
      );

      await step(
        "the whole session had no console error, page error, CSP violation or dialog",
        () => {
          const unexpected = tab.problems.filter((p) => !expected.has(p));
          assertEquals(
            unexpected.map((p) => `${p.kind}: ${p.text} [${p.url}]`),
            [],
          );
        },
      );

      await step(
        "bob logs out; the console asks for a key again",
        async () => {
          await Promise.all([
            tab.page.waitForNavigation(),
            tab.page.click('button[data-action="logout"]'),
          ]);
          await tab.waitFor("form#login");
          await tab.goto(consoleUrl);
          await tab.waitFor("form#login");
          assertEquals(
            await tab.page.$$('[data-testid="approver"]'),
            [],
            "the console still shows a logged-in approver",
          );
          const unexpected = tab.problems.filter((p) => !expected.has(p));
          assertEquals(
            unexpected.map((p) => `${p.kind}: ${p.text} [${p.url}]`),
            [],
          );
        },
      );
    } finally {
      await browser.close();
      for (const client of clients) await client.close().catch(() => {});
      // A call a failed step left waiting ends with its client.
      await Promise.all(running.map((call) => call.done));
      await gateway.stop();
      await ccp.close();
      await sshd.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
