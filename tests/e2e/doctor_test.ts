/**
 * `deno task doctor` as an operator runs it, against the CCP emulator.
 */
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { runDenoTask } from "../support/deno_task.ts";
import { fromFileUrl } from "../support/paths.ts";
import {
  loadEmulatorData,
  startCcpEmulator,
} from "../../emulator/ccp_emulator.ts";
import { freePort } from "../support/free_port.ts";

const KEY = "3f1c9a7e5b2d8f4a6c0e9b7d5a3f1c8e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a";
const HOST_KEY =
  "127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

interface DoctorRun {
  code: number;
  lines: string[];
  stderr: string;
}

async function doctor(
  env: Record<string, string>,
  options: { mode?: number; args?: string[] } = {},
): Promise<DoctorRun> {
  const dir = await Deno.makeTempDir({ prefix: "doctor-e2e-" });
  try {
    await Deno.writeTextFile(`${dir}/known_hosts`, `${HOST_KEY}\n`);
    const output = await runDenoTask("doctor", {
      SSH_KNOWN_HOSTS: `${dir}/known_hosts`,
      ...env,
    }, {
      dir,
      ...(options.args === undefined ? {} : { args: options.args }),
      envFileMode: options.mode ?? 0o600,
    });
    const stdout = output.stdout.trim();
    return {
      code: output.code,
      lines: stdout === "" ? [] : stdout.split("\n"),
      stderr: output.stderr,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function statuses(run: DoctorRun): Record<string, string> {
  return Object.fromEntries(run.lines.map((line) => {
    const match = /^(PASS|WARN|FAIL) ([a-z-]+): /.exec(line);
    assert(match !== null, `not a doctor line: ${line}`);
    return [match[2]!, match[1]!];
  }));
}

Deno.test({
  name:
    "deno task doctor: demo-like config exits 0 with WARNs, a FAIL exits 1, a bad config exits 2",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const emulator = await startCcpEmulator({
      data: await loadEmulatorData(
        fromFileUrl(
          new URL("../../emulator/demo_accounts.json", import.meta.url),
        ),
      ),
    });
    const demo = {
      MCP_API_KEYS: KEY,
      CYBERARK_CCP_URL: emulator.url,
      CYBERARK_APP_ID: "MCP-Privileged-Service",
      HOST: "127.0.0.1",
      LOG_FORMAT: "console",
    };
    try {
      await t.step(
        "the demo configuration passes with the expected warnings",
        async () => {
          const run = await doctor(demo);
          assertEquals(run.code, 0, run.lines.join("\n") + run.stderr);
          const seen = statuses(run);
          assertEquals(seen["api-keys"], "PASS");
          assertEquals(seen["changeme"], "PASS");
          assertEquals(seen["handle-single-use"], "PASS");
          assertEquals(seen["handle-ttl"], "PASS");
          assertEquals(seen["ssh-known-hosts"], "PASS");
          assertEquals(seen["env-file"], "PASS");
          assertEquals(seen["cyberark-tls"], "WARN"); // the emulator speaks http://
          assertEquals(seen["log-format"], "WARN");
          assertEquals(seen["ccp"], "PASS");
          assertEquals(seen["executor-sandbox"], "PASS");
          assertEquals(seen["rate-limits"], "PASS");
          assert(
            run.lines.includes(
              "PASS rate-limits: AUTH_FAILURE_LIMIT=10 per 60 s per client IP, TOOL_CALL_LIMIT=0 (tool calls not limited), counted in this process",
            ),
            run.lines.join("\n"),
          );
          assertEquals(
            seen["service-user"],
            Deno.uid() === 0 ? "WARN" : "PASS",
          );
          const ccp = run.lines.find((l) => l.startsWith("PASS ccp:"))!;
          assertMatch(ccp, /APPAP004E \(HTTP 404\).*the manual's APPAP007E/);
          assertMatch(
            run.stderr,
            /doctor: \d+ checks, \d+ PASS, \d+ WARN, 0 FAIL/,
          );
          for (const line of run.lines) {
            assert(!line.includes(KEY), "the API key was printed");
            assertMatch(
              line,
              /^(PASS [a-z-]+: [^;]+|(WARN|FAIL) [a-z-]+: .+; .+)$/,
            );
          }
        },
      );

      await t.step(
        "an existing probe object is retrieved and its secret never printed",
        async () => {
          const run = await doctor(demo, {
            args: [
              "--probe-safe",
              "PROD-LINUX",
              "--probe-object",
              "linux-root",
            ],
          });
          assertEquals(run.code, 0);
          const ccp = run.lines.find((l) => l.startsWith("PASS ccp:"))!;
          assertMatch(ccp, /answered 200/);
          assert(!run.lines.join("\n").includes("Demo-fQVtFAtB"));
        },
      );

      await t.step(
        "checklist violations fail with their fixes and exit 1",
        async () => {
          const run = await doctor({
            ...demo,
            HANDLE_SINGLE_USE: "false",
            SSH_KNOWN_HOSTS: "disable",
          }, { mode: 0o644 });
          assertEquals(run.code, 1);
          const seen = statuses(run);
          assertEquals(seen["handle-single-use"], "FAIL");
          assertEquals(seen["ssh-known-hosts"], "FAIL");
          assertEquals(seen["env-file"], "FAIL");
          assert(
            run.lines.some((l) =>
              /^FAIL env-file: .* has mode 644: other users can read the API keys; chmod 600 /
                .test(l)
            ),
            run.lines.join("\n"),
          );
        },
      );

      await t.step("an unreachable CCP fails the probe", async () => {
        const port = freePort();
        const run = await doctor({
          ...demo,
          CYBERARK_CCP_URL:
            `http://127.0.0.1:${port}/AIMWebService/api/Accounts`,
        }, { args: ["--skip-sandbox"] });
        assertEquals(run.code, 1);
        assertEquals(statuses(run)["ccp"], "FAIL");
        assertEquals(statuses(run)["executor-sandbox"], undefined);
      });

      await t.step(
        "an invalid configuration prints its one line and exits 2",
        async () => {
          const run = await doctor({ ...demo, HANDLE_TTL_SECONDS: "soon" });
          assertEquals(run.code, 2);
          assertEquals(run.lines, []);
          assertMatch(
            run.stderr.trim(),
            /^Invalid configuration: HANDLE_TTL_SECONDS is "soon", not a whole number/,
          );
        },
      );
    } finally {
      await emulator.close();
    }
  },
});
