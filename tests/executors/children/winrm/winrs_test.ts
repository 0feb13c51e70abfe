/**
 * runPowerShell() against the wire-level WinRM test server (NTLM, sealed),
 * replaying the recorded Windows responses, in process.
 */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../../support/assert.ts";
import {
  EXAMPLE2_STDOUT,
  type WinrmServer,
} from "../../../support/winrm_server.ts";
import { WinrmTransport } from "../../../../executors/children/winrm/winrm_transport.ts";
import {
  type PowerShellRun,
  runPowerShell,
  type RunPowerShellOptions,
  WinrsFaultError,
  WinrsTimeoutError,
} from "../../../../executors/children/winrm/winrs.ts";
import { SIGNAL_TERMINATE } from "../../../../executors/children/winrm/wsman.ts";
import {
  HI_RUN,
  NTLM_SERVER,
  ntlmOptions,
  withWinrmServer,
} from "../_winrm.ts";

function run(
  server: WinrmServer,
  script: string,
  extra: Partial<RunPowerShellOptions> = {},
): Promise<PowerShellRun> {
  const now = performance.now();
  return runPowerShell({
    connect: (signal) =>
      WinrmTransport.connect(ntlmOptions(server, { signal })),
    script,
    deadline: now + 10_000,
    cleanupDeadline: now + 12_000,
    maxOutputBytes: 1024 * 1024,
    ...extra,
  });
}

/** Runs `fn` against an NTLM server that answered every request cleanly. */
function withServer(
  fn: (server: WinrmServer) => Promise<void>,
): Promise<void> {
  return withWinrmServer({ ...NTLM_SERVER, maxHoldMs: 300 }, async (server) => {
    await fn(server);
    assertEquals(server.errors, []);
  });
}

/** The fault running `script` rejects with. */
function faultOf(
  server: WinrmServer,
  script: string,
): Promise<WinrsFaultError> {
  return assertRejects(() => run(server, script), WinrsFaultError);
}

function actions(server: WinrmServer): string[] {
  return server.requests.map((r) => r.action);
}

Deno.test("runPowerShell() runs an encoded command, then signals terminate and deletes the shell", async () => {
  await withServer(async (server) => {
    const result = await run(server, "Write-Output hi");
    assertEquals(result, HI_RUN);
    assertEquals(server.scripts, ["Write-Output hi"]);
    assertEquals(actions(server), [
      "Create",
      "Command",
      "Receive",
      "Signal",
      "Delete",
    ]);
    assertEquals(server.signals.map((s) => s.code), [SIGNAL_TERMINATE]);
    assertEquals(server.shells.deleted, server.shells.created);
    assertEquals(new Set(server.requests.map((r) => r.connection)).size, 1);
  });
});

Deno.test("runPowerShell() reports Write-Error as had errors with decoded CLIXML", async () => {
  await withServer(async (server) => {
    const result = await run(server, 'Write-Error "Error"');
    assertEquals(result.exitCode, 1);
    assertEquals(result.hadErrors, true);
    assertEquals(result.stdout, "");
    assertStringIncludes(result.stderr, 'Write-Error "Error" : Error\n');
    assert(
      !result.stderr.includes("CLIXML") && !result.stderr.includes("_x000D_"),
    );
  });
});

Deno.test("runPowerShell() treats progress records alone as no error, and plain stderr with exit 1 as an error", async () => {
  await withServer(async (server) => {
    const progress = await run(server, "Write-Progress -Activity x; 'hi'");
    assertEquals(
      [progress.hadErrors, progress.stderr, progress.stdout],
      [false, "", "hi\n"],
    );
    const native = await run(
      server,
      "[Console]::Error.WriteLine('err'); exit 1",
    );
    assertEquals(
      [native.hadErrors, native.exitCode, native.stdout, native.stderr],
      [true, 1, "out \n", "err \n"],
    );
  });
});

Deno.test("runPowerShell() retries the OperationTimeout fault until the command is Done", async () => {
  await withServer(async (server) => {
    const result = await run(server, "'hi'; Start-Job {}; 'hi again'");
    assertEquals(result.stdout, "hi\nhi again\n");
    assertEquals(result.exitCode, 0);
    assertEquals(actions(server), [
      "Create",
      "Command",
      "Receive",
      "Receive",
      "Receive",
      "Receive",
      "Signal",
      "Delete",
    ]);
  });
});

Deno.test("runPowerShell() decodes UTF-8 output of the 65001 code page", async () => {
  await withServer(async (server) => {
    const result = await run(server, "Write-Host こんにちは");
    assertEquals(result.stdout, "こんにちは\n");
  });
});

Deno.test("runPowerShell() sends a long script over stdin, byte for byte", async () => {
  await withServer(async (server) => {
    const script = "# ünïcödé 😀\n" + "Write-Output 'line'\n".repeat(4000);
    const result = await run(server, script);
    assertEquals(result.delivery, "stdin");
    assertEquals(server.scripts, [script]);
    const sends = server.requests.filter((r) => r.action === "Send");
    assert(sends.length >= 2, `${sends.length} Send messages`);
    assertStringIncludes(sends.at(-1)!.xml, 'End="true"');
    const command = server.requests.find((r) => r.action === "Command")!;
    assertStringIncludes(
      command.xml,
      '<wsman:Option Name="WINRS_CONSOLEMODE_STDIN">FALSE</wsman:Option>',
    );
    assertEquals(result.shellDeleted, true);
  });
});

Deno.test("runPowerShell() caps output and flags the cut", async () => {
  await withServer(async (server) => {
    const result = await run(server, "Get-Service", { maxOutputBytes: 20 });
    assertEquals(result.stdoutTruncated, true);
    assertEquals(
      result.stdout,
      EXAMPLE2_STDOUT.slice(0, 20).replace(/\r\n/g, "\n"),
    );
  });
});

Deno.test("runPowerShell() stops at the deadline, then terminates the command and deletes the shell on a new connection", async () => {
  await withServer(async (server) => {
    const started = performance.now();
    const error = await assertRejects(
      () =>
        run(server, "Start-Sleep -Seconds 600", {
          deadline: started + 1200,
          cleanupDeadline: started + 4000,
        }),
      WinrsTimeoutError,
    );
    const elapsed = performance.now() - started;
    // The script sleeps 600 s; stopping near the deadline is the point, and a
    // loaded machine may need the whole cleanup time and more.
    assert(elapsed < 15_000, `stopped after ${Math.round(elapsed)} ms`);
    assertEquals(error.stage, "receive");
    assertEquals(error.shellDeleted, true);
    assertEquals(server.signals.map((s) => s.code), [SIGNAL_TERMINATE]);
    assertEquals(server.shells.deleted, server.shells.created);
    const cleanup = server.requests.filter((r) =>
      r.action === "Signal" || r.action === "Delete"
    );
    assertEquals(cleanup.map((r) => r.action), ["Signal", "Delete"]);
  });
});

Deno.test("runPowerShell() turns a Create fault into a clear error and leaves nothing behind", async () => {
  await withServer(async (server) => {
    server.failNextCreate = "quota";
    const error = await faultOf(server, "Write-Output hi");
    assertEquals(error.action, "create");
    assertStringIncludes(
      error.message,
      "WinRM refused to create a shell: w:QuotaLimit: The WS-Management service cannot process the request. This user is allowed a maximum number of 30 concurrent shells",
    );
    assertEquals(actions(server), ["Create"]);
  });
});

Deno.test("runPowerShell() deletes the shell after a Receive fault", async () => {
  await withServer(async (server) => {
    const error = await faultOf(server, "Get-BadCommand");
    assertEquals(error.action, "receive");
    assertStringIncludes(
      error.message,
      "w:InvalidSelectors (WSManFault 2150858843)",
    );
    assertEquals(actions(server).slice(-2), ["Signal", "Delete"]);
    assertEquals(server.shells.deleted, server.shells.created);
  });
});
