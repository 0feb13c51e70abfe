/**
 * The one error loading a policy throws.
 *
 * @module
 */

/** Where in a policy file a problem sits, and what it is. */
export interface PolicyErrorLocation {
  /** The file (or other source) the policy was read from. */
  readonly source: string;
  /** 1-based line, when the problem has one. */
  readonly line?: number;
  /** The rule's name (or `rules[N]` when it has none), when the problem is in a rule. */
  readonly rule?: string;
}

/**
 * A policy that cannot be used, as one line that names the file, the line,
 * the rule and the fix: `POLICY_FILE /etc/mcp/policy.yaml line 14, rule
 * "no-destructive-shell": hosts[1] "10.0.0.0/33" is not a valid CIDR; ...`.
 */
export class PolicyError extends Error {
  /** The file (or other source) at fault. */
  readonly source: string;
  /** 1-based line of the problem, when it has one. */
  readonly line: number | undefined;
  /** The rule's name, or `rules[N]`, when the problem is in a rule. */
  readonly rule: string | undefined;
  /** The message without its leading `POLICY_FILE ` (for a ConfigError). */
  readonly detail: string;

  /** Creates the error for one problem at `location`. */
  constructor(
    location: PolicyErrorLocation,
    problem: string,
    options?: ErrorOptions,
  ) {
    const line = location.line === undefined ? "" : ` line ${location.line}`;
    const rule = location.rule === undefined
      ? ""
      : location.rule.startsWith("rules[")
      ? `, ${location.rule}`
      : `, rule "${location.rule}"`;
    const detail = `${location.source}${line}${rule}: ${problem}`;
    super(`POLICY_FILE ${detail}`, options);
    this.name = "PolicyError";
    this.source = location.source;
    this.line = location.line;
    this.rule = location.rule;
    this.detail = detail;
  }
}
