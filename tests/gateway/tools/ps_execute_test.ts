import { assertEquals, assertStringIncludes } from "../../support/assert.ts";
import {
  formatPsResult,
  psFailureText,
  windowsDomain,
} from "../../../gateway/tools/ps_execute.ts";

const account = (
  username: string,
  address: string,
  properties: Record<string, string> = {},
): {
  username: string;
  address: string;
  properties: Record<string, string>;
} => ({
  username,
  address,
  properties,
});

Deno.test("windowsDomain() prefers the account's LogonDomain property", () => {
  assertEquals(
    windowsDomain(
      account("svc_admin", "win01.corp.example.com", { LogonDomain: "CORP" }),
      "win01.corp.example.com",
    ),
    "CORP",
  );
  assertEquals(
    windowsDomain(
      account("svc_admin", "10.0.0.5", { logondomain: " CORP " }),
      "10.0.0.5",
    ),
    "CORP",
  );
});

Deno.test("windowsDomain() leaves DOMAIN\\user and user@domain to the executor", () => {
  assertEquals(
    windowsDomain(
      account("CORP\\svc", "corp.example.com"),
      "win01.corp.example.com",
    ),
    undefined,
  );
  assertEquals(
    windowsDomain(
      account("svc@corp.example.com", "corp.example.com"),
      "win01.corp.example.com",
    ),
    undefined,
  );
});

Deno.test("windowsDomain() takes a domain Address the host belongs to, and nothing for a local account", () => {
  assertEquals(
    windowsDomain(account("svc", "corp.example.com"), "win01.corp.example.com"),
    "corp.example.com",
  );
  // The Address is the host itself: a local account.
  assertEquals(
    windowsDomain(
      account("svc", "win01.corp.example.com"),
      "win01.corp.example.com",
    ),
    undefined,
  );
  assertEquals(
    windowsDomain(account("svc", "10.0.0.5"), "10.0.0.5"),
    undefined,
  );
  assertEquals(
    windowsDomain(
      account("svc", "other.example.com"),
      "win01.corp.example.com",
    ),
    undefined,
  );
  assertEquals(
    windowsDomain(account("svc", "localhost"), "localhost"),
    undefined,
  );
});

Deno.test("psFailureText() tells NTLM and Basic logins apart in the fix", () => {
  const failure = {
    code: "auth_failed" as const,
    message: "Access is denied.",
  };
  const target = { host: "win01", port: 5985 };
  const tls = { verifyTls: true };
  const ntlm = psFailureText(failure, target, {
    auth: "ntlm",
    tls,
    limitMs: 30_000,
  });
  assertStringIncludes(ntlm, "Access denied on win01:5985 (WinRM, ntlm)");
  assertStringIncludes(ntlm, "LogonDomain");
  const basic = psFailureText(failure, target, {
    auth: "basic",
    tls,
    limitMs: 30_000,
  });
  assertStringIncludes(basic, "Auth\\Basic -Value $true");
});

Deno.test("psFailureText() names the CA bundle to fix for an untrusted certificate", () => {
  const failure = { code: "tls_failed" as const, message: "unknown issuer" };
  const target = { host: "win01", port: 5986 };
  assertStringIncludes(
    psFailureText(failure, target, {
      auth: "ntlm",
      tls: { verifyTls: true },
      limitMs: 30_000,
    }),
    "Set WINRM_VERIFY_SSL to the PEM CA bundle",
  );
  assertStringIncludes(
    psFailureText(failure, target, {
      auth: "ntlm",
      tls: { verifyTls: true, caBundlePath: "/etc/mcp/winrm-ca.pem" },
      limitMs: 30_000,
    }),
    "Check that /etc/mcp/winrm-ca.pem (WINRM_VERIFY_SSL)",
  );
});

Deno.test("psFailureText() gives WinRM's listener checks for a refused connection and seconds for a timeout", () => {
  const target = { host: "win01", port: 5985 };
  const options = {
    auth: "ntlm" as const,
    tls: { verifyTls: true },
    limitMs: 45_000,
  };
  assertStringIncludes(
    psFailureText(
      { code: "connection_failed", message: "connection refused" },
      target,
      options,
    ),
    "winrm enumerate winrm/config/listener",
  );
  assertStringIncludes(
    psFailureText({ code: "timeout", message: "stopped" }, target, options),
    "PowerShell on win01:5985 timed out after 45 s",
  );
});

Deno.test("formatPsResult() writes the manual's format with errors and a non-zero exit code", () => {
  const text = formatPsResult({
    kind: "powershell",
    exitCode: 3,
    stdout: "\nRunning\n",
    stderr: "Write-Error: boom\n",
    hadErrors: true,
    stdoutTruncated: false,
    stderrTruncated: false,
    delivery: "command_line",
    shellDeleted: true,
  }, { host: "win01", script: "Get-Service", cap: 1024 });
  assertEquals(
    text,
    [
      "Host: win01",
      "Script length: 11 chars",
      "Had errors: True",
      "--- output ---",
      "Running",
      "--- errors ---",
      "Write-Error: boom",
      "Exit code: 3",
    ].join("\n"),
  );
});
