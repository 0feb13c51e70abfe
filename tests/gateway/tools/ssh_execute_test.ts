/**
 * ssh_execute's texts without a server: the failure texts the model sees
 * (each names the fix) and the manual's result format.
 */
import type { ExecutorFailure } from "../../../executors/protocol/mod.ts";
import {
  formatSshResult,
  sshFailureText,
} from "../../../gateway/tools/ssh_execute.ts";
import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";

const FILE = { mode: "file", path: "/etc/mcp/known_hosts" } as const;
const PRESENTED = {
  type: "ssh-ed25519",
  key: "AAAAC3NzaC1lZDI1NTE5AAAAIG",
  fingerprint: "SHA256:Qm9ndXNGaW5nZXJwcmludA",
};

function failure(
  code: ExecutorFailure["code"],
  message = "detail",
  extra: Partial<ExecutorFailure> = {},
): ExecutorFailure {
  return { code, message, ...extra };
}

/** The text for `failed` on web01 (port 22 unless given) with a 30 s limit. */
function textFor(failed: ExecutorFailure, port = 22): string {
  return sshFailureText(failed, { host: "web01", port }, FILE, 30_000);
}

Deno.test("sshFailureText() gives the ssh-keyscan line for an unknown host key", () => {
  const text = textFor(
    failure("host_key_unknown", "unknown", { presentedHostKey: PRESENTED }),
  );
  assertStringIncludes(text, "web01 is not in the known_hosts file");
  assertStringIncludes(text, "ssh-keyscan -H web01 >> /etc/mcp/known_hosts");
  assertStringIncludes(text, PRESENTED.fingerprint);
});

Deno.test("sshFailureText() names ssh-keygen -R with the [host]:port form off port 22", () => {
  const text = textFor(
    failure("host_key_mismatch", "changed", { presentedHostKey: PRESENTED }),
    2222,
  );
  assertStringIncludes(text, "the host key of web01:2222 does not match");
  assertStringIncludes(
    text,
    "ssh-keygen -R '[web01]:2222' -f /etc/mcp/known_hosts",
  );
});

Deno.test("sshFailureText() refuses a revoked key without offering to add it", () => {
  const text = textFor(failure("host_key_revoked"));
  assertStringIncludes(text, "@revoked");
  assert(!text.includes("ssh-keyscan"), text);
});

Deno.test("sshFailureText() points a refused login at CyberArk, sshd and the account", () => {
  const text = textFor(failure("auth_failed", "all methods failed"));
  assertStringIncludes(text, "Permission denied for this account on web01");
  assertStringIncludes(text, "PasswordAuthentication yes");
  assertStringIncludes(text, "passwd -S");
});

Deno.test("sshFailureText() reports a timeout in seconds and a refused port with host:port", () => {
  assertStringIncludes(
    sshFailureText(failure("timeout"), { host: "::1", port: 22 }, FILE, 7000),
    "Operation on [::1]:22 timed out after 7 s",
  );
  assertEquals(
    textFor(failure("connection_failed", "connection refused"), 2200),
    "Cannot connect to web01:2200: connection refused",
  );
});

Deno.test("formatSshResult() writes the manual's format and names a signal", () => {
  const base = {
    kind: "ssh" as const,
    stdout: "ok\n",
    stderr: "",
    stdoutTruncated: false,
    stderrTruncated: false,
    hostKeyFingerprint: "SHA256:x",
  };
  assertEquals(
    formatSshResult("web01", "uptime", {
      ...base,
      exitCode: 0,
      signal: null,
    }, 1024),
    "Host: web01\nCommand: uptime\nExit code: 0\n--- stdout ---\nok",
  );
  const killed = formatSshResult("web01", "sleep 9", {
    ...base,
    exitCode: null,
    signal: "KILL",
    stderr: "bye\n",
  }, 1024);
  assertStringIncludes(killed, "Exit code: none (killed by signal KILL)");
  assertStringIncludes(killed, "--- stderr ---\nbye");
});

Deno.test("formatSshResult() adds the truncation notice once", () => {
  const text = formatSshResult("web01", "yes", {
    kind: "ssh",
    exitCode: 0,
    signal: null,
    stdout: "y\ny\n[output truncated at 4 bytes]",
    stderr: "",
    stdoutTruncated: true,
    stderrTruncated: false,
    hostKeyFingerprint: "SHA256:x",
  }, 4);
  assertEquals(text.match(/output truncated/g)?.length, 1);
});
