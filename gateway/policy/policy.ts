/**
 * The policy's contract with the rest of the gateway: what a call asks, what
 * the policy decides, and the holder that tools read the policy in force
 * from. How a file becomes a {@linkcode Policy} lives in `load_policy.ts`,
 * how a request is matched in `evaluate.ts`, reloading in `policy_holder.ts`.
 *
 * @module
 */

/** The tools a policy rule can name. */
export const POLICY_TOOLS = [
  "get_credential",
  "ssh_execute",
  "ps_execute",
  "db_query",
] as const;

/** A tool a policy rule can name. */
export type PolicyTool = typeof POLICY_TOOLS[number];

/** What a rule does when it matches. */
export type PolicyEffect = "allow" | "deny" | "approve";

/**
 * One call, as the policy sees it. `get_credential` has the Safe and object
 * of its arguments and no host or command; a target tool has the Safe and
 * object its handle was minted for, the host it connects to and its
 * command, script or query.
 */
export interface PolicyRequest {
  /** The calling principal's name. */
  readonly principal: string;
  /**
   * The identity provider's groups of an OAuth principal
   * (`OAUTH_GROUPS_CLAIM`); a rule's `group:NAME` matches them too.
   */
  readonly groups?: readonly string[];
  readonly tool: PolicyTool;
  /** The CyberArk Safe (get_credential: the argument; target tools: the handle's). */
  readonly safe: string;
  /** The account object name (get_credential: the argument; target tools: the handle's). */
  readonly object: string;
  /** The target host as the tool received it (target tools only). */
  readonly host?: string;
  /** The shell command, PowerShell script or SQL text (target tools only). */
  readonly command?: string;
}

/** What the policy decided for one request. */
export interface PolicyDecision {
  /**
   * `allow`, `deny` or `approve`: deny wins over approve, approve over
   * allow; `deny` also when no rule matched.
   */
  readonly effect: PolicyEffect;
  /** The deciding rule's name; undefined when no rule matched (default deny) or no policy is configured. */
  readonly rule: string | undefined;
  /** A matching allow rule demands a read-only database session (db_query). */
  readonly readOnly: boolean;
  /** The names of every rule that matched, in file order (for `policy explain`). */
  readonly matched: readonly string[];
}

/** A loaded, validated policy. */
export interface Policy {
  /** Where it was read from (for log lines and explain). */
  readonly source: string;
  /** SHA-256 (hex) of the file's bytes, for the audit line of a (re)load. */
  readonly sha256: string;
  /** Number of rules. */
  readonly ruleCount: number;
  /** The names of the `effect: approve` rules, in file order (they need approvers). */
  readonly approveRules: readonly string[];
  /** Decides one request; never throws. */
  evaluate(request: PolicyRequest): PolicyDecision;
}

/**
 * The policy in force, which a reload may replace between two calls. Tools
 * call {@linkcode PolicyHolder.current} once per call.
 */
export interface PolicyHolder {
  /** The policy in force, or undefined when `POLICY_FILE` is not set (everything allowed). */
  current(): Policy | undefined;
}
