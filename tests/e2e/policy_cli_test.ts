/**
 * `deno task policy` as an operator runs it: explain a call, check a file,
 * usage errors; the file from --file or POLICY_FILE in the `.env` file.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../support/assert.ts";
import { type DenoTaskOutput, runDenoTask } from "../support/deno_task.ts";

const POLICY = [
  "groups:",
  "  dba: [alice, ci-bot]",
  "rules:",
  "  - name: dba-read-prod-db",
  '    principals: ["group:dba"]',
  '    safes: ["PROD-DB"]',
  "    tools: [get_credential, db_query]",
  '    hosts: ["*.db.corp.example", "10.20.0.0/16"]',
  "    read_only: true",
  "    effect: allow",
  "  - name: ops-shell",
  "    principals: [bob]",
  "    tools: [ssh_execute]",
  "    effect: allow",
  "  - name: no-destructive-shell",
  '    principals: ["*"]',
  "    tools: [ssh_execute, ps_execute]",
  '    commands: ["(^|[;&|])\\\\s*(rm\\\\s+-rf|mkfs|shutdown|reboot)\\\\b"]',
  "    effect: deny",
  "  - name: ask-for-prod-web",
  '    principals: ["*"]',
  '    safes: ["PROD-WEB"]',
  "    effect: approve",
  "",
].join("\n");

/** Runs `deno task policy ARGS` with the policy in a temporary directory. */
async function policyTask(
  args: (file: string) => string[],
  options: { policy?: string; env?: Record<string, string> } = {},
): Promise<DenoTaskOutput & { file: string }> {
  const dir = await Deno.makeTempDir({ prefix: "mcp-policy-cli-" });
  try {
    const file = `${dir}/policy.yaml`;
    await Deno.writeTextFile(file, options.policy ?? POLICY);
    const output = await runDenoTask(
      "policy",
      options.env ?? {},
      { args: args(file), dir },
    );
    return { ...output, file };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("deno task policy explain: ALLOWED by a rule, read-only, exit 0", async () => {
  const result = await policyTask((file) => [
    "explain",
    "--principal",
    "alice",
    "--tool",
    "db_query",
    "--safe",
    "prod-db",
    "--object",
    "pg-ro",
    "--host",
    "10.20.1.2",
    "--command",
    "select 1",
    "--file",
    file,
  ]);
  const lines = result.stdout.trim().split("\n");
  assertEquals(
    lines[0],
    'ALLOWED by rule "dba-read-prod-db" (read-only session)',
  );
  assertEquals(lines[1], 'matching rules: "dba-read-prod-db"');
  assertMatch(
    lines[2]!,
    /^policy: \S+policy\.yaml, 4 rules \(sha256 [0-9a-f]{64}\)$/,
  );
  assertEquals(result.stderr, "");
  assertEquals(result.code, 0);
});

Deno.test("deno task policy explain: DENIED by a deny rule, listing every matching rule, exit 1", async () => {
  const result = await policyTask((file) => [
    "explain",
    "--principal=bob",
    "--tool=ssh_execute",
    "--safe=LINUX",
    "--object=root",
    "--host=web1",
    "--command=uptime; reboot",
    `--file=${file}`,
  ]);
  const lines = result.stdout.trim().split("\n");
  assertEquals(lines[0], 'DENIED by rule "no-destructive-shell"');
  assertEquals(lines[1], 'matching rules: "ops-shell", "no-destructive-shell"');
  assertEquals(result.code, 1);
});

Deno.test("deno task policy explain: DENIED when no rule allows, APPROVAL REQUIRED for approve rules, exit 1", async () => {
  const none = await policyTask((file) => [
    "explain",
    "--principal",
    "mallory",
    "--tool",
    "get_credential",
    "--safe",
    "PROD-DB",
    "--object",
    "x",
    "--file",
    file,
  ]);
  assertEquals(none.stdout.split("\n")[0], "DENIED: no rule allows it");
  assertEquals(none.stdout.split("\n")[1], "matching rules: none");
  assertEquals(none.code, 1);
  const approve = await policyTask((file) => [
    "explain",
    "--principal",
    "alice",
    "--tool",
    "get_credential",
    "--safe",
    "PROD-WEB",
    "--object",
    "x",
    "--file",
    file,
  ]);
  assertMatch(
    approve.stdout.split("\n")[0]!,
    /^APPROVAL REQUIRED by rule "ask-for-prod-web"/,
  );
  assertStringIncludes(approve.stdout, "checked again when the handle is used");
  assertEquals(approve.code, 1);
});

Deno.test("deno task policy reads POLICY_FILE from the .env file when --file is not given", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcp-policy-cli-" });
  try {
    await Deno.writeTextFile(`${dir}/policy.yaml`, POLICY);
    const result = await runDenoTask(
      "policy",
      { POLICY_FILE: `${dir}/policy.yaml` },
      { args: ["check"], dir },
    );
    assertMatch(
      result.stdout.trim(),
      /^Policy OK: 4 rules \(sha256 [0-9a-f]{64}\)$/,
    );
    assertEquals(result.code, 0);
    const unset = await runDenoTask("policy", {}, { args: ["check"], dir });
    assertEquals(unset.code, 2);
    assertStringIncludes(unset.stderr, "POLICY_FILE is not set");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task policy check: a bad file is its one error line (file, line, rule), exit 2", async () => {
  const result = await policyTask(
    (file) => ["check", "--file", file],
    { policy: POLICY.replace("10.20.0.0/16", "10.20.0.0/33") },
  );
  assertEquals(result.stdout, "");
  assertEquals(
    result.stderr.trim(),
    `POLICY_FILE ${result.file} line 8, rule "dba-read-prod-db": hosts[1] "10.20.0.0/33" is not a valid CIDR; write an address like 10.20.0.0/16 or fd00::/8`,
  );
  assertEquals(result.code, 2);
});

Deno.test("deno task policy: bad arguments get the problem and the usage, exit 2; --help exit 0", async () => {
  const cases: [string[], string][] = [
    [[], "no command given"],
    [["frobnicate"], 'unknown command "frobnicate"'],
    [["explain", "--tool", "db_query"], "--principal is missing"],
    [["explain", "--principal", "a"], "--tool is missing"],
    [
      ["explain", "--principal", "a", "--tool", "sql"],
      '--tool "sql" is not a tool',
    ],
    [
      ["explain", "--principal", "a b", "--tool", "db_query"],
      "is not a principal name",
    ],
    [
      [
        "explain",
        "--principal",
        "a",
        "--tool",
        "get_credential",
        "--host",
        "h",
      ],
      "get_credential has no host",
    ],
    [
      ["explain", "--principal", "a", "--tool", "db_query", "--colour"],
      "Unknown option '--colour'",
    ],
    [["check", "--principal", "a"], "check takes only --file"],
    [["check", "extra"], 'unexpected argument "extra"'],
  ];
  for (const [args, problem] of cases) {
    const result = await policyTask((file) => [...args, "--file", file]);
    assertEquals(result.code, 2, args.join(" "));
    assertStringIncludes(result.stderr, problem);
    assertStringIncludes(result.stderr, "usage: deno task policy explain");
    assertEquals(result.stdout, "");
  }
  const help = await policyTask(() => ["--help"]);
  assertEquals(help.code, 0);
  assert(
    help.stdout.startsWith(
      "usage: deno task policy explain --principal P --tool T",
    ),
  );
});

Deno.test("deno task check-config validates POLICY_FILE: a bad policy is one line naming file, line and rule, exit 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcp-policy-cli-" });
  try {
    const file = `${dir}/policy.yaml`;
    const env = {
      MCP_API_KEYS: "0123456789abcdef0123456789abcdef",
      CYBERARK_CCP_URL:
        "https://cyberark.example.internal/AIMWebService/api/Accounts",
      CYBERARK_APP_ID: "MCP-Privileged-Service",
      POLICY_FILE: file,
    };
    await Deno.writeTextFile(file, POLICY);
    const good = await runDenoTask("check-config", env, { dir });
    assertEquals(good.stdout.trim(), "Config OK");
    assertEquals(good.code, 0);
    await Deno.writeTextFile(file, POLICY.replace("group:dba", "group:dbas"));
    const bad = await runDenoTask("check-config", env, { dir });
    assertEquals(bad.code, 2);
    assertEquals(
      bad.stderr.trim(),
      `Invalid configuration: POLICY_FILE ${file} line 5, rule "dba-read-prod-db": principals[0] "group:dbas" names a group that is not defined; add dbas under groups: (with an empty list, [], for a group of the identity provider) or fix the name`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
