import { assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { checkApprovals } from "../../../gateway/doctor/mod.ts";
import { config, statusOf, USER } from "./_doctor.ts";

const ALICE = `alice:${"a1".repeat(16)}alice-approver`;
const FILE_OK = { kind: "file", mode: 0o600, uid: USER.uid } as const;

Deno.test("checkApprovals() FAILs when the policy has approve rules and there are no approvers", () => {
  const result = checkApprovals(config().approvals, {
    approveRules: ["prod-changes"],
  });
  assertEquals(statusOf(result), "FAIL approvals");
  assertStringIncludes(result.detail, "approve rule(s) prod-changes");
  assertStringIncludes(result.fix ?? "", "APPROVERS");
});

Deno.test("checkApprovals() PASSes without approvers or approve rules", () => {
  assertEquals(
    statusOf(checkApprovals(config().approvals, { approveRules: [] })),
    "PASS approvals",
  );
});

Deno.test("checkApprovals() WARNs without a webhook (approvers must watch the console) and with an http:// one", () => {
  const none = checkApprovals(config({ APPROVERS: ALICE }).approvals, {
    approveRules: ["prod-changes"],
  });
  assertEquals(statusOf(none), "WARN approvals");
  assertStringIncludes(none.detail, "watching the console");
  const http = checkApprovals(
    config({
      APPROVERS: ALICE,
      APPROVAL_WEBHOOK_URL: "http://chat.example.internal/hooks/S3cr3t",
    }).approvals,
    { approveRules: [] },
  );
  assertEquals(statusOf(http), "WARN approvals");
  assertStringIncludes(http.detail, "http://chat.example.internal");
  assertEquals(http.detail.includes("S3cr3t"), false);
});

Deno.test("checkApprovals() PASSes naming the approvers, the timeout and the webhook's origin only", () => {
  const result = checkApprovals(
    config({
      APPROVERS: ALICE,
      APPROVAL_TIMEOUT_SECONDS: "120",
      APPROVAL_WEBHOOK_URL: "https://hooks.slack.com/services/T/B/S3cr3t",
    }).approvals,
    { approveRules: ["prod-changes"] },
  );
  assertEquals(statusOf(result), "PASS approvals");
  assertEquals(
    result.detail,
    "1 approver(s), timeout 120 s, approve rule(s) prod-changes, webhook at https://hooks.slack.com",
  );
});

Deno.test("checkApprovals() refuses an APPROVERS_FILE that other users can read or change", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = `${dir}/approvers`;
    Deno.writeTextFileSync(file, `alice:${"0".repeat(64)}\n`);
    const approvals = config({
      APPROVERS_FILE: file,
      APPROVAL_WEBHOOK_URL: "https://hooks.example.internal/x",
    }).approvals;
    const writable = checkApprovals(approvals, {
      approveRules: [],
      fileFacts: { kind: "file", mode: 0o666, uid: USER.uid },
      user: USER,
    });
    assertEquals(statusOf(writable), "FAIL approvals");
    assertStringIncludes(writable.detail, "mode 666");
    assertEquals(writable.fix, `chmod 600 ${file}`);
    assertEquals(
      statusOf(
        checkApprovals(approvals, {
          approveRules: [],
          fileFacts: FILE_OK,
          user: USER,
        }),
      ),
      "PASS approvals",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
