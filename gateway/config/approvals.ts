/**
 * The approvals section: who may approve (`APPROVERS` `NAME:KEY` entries and
 * `APPROVERS_FILE` `NAME:SHA256HEX` lines, read like the API keys), how long
 * a call waits (`APPROVAL_TIMEOUT_SECONDS`), where requests are announced
 * (`APPROVAL_WEBHOOK_URL`, linking `APPROVAL_CONSOLE_URL`) and how long a
 * console session lasts (`APPROVAL_SESSION_SECONDS`).
 *
 * @module
 */
import { Secret } from "../../vault/secret.ts";
import type { Approver } from "../approvals/approval.ts";
import type { Policy } from "../policy/policy.ts";
import {
  apiKeyDigest,
  checkUniqueKeys,
  readKeyDigestFile,
  type SourcedDigest,
} from "./api_keys.ts";
import type { ApiKeyConfig, ApprovalsConfig } from "./config.ts";
import { ConfigError } from "./config_error.ts";
import type { EnvValues } from "./env_schema.ts";
import { expandHome } from "./_paths.ts";
import type { ParseContext } from "./_parse_context.ts";

/** Where an approver's key was configured. */
type ApproverSource = "APPROVERS" | "APPROVERS_FILE";

const WEBHOOK_HINT =
  "set it to the https:// URL of an incoming webhook (Slack, Teams or your own; the value is not shown: it may hold a token)";
const CONSOLE_HINT =
  "set it to the public https:// URL of the approvals console, e.g. https://mcp.example.internal/approvals/";

/**
 * Builds the approvals section; warns when the policy has `approve` rules
 * but nobody can approve, and when the webhook is plain http.
 *
 * @throws {ConfigError} for a bad entry or file line, a repeated name or key, an approver key that is also an API key, or a bad URL
 */
export function parseApprovalsConfig(
  values: EnvValues,
  context: ParseContext,
  related: { apiKeys: ApiKeyConfig; policy: Policy | undefined },
): ApprovalsConfig {
  const entries: (SourcedDigest & { source: ApproverSource })[] = [];
  for (const entry of values.APPROVERS ?? []) {
    // The schema refuses an APPROVERS entry without a name.
    entries.push({
      name: entry.name ?? "",
      sha256: new Secret(apiKeyDigest(entry.key.reveal())),
      source: "APPROVERS",
    });
  }
  const raw = values.APPROVERS_FILE?.trim() ?? "";
  const file = raw === "" ? undefined : expandHome(raw, context.home);
  if (file !== undefined) {
    for (const digest of readKeyDigestFile("APPROVERS_FILE", file)) {
      entries.push({ ...digest, source: "APPROVERS_FILE" });
    }
  }
  checkUniqueKeys(entries, "approver");
  checkNotApiKeys(entries, related.apiKeys);
  const webhookUrl = parseUrl(
    "APPROVAL_WEBHOOK_URL",
    values.APPROVAL_WEBHOOK_URL,
    WEBHOOK_HINT,
    false,
  );
  if (webhookUrl?.protocol === "http:") {
    context.warnings.push(
      `APPROVAL_WEBHOOK_URL uses http://${webhookUrl.host}: every approval request (who runs what where) and the URL's token cross the network in clear text; use https://`,
    );
  }
  const consoleUrl = parseUrl(
    "APPROVAL_CONSOLE_URL",
    values.APPROVAL_CONSOLE_URL,
    CONSOLE_HINT,
    true,
  );
  const approveRules = approveRuleNames(related.policy);
  if (entries.length === 0 && approveRules.length > 0) {
    context.warnings.push(
      `POLICY_FILE has approve rules (${
        approveRules.join(", ")
      }) but no approvers are configured: every such call waits ${values.APPROVAL_TIMEOUT_SECONDS} s and fails; set APPROVERS or APPROVERS_FILE`,
    );
  }
  const approvers: Approver[] = entries.map(({ name, sha256 }) => ({
    name,
    sha256,
  }));
  return {
    approvers,
    timeoutSeconds: values.APPROVAL_TIMEOUT_SECONDS,
    sessionSeconds: values.APPROVAL_SESSION_SECONDS,
    ...(webhookUrl === undefined ? {} : { webhookUrl }),
    ...(consoleUrl === undefined ? {} : { consoleUrl }),
    ...(file === undefined ? {} : { file }),
  };
}

/** The names of a policy's `effect: approve` rules, in file order; none without a policy. */
export function approveRuleNames(policy: Policy | undefined): string[] {
  return policy === undefined ? [] : [...policy.approveRules];
}

/** One person must not both ask (API key) and approve (approver key). */
function checkNotApiKeys(
  approvers: readonly (SourcedDigest & { source: ApproverSource })[],
  apiKeys: ApiKeyConfig,
): void {
  const principals = new Map(
    apiKeys.principals.map((p) => [p.sha256.reveal(), p]),
  );
  for (const approver of approvers) {
    const principal = principals.get(approver.sha256.reveal());
    if (principal !== undefined) {
      throw new ConfigError(
        approver.source,
        `gives the approver "${approver.name}" the key of the principal "${principal.name}" (${principal.source}): whoever holds it could ask for a call and approve it; give each approver a key of their own (generate one with: openssl rand -hex 32)`,
      );
    }
  }
}

/** An optional http(s) URL, never echoed (a webhook URL holds its token). */
function parseUrl(
  variable: string,
  raw: string | undefined,
  hint: string,
  showable: boolean,
): URL | undefined {
  const text = raw?.trim() ?? "";
  if (text === "") return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(
      variable,
      `${showable ? `is "${text}", ` : "is "}not a URL; ${hint}`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigError(
      variable,
      `must start with https:// (or http://), not ${url.protocol}//; ${hint}`,
    );
  }
  return url;
}
