/**
 * What the policy tests share: a policy from YAML lines, and requests with
 * defaults.
 */
import { parsePolicy } from "../../../gateway/policy/load_policy.ts";
import type { Policy, PolicyRequest } from "../../../gateway/policy/policy.ts";

/** Where the test policies say they come from. */
export const SOURCE = "/etc/mcp/policy.yaml";

/** A policy from YAML text (as lines, joined with newlines). */
export function policyOf(...lines: string[]): Policy {
  return parsePolicy(lines.join("\n") + "\n", SOURCE);
}

/** A request: alice fetching PROD-DB/db-ro unless `fields` say otherwise. */
export function request(fields: Partial<PolicyRequest> = {}): PolicyRequest {
  return {
    principal: "alice",
    tool: "get_credential",
    safe: "PROD-DB",
    object: "db-ro",
    ...fields,
  };
}

/** The example of the issue: dba read-only on PROD-DB, no destructive shell. */
export const EXAMPLE = [
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
  "  - name: no-destructive-shell",
  '    principals: ["*"]',
  "    tools: [ssh_execute, ps_execute]",
  '    commands: ["(^|[;&|])\\\\s*(rm\\\\s+-rf|mkfs|shutdown|reboot)\\\\b"]',
  "    effect: deny",
] as const;
