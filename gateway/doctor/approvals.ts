/**
 * The approvals check: a policy with `approve` rules needs approvers (or
 * every such call waits and fails), approvers need a way to hear of requests
 * (a webhook, over https), and the approvers file is private like the API
 * keys file.
 *
 * @module
 */
import type { ApprovalsConfig } from "../config/mod.ts";
import type { CheckResult } from "./check_result.ts";
import {
  checkPrivateFile,
  type FileFacts,
  fileFacts,
  type RunningUser,
} from "./host_checks.ts";
import { fail, pass, warn } from "./_verdicts.ts";

/** What {@linkcode checkApprovals} looks at besides the configuration. */
export interface CheckApprovalsOptions {
  /** The names of the policy's `effect: approve` rules (`approveRuleNames`). */
  readonly approveRules: readonly string[];
  /** Mode and owner of APPROVERS_FILE (default: read from disk). */
  readonly fileFacts?: FileFacts;
  /** Who runs doctor (default: this process's uid). */
  readonly user?: RunningUser;
}

/**
 * FAIL with approve rules and no approver, or an APPROVERS_FILE others can
 * read or change; WARN without a webhook (approvers must watch the console)
 * or with an http:// one; PASS naming the approvers and the timeout.
 */
export function checkApprovals(
  approvals: ApprovalsConfig,
  options: CheckApprovalsOptions,
): CheckResult {
  const name = "approvals";
  const count = approvals.approvers.length;
  const rules = options.approveRules;
  const ruleText = rules.length === 0
    ? "no approve rules"
    : `approve rule(s) ${rules.join(", ")}`;
  if (rules.length > 0 && count === 0) {
    return fail(
      name,
      `POLICY_FILE has ${ruleText} but no approvers are configured: every such call waits ${approvals.timeoutSeconds} s and fails`,
      "set APPROVERS (NAME:KEY, openssl rand -hex 32) or APPROVERS_FILE, see README Approvals",
    );
  }
  if (count === 0) {
    return pass(name, `no approvers and ${ruleText}: approvals are not used`);
  }
  if (approvals.file !== undefined) {
    const facts = options.fileFacts ?? fileFacts(approvals.file);
    if (facts.kind === "missing") {
      return fail(
        name,
        `APPROVERS_FILE ${approvals.file} does not exist`,
        "point APPROVERS_FILE at the NAME:SHA256HEX file",
      );
    }
    const verdict = checkPrivateFile(
      name,
      {
        label: `APPROVERS_FILE ${approvals.file}`,
        path: approvals.file,
        exposure: "other users can read or change who may approve",
      },
      facts,
      options.user ?? { uid: Deno.uid() ?? -1 },
    );
    if (verdict.status !== "PASS") return verdict;
  }
  const found =
    `${count} approver(s), timeout ${approvals.timeoutSeconds} s, ${ruleText}`;
  if (approvals.webhookUrl === undefined) {
    return warn(
      name,
      `${found}; no APPROVAL_WEBHOOK_URL: approvers learn of requests only by watching the console`,
      "set APPROVAL_WEBHOOK_URL to a Slack or Teams incoming webhook (https://)",
    );
  }
  if (approvals.webhookUrl.protocol === "http:") {
    return warn(
      name,
      `${found}; APPROVAL_WEBHOOK_URL uses http://${approvals.webhookUrl.host}: requests and the webhook's token cross the network in clear text`,
      "use an https:// webhook URL",
    );
  }
  return pass(
    name,
    `${found}, webhook at ${approvals.webhookUrl.origin}`,
  );
}
