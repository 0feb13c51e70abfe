/**
 * `deno task approvals` as an approver runs it: against the approvals routes
 * served over HTTP by a small Deno.serve (the gateway's `clientIp()` and
 * `hostGuard()` in front, the real broker behind), configured only by
 * APPROVALS_URL and APPROVER_KEY in its environment.
 */

import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../support/assert.ts";
import { operatorEnv } from "../support/deno_task.ts";
import { PROJECT_ROOT } from "../support/paths.ts";
import {
  ALICE_KEY,
  approvalsHarness,
  BOB_KEY,
} from "../gateway/approvals/http/_harness.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function approvalsTask(
  args: string[],
  env: Record<string, string>,
): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "approvals", ...args],
    cwd: PROJECT_ROOT,
    clearEnv: true,
    env: { ...operatorEnv("/nonexistent/.env"), ...env },
    stdin: "null",
  }).output();
  const decode = (b: Uint8Array): string => new TextDecoder().decode(b);
  return {
    code: out.code,
    stdout: decode(out.stdout),
    stderr: decode(out.stderr),
  };
}

Deno.test({
  name:
    "deno task approvals lists, approves and denies through the API, with exit codes 0, 1 and 2",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const h = approvalsHarness({ allowedHosts: ["127.0.0.1"] });
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request, info) => h.app.fetch(request, { remoteAddr: info.remoteAddr }),
    );
    const url = `http://127.0.0.1:${server.addr.port}/approvals`;
    const env = { APPROVALS_URL: url, APPROVER_KEY: ALICE_KEY };
    try {
      const first = await h.file({
        command: "apt-get install -y apache2\n\x1b[31mred\x1b[0m",
      });
      const second = await h.file({ command: "systemctl restart apache2" });

      await t.step(
        "list prints a table of the requests, newest first",
        async () => {
          const run = await approvalsTask(["list"], env);
          assertEquals(run.code, 0, run.stderr);
          const lines = run.stdout.trimEnd().split("\n");
          assertMatch(
            lines[0]!,
            /^ID\s+STATE\s+AGE\s+LEFT\s+PRINCIPAL\s+TOOL\s+TARGET\s+CREDENTIAL\s+RULE\s+APPROVER\s+COMMENT\s+COMMAND$/,
          );
          assertEquals(lines.length, 3);
          assert(lines[1]!.startsWith(second.id));
          assert(lines[2]!.startsWith(first.id));
          assertStringIncludes(lines[2]!, "pending");
          assertStringIncludes(lines[2]!, "web-01.corp.example:22");
          assertStringIncludes(lines[2]!, "PROD-LINUX/linux-root (root)");
          assertStringIncludes(lines[2]!, "patching-needs-approval");
          assert(
            !run.stdout.includes("\x1b"),
            "terminal escapes are neutralised",
          );
          assert(!run.stdout.includes(ALICE_KEY));
        },
      );

      await t.step(
        "approve ID approves and the waiting call runs",
        async () => {
          const run = await approvalsTask([
            "approve",
            first.id,
            "--comment",
            "patch window",
          ], env);
          assertEquals(run.code, 0, run.stderr);
          assertStringIncludes(run.stdout, `Approved ${first.id}`);
          assertStringIncludes(run.stdout, "as alice");
          const outcome = await first.outcome;
          assertEquals(outcome.state, "approved");
          assertEquals(outcome.comment, "patch window");
        },
      );

      await t.step(
        "list --state pending shows only the pending one",
        async () => {
          const run = await approvalsTask(["list", "--state", "pending"], env);
          assertEquals(run.code, 0, run.stderr);
          assertStringIncludes(run.stdout, second.id);
          assert(!run.stdout.includes(first.id));
        },
      );

      await t.step("deny ID --comment denies with the comment", async () => {
        const run = await approvalsTask([
          "deny",
          second.id,
          "--comment",
          "not on a Friday",
        ], env);
        assertEquals(run.code, 0, run.stderr);
        assertStringIncludes(run.stdout, `Denied ${second.id}`);
        const outcome = await second.outcome;
        assertEquals(outcome.state, "denied");
        assertEquals(outcome.comment, "not on a Friday");
        const empty = await approvalsTask(["list", "--state", "pending"], env);
        assertEquals(empty.stdout.trim(), "No pending approval requests");
      });

      await t.step(
        "a refusal by the gateway exits 1 with its message",
        async () => {
          const again = await approvalsTask(["approve", first.id], env);
          assertEquals(again.code, 1);
          assertStringIncludes(again.stderr, "not_pending");
          const self = await h.file({ principal: "agent-1" });
          const own = await approvalsTask(["approve", self.id], {
            ...env,
            APPROVER_KEY: BOB_KEY,
          });
          assertEquals(own.code, 1);
          assertStringIncludes(own.stderr, "self_approval");
          const wrong = await approvalsTask(["list"], {
            ...env,
            APPROVER_KEY: "wrong-key",
          });
          assertEquals(wrong.code, 1);
          assertStringIncludes(wrong.stderr, "APPROVERS");
          assert(
            !wrong.stderr.includes("wrong-key"),
            "the key is never printed",
          );
          const down = await approvalsTask(["list"], {
            ...env,
            APPROVALS_URL: "http://127.0.0.1:9/approvals",
          });
          assertEquals(down.code, 1);
          assertStringIncludes(down.stderr, "Cannot reach");
        },
      );

      await t.step(
        "a request id that starts with '-' is an id, not an option",
        async () => {
          // base64url ids start with "-" one time in 64.
          const dashed = "-PcV0a1b2c3d4e5f6g7h8A";
          for (
            const args of [["approve", dashed], [
              "deny",
              dashed,
              "--comment",
              "no",
            ]]
          ) {
            const run = await approvalsTask(args, env);
            assertEquals(run.code, 1, run.stderr);
            assertStringIncludes(run.stderr, "not_found");
          }
        },
      );

      await t.step("usage errors exit 2 and say what to fix", async () => {
        const cases: [string[], Record<string, string>, string][] = [
          [[], env, "Name a command"],
          [["frobnicate"], env, 'Unknown command "frobnicate"'],
          [["approve"], env, "needs the request id"],
          [["approve", "not-an-id"], env, "is not a request id"],
          [["deny", first.id], env, "deny needs --comment"],
          [["list", "--state", "done"], env, "--state must be one of"],
          [["list", "--key", ALICE_KEY], env, "Unknown option"],
          [["list"], { APPROVER_KEY: ALICE_KEY }, "Set APPROVALS_URL"],
          [["list"], { APPROVALS_URL: url }, "Set APPROVER_KEY"],
          [["list"], {
            ...env,
            APPROVALS_URL: "http://mcp.corp.example/approvals",
          }, "must use https://"],
        ];
        for (const [args, e, message] of cases) {
          const run = await approvalsTask(args, e);
          assertEquals(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
          assertStringIncludes(run.stderr, message);
          assertStringIncludes(run.stderr, "usage: deno task approvals");
        }
        const help = await approvalsTask(["--help"], {});
        assertEquals(help.code, 0);
        assertStringIncludes(help.stdout, "APPROVER_KEY");
      });
    } finally {
      await server.shutdown();
      await h.close();
    }
  },
});

Deno.test("deno.json runs the approvals CLI with --allow-net --allow-env --allow-read only, and caches it", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(`${PROJECT_ROOT}deno.json`),
  );
  const task = config.tasks.approvals;
  assertEquals(
    task.command,
    "deno run --quiet --cached-only --frozen-lockfile --allow-net --allow-env --allow-read scripts/approvals.ts",
  );
  assertStringIncludes(config.tasks.cache, "scripts/approvals.ts");
});
