import {
  assert,
  assertEquals,
  assertStringIncludes,
} from "../../support/assert.ts";
import { apiKeyDigest, approveRuleNames } from "../../../gateway/config/mod.ts";
import {
  assertOneLineErrors,
  failure,
  KEY,
  load,
  withTempDir,
} from "./_env.ts";

const ALICE_KEY = "a1".repeat(16) + "alice-approver";
const BOB_KEY = "b2".repeat(16) + "bob-approver";
const WEBHOOK = "https://hooks.slack.com/services/T000/B000/S3cr3tWebhookToken";

const APPROVE_POLICY = [
  "rules:",
  "  - name: prod-changes",
  '    principals: ["*"]',
  "    tools: [ssh_execute]",
  "    effect: approve",
  "  - name: everyone",
  '    principals: ["*"]',
  "    effect: allow",
  "",
].join("\n");

Deno.test("loadConfig() without approval settings has no approvers and the defaults", () => {
  const config = load({});
  assertEquals(config.approvals, {
    approvers: [],
    timeoutSeconds: 300,
    sessionSeconds: 900,
  });
});

Deno.test("loadConfig() reads APPROVERS as named approvers keeping only key digests", () => {
  const config = load({
    APPROVERS: `alice:${ALICE_KEY},bob:${BOB_KEY}`,
    APPROVAL_TIMEOUT_SECONDS: "600",
    APPROVAL_SESSION_SECONDS: "3600",
    APPROVAL_WEBHOOK_URL: WEBHOOK,
    APPROVAL_CONSOLE_URL: "https://mcp.example.internal/approvals/",
  });
  const { approvals } = config;
  assertEquals(approvals.approvers.map((a) => a.name), ["alice", "bob"]);
  assertEquals(
    approvals.approvers[0]!.sha256.reveal(),
    apiKeyDigest(ALICE_KEY),
  );
  assertEquals(String(approvals.approvers[1]!.sha256), "[redacted]");
  assertEquals(approvals.timeoutSeconds, 600);
  assertEquals(approvals.sessionSeconds, 3600);
  assertEquals(approvals.webhookUrl?.href, WEBHOOK);
  assertEquals(
    approvals.consoleUrl?.href,
    "https://mcp.example.internal/approvals/",
  );
  assert(!JSON.stringify(config.warnings).includes(ALICE_KEY));
});

Deno.test("loadConfig() reads APPROVERS_FILE lines, ~ expanded, together with APPROVERS", () => {
  withTempDir((dir) => {
    Deno.writeTextFileSync(
      `${dir}/approvers`,
      `# approvers\ncarol:${apiKeyDigest(BOB_KEY)}\n\n`,
    );
    const config = load({
      APPROVERS: `alice:${ALICE_KEY}`,
      APPROVERS_FILE: "~/approvers",
    }, dir);
    assertEquals(config.approvals.approvers.map((a) => a.name), [
      "alice",
      "carol",
    ]);
    assertEquals(config.approvals.file, `${dir}/approvers`);
    Deno.writeTextFileSync(
      `${dir}/approvers`,
      `alice:${apiKeyDigest(BOB_KEY)}\n`,
    );
    const twice = failure({
      APPROVERS: `alice:${ALICE_KEY}`,
      APPROVERS_FILE: `${dir}/approvers`,
    });
    assertEquals(
      twice.message,
      'Invalid configuration: APPROVERS_FILE names the approver "alice" twice (in APPROVERS and APPROVERS_FILE); give each approver its own name',
    );
    Deno.writeTextFileSync(`${dir}/approvers`, "carol:nothex\n");
    assertStringIncludes(
      failure({ APPROVERS_FILE: `${dir}/approvers` }).message,
      `APPROVERS_FILE "${dir}/approvers" line 1 (carol) has no SHA-256 digest`,
    );
  });
});

Deno.test("loadConfig() refuses bad approver entries, repeated keys and an approver key that is an API key, in one line each", () => {
  assertOneLineErrors([
    [{ APPROVERS: ALICE_KEY }, "APPROVERS", "has no NAME: in front"],
    [{ APPROVERS: "alice:short" }, "APPROVERS", "is 5 characters long"],
    [
      { APPROVERS: `alice:changeme${ALICE_KEY}` },
      "APPROVERS",
      'placeholder "changeme"',
    ],
    [
      { APPROVERS: `al ice:${ALICE_KEY}` },
      "APPROVERS",
      "has a name that is not",
    ],
    [
      { APPROVERS: `alice:${ALICE_KEY},bob:${ALICE_KEY}` },
      "APPROVERS",
      'gives "alice" and "bob" the same key; give each approver its own key',
    ],
    [
      { APPROVERS: `alice:${KEY}` },
      "APPROVERS",
      'gives the approver "alice" the key of the principal',
    ],
    [
      { APPROVERS_FILE: "/nonexistent/approvers" },
      "APPROVERS_FILE",
      '"/nonexistent/approvers" cannot be read (not found)',
    ],
    [
      { APPROVAL_TIMEOUT_SECONDS: "5" },
      "APPROVAL_TIMEOUT_SECONDS",
      "from 10 to 3600",
    ],
    [
      { APPROVAL_SESSION_SECONDS: "50000" },
      "APPROVAL_SESSION_SECONDS",
      "from 60 to 43200",
    ],
    [
      { APPROVAL_WEBHOOK_URL: "ftp://hooks.example/x" },
      "APPROVAL_WEBHOOK_URL",
      "must start with https://",
    ],
    [
      { APPROVAL_CONSOLE_URL: "mcp.example.internal" },
      "APPROVAL_CONSOLE_URL",
      "not a URL",
    ],
  ]);
});

Deno.test("loadConfig() never echoes APPROVAL_WEBHOOK_URL, which may hold a token", () => {
  const error = failure({ APPROVAL_WEBHOOK_URL: "not a url S3cr3tToken" });
  assert(!error.message.includes("S3cr3tToken"), error.message);
});

Deno.test("loadConfig() warns about an http:// webhook", () => {
  const config = load({
    APPROVERS: `alice:${ALICE_KEY}`,
    APPROVAL_WEBHOOK_URL: "http://chat.example.internal/hooks/S3cr3tToken",
  });
  const warning = config.warnings.find((w) =>
    w.includes("APPROVAL_WEBHOOK_URL")
  );
  assert(warning !== undefined);
  assertStringIncludes(warning, "http://chat.example.internal");
  assert(!warning.includes("S3cr3tToken"));
});

Deno.test("loadConfig() warns when the policy has approve rules but nobody can approve", () => {
  withTempDir((dir) => {
    Deno.writeTextFileSync(`${dir}/policy.yaml`, APPROVE_POLICY);
    const config = load({ POLICY_FILE: `${dir}/policy.yaml` });
    assertEquals(approveRuleNames(config.policy.policy), ["prod-changes"]);
    const warning = config.warnings.find((w) => w.includes("approve rules"));
    assertEquals(
      warning,
      "POLICY_FILE has approve rules (prod-changes) but no approvers are configured: every such call waits 300 s and fails; set APPROVERS or APPROVERS_FILE",
    );
    const staffed = load({
      POLICY_FILE: `${dir}/policy.yaml`,
      APPROVERS: `alice:${ALICE_KEY}`,
    });
    assert(!staffed.warnings.some((w) => w.includes("approve rules")));
  });
  assertEquals(approveRuleNames(undefined), []);
});
