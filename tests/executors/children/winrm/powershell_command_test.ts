import { assert, assertEquals, assertMatch } from "../../../support/assert.ts";
import {
  COMMAND_LINE_LIMIT,
  encodedCommandLine,
  encodePowerShell,
  planScriptDelivery,
  POWERSHELL_PREFIX,
  STDIN_BOOTSTRAP,
} from "../../../../executors/children/winrm/powershell_command.ts";
import { fromUtf16le } from "../../../../executors/children/winrm/ntlm_crypto.ts";
import { fromBase64 } from "../../../../executors/children/winrm/wsman.ts";

const FIXTURES = new URL(
  "../../../testdata/winrm/",
  import.meta.url,
);

Deno.test("encodePowerShell() matches pywinrm's recorded -encodedcommand of Write-Error", () => {
  const recorded = Deno.readTextFileSync(
    new URL("pywinrm-conftest/run_ps_request.xml", FIXTURES),
  );
  const base64 = /-encodedcommand ([A-Za-z0-9+/=]+)</.exec(recorded)![1]!;
  assertEquals(encodePowerShell('Write-Error "Error"'), base64);
  assertEquals(
    encodedCommandLine('Write-Error "Error"'),
    `powershell -NoProfile -NonInteractive -EncodedCommand ${base64}`,
  );
});

Deno.test("planScriptDelivery() keeps a short script on the command line", () => {
  const plan = planScriptDelivery("Get-Service | Select-Object Name");
  assertEquals(plan.mode, "command_line");
  assertEquals(plan.stdin, null);
  assertEquals(
    fromUtf16le(fromBase64(plan.commandLine.slice(POWERSHELL_PREFIX.length))),
    "Get-Service | Select-Object Name",
  );
});

Deno.test("planScriptDelivery() sends a script too long for cmd.exe over stdin, losslessly", () => {
  const script = "# ünïcödé 😀\r\n" + "Write-Output 'x'\n".repeat(600);
  assert(encodedCommandLine(script).length > COMMAND_LINE_LIMIT);
  const plan = planScriptDelivery(script);
  assertEquals(plan.mode, "stdin");
  assert(plan.commandLine.length < 1000, "the bootstrap is short");
  assertEquals(
    fromUtf16le(fromBase64(plan.commandLine.slice(POWERSHELL_PREFIX.length))),
    STDIN_BOOTSTRAP,
  );
  const stdin = new TextDecoder().decode(plan.stdin!);
  assertMatch(stdin, /^([A-Za-z0-9+/=]{1,76}\r\n)+$/);
  assertEquals(
    new TextDecoder().decode(fromBase64(stdin.replace(/\s+/g, ""))),
    script,
  );
});

Deno.test("planScriptDelivery() switches exactly at the limit", () => {
  const fits = "a".repeat(
    Math.floor((COMMAND_LINE_LIMIT - POWERSHELL_PREFIX.length) / 8) * 3,
  );
  assert(encodedCommandLine(fits).length <= COMMAND_LINE_LIMIT);
  assertEquals(planScriptDelivery(fits).mode, "command_line");
  assertEquals(planScriptDelivery(fits + "aaaa").mode, "stdin");
});
