import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";
import {
  checkEnvFile,
  checkKnownHosts,
  checkPfxFile,
  type CheckResult,
  checkServiceUser,
  type FileFacts,
  fileFacts,
} from "../../../gateway/doctor/mod.ts";
import { ED25519_LINE, statusOf, USER } from "./_doctor.ts";

/** A regular file with permission bits `mode`, owned by `uid`. */
function file(mode: number, uid = USER.uid): FileFacts {
  return { kind: "file", mode: 0o100000 | mode, uid };
}

Deno.test("checkEnvFile() wants mode 600 and the running user as owner", () => {
  const path = "/opt/mcp-privileged/.env";
  const envFile = (facts: FileFacts): CheckResult =>
    checkEnvFile(path, facts, USER);
  assertEquals(statusOf(envFile(file(0o600))), "PASS env-file");
  assertEquals(statusOf(envFile(file(0o400))), "PASS env-file");
  const open = envFile(file(0o644));
  assertEquals(statusOf(open), "FAIL env-file");
  assertStringIncludes(open.detail, "mode 644");
  assertEquals(open.fix, `chmod 600 ${path}`);
  const foreign = envFile(file(0o600, 0));
  assertEquals(statusOf(foreign), "WARN env-file");
  assertStringIncludes(foreign.detail, "owned by uid 0, not by mcpuser");
  assertEquals(statusOf(envFile({ kind: "missing" })), "WARN env-file");
  assertEquals(
    statusOf(envFile({ kind: "unreadable", reason: "permission denied" })),
    "FAIL env-file",
  );
  assertEquals(
    statusOf(checkEnvFile(undefined, { kind: "missing" }, USER)),
    "PASS env-file",
  );
});

Deno.test("checkPfxFile() wants mode 400 when a PFX is set", () => {
  const path = "/opt/mcp-privileged/certs/mcp.pfx";
  const pfxFile = (facts: FileFacts): CheckResult =>
    checkPfxFile(path, facts, USER);
  assertEquals(
    statusOf(checkPfxFile(undefined, { kind: "missing" }, USER)),
    "PASS cyberark-pfx",
  );
  assertEquals(statusOf(pfxFile(file(0o400))), "PASS cyberark-pfx");
  const writable = pfxFile(file(0o600));
  assertEquals(statusOf(writable), "WARN cyberark-pfx");
  assertStringIncludes(writable.fix ?? "", `chmod 400 ${path}`);
  assertEquals(statusOf(pfxFile(file(0o640))), "FAIL cyberark-pfx");
  assertEquals(statusOf(pfxFile({ kind: "missing" })), "FAIL cyberark-pfx");
});

Deno.test("checkPfxFile() accepts a Kubernetes Secret file: root-owned, mode 440, the service's own group", () => {
  const path = "/etc/mcp/ccp/mcp.pfx";
  const user = { ...USER, gid: 10001 };
  const secret = (mode: number, uid: number, gid: number): string =>
    statusOf(checkPfxFile(path, { kind: "file", mode, uid, gid }, user));
  assertEquals(secret(0o100440, 0, 10001), "PASS cyberark-pfx");
  assertEquals(secret(0o100440, 0, 0), "FAIL cyberark-pfx");
  assertEquals(secret(0o100460, 0, 10001), "FAIL cyberark-pfx");
  assertEquals(secret(0o100444, 0, 10001), "FAIL cyberark-pfx");
  assertEquals(secret(0o100440, 4242, 10001), "FAIL cyberark-pfx");
});

Deno.test("checkKnownHosts() fails disable, unreadable or world-writable files, warns when empty", () => {
  const file = { mode: "file" as const, path: "/etc/mcp/ssh_known_hosts" };
  const good = checkKnownHosts(file, {
    kind: "text",
    text: `# scanned\n${ED25519_LINE}\n`,
    mode: 0o100440,
  });
  assertEquals(statusOf(good), "PASS ssh-known-hosts");
  assertStringIncludes(good.detail, "1 host key(s)");

  assertEquals(
    statusOf(checkKnownHosts({ mode: "disable" }, { kind: "missing" })),
    "FAIL ssh-known-hosts",
  );
  assertEquals(
    statusOf(
      checkKnownHosts(file, {
        kind: "unreadable",
        reason: "permission denied",
      }),
    ),
    "FAIL ssh-known-hosts",
  );
  assertEquals(
    statusOf(
      checkKnownHosts(file, {
        kind: "text",
        text: ED25519_LINE,
        mode: 0o100666,
      }),
    ),
    "FAIL ssh-known-hosts",
  );
  const missing = checkKnownHosts(file, { kind: "missing" });
  assertEquals(statusOf(missing), "WARN ssh-known-hosts");
  assertStringIncludes(missing.fix ?? "", "ssh-keyscan -H HOST >> /etc/mcp/");
  assertEquals(
    statusOf(
      checkKnownHosts(file, { kind: "text", text: "# none\n", mode: 0o100644 }),
    ),
    "WARN ssh-known-hosts",
  );
  const garbled = checkKnownHosts(file, {
    kind: "text",
    text: `${ED25519_LINE}\nnot a key line\n`,
    mode: 0o100644,
  });
  assertEquals(statusOf(garbled), "WARN ssh-known-hosts");
  assertStringIncludes(garbled.detail, "line 2");
});

Deno.test("checkServiceUser() warns when run as root", () => {
  assertEquals(statusOf(checkServiceUser(USER)), "PASS service-user");
  assertEquals(statusOf(checkServiceUser({ uid: 0 })), "WARN service-user");
});

Deno.test("fileFacts() reports mode and owner, missing files and directories", async () => {
  const dir = await Deno.makeTempDir({ prefix: "doctor-" });
  try {
    const path = `${dir}/.env`;
    await Deno.writeTextFile(path, "X=1\n", { mode: 0o600 });
    await Deno.chmod(path, 0o640);
    const facts = fileFacts(path);
    assert(facts.kind === "file");
    assertEquals(facts.mode & 0o777, 0o640);
    assertEquals(facts.uid, Deno.uid());
    assertEquals(fileFacts(`${dir}/nothing`), { kind: "missing" });
    assertEquals(fileFacts(dir).kind, "unreadable");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
