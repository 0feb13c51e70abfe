/**
 * Matching one request against the rules of a policy.
 *
 * A rule matches when every field it names matches; a field it omits
 * matches anything. Principals match by exact name, by `group:NAME`
 * membership or `*`. Safes, objects and host names match as globs without
 * regard to case (CyberArk and DNS names ignore case, so a deny on `PROD-DB`
 * must also stop `prod-db`). Address and CIDR entries match only an IP
 * literal host inside them, and a name glob never matches an IP literal.
 * Commands match when a regex finds itself in the command, script or query.
 *
 * Deferred fields: `get_credential` has no host and no command. A rule that
 * names hosts or commands counts them as matched when it allows or asks for
 * approval (the target tool that uses the handle checks them again) and as
 * not matched when it denies (a deny on a command is decided when there is a
 * command).
 *
 * The decision: any matching deny wins over any approve, which wins over any
 * allow; no matching rule denies. A read-only session is demanded when any
 * matching allow rule has `read_only: true`: restrictions win, so a broader
 * allow rule cannot lift the read-only one.
 *
 * @module
 */
import {
  compileCommandPattern,
  compileGlob,
  hostMatches,
  type HostPattern,
  normalizeHost,
  parseHostPattern,
} from "./_patterns.ts";
import type {
  PolicyDecision,
  PolicyEffect,
  PolicyRequest,
  PolicyTool,
} from "./policy.ts";
import {
  GROUP_PREFIX,
  type PolicyDocument,
  type PolicyRuleDocument,
} from "./policy_schema.ts";

/** A rule ready for matching. */
export interface CompiledRule {
  readonly name: string;
  readonly effect: PolicyEffect;
  readonly readOnly: boolean;
  /**
   * Whether the principal matches (names, `*`, or `group:NAME` by the
   * file's members or the identity provider's groups of the caller).
   */
  readonly principal: (
    principal: string,
    groups: readonly string[],
  ) => boolean;
  readonly safes?: readonly ((safe: string) => boolean)[];
  readonly objects?: readonly ((object: string) => boolean)[];
  readonly tools?: ReadonlySet<PolicyTool>;
  readonly hosts?: readonly HostPattern[];
  readonly commands?: readonly RegExp[];
}

/**
 * Compiles a validated document's rules, in file order.
 *
 * @throws {TypeError} for a pattern the schema should have refused (a bug)
 */
export function compileRules(document: PolicyDocument): CompiledRule[] {
  const groups = new Map<string, ReadonlySet<string>>(
    Object.entries(document.groups ?? {}).map((
      [name, members],
    ) => [name, new Set(members)]),
  );
  return document.rules.map((rule) => compileRule(rule, groups));
}

function compileRule(
  rule: PolicyRuleDocument,
  groups: ReadonlyMap<string, ReadonlySet<string>>,
): CompiledRule {
  const names = new Set<string>();
  const members: ReadonlySet<string>[] = [];
  const groupNames: string[] = [];
  let anyone = false;
  for (const reference of rule.principals) {
    if (reference === "*") anyone = true;
    else if (reference.startsWith(GROUP_PREFIX)) {
      const group = reference.slice(GROUP_PREFIX.length);
      groupNames.push(group);
      members.push(groups.get(group) ?? new Set());
    } else names.add(reference);
  }
  // deny and approve see every line of a command; allow the whole text.
  const multiline = rule.effect !== "allow";
  return {
    name: rule.name,
    effect: rule.effect,
    readOnly: rule.read_only === true,
    principal: (principal, callerGroups) =>
      anyone || names.has(principal) ||
      members.some((group) => group.has(principal)) ||
      groupNames.some((group) => callerGroups.includes(group)),
    ...(rule.safes === undefined ? {} : { safes: rule.safes.map(compileGlob) }),
    ...(rule.objects === undefined
      ? {}
      : { objects: rule.objects.map(compileGlob) }),
    ...(rule.tools === undefined ? {} : { tools: new Set(rule.tools) }),
    ...(rule.hosts === undefined ? {} : {
      hosts: rule.hosts.map((text) => {
        const parsed = parseHostPattern(text);
        if (!parsed.ok) throw new TypeError(parsed.problem);
        return parsed.pattern;
      }),
    }),
    ...(rule.commands === undefined ? {} : {
      commands: rule.commands.map((text) => {
        const compiled = compileCommandPattern(text, multiline);
        if (typeof compiled === "string") throw new TypeError(compiled);
        return compiled;
      }),
    }),
  };
}

/** Whether `rule` matches `request` (deferred fields as the module explains). */
export function ruleMatches(
  rule: CompiledRule,
  request: PolicyRequest,
): boolean {
  if (!rule.principal(request.principal, request.groups ?? [])) return false;
  if (rule.tools !== undefined && !rule.tools.has(request.tool)) return false;
  if (
    rule.safes !== undefined && !rule.safes.some((m) => m(request.safe))
  ) return false;
  if (
    rule.objects !== undefined && !rule.objects.some((m) => m(request.object))
  ) return false;
  // A field the request has no value for: allow and approve defer it to
  // the target tool, deny cannot decide it yet.
  const deferred = rule.effect !== "deny";
  if (rule.hosts !== undefined) {
    if (request.host === undefined) {
      if (!deferred) return false;
    } else {
      const host = normalizeHost(request.host);
      if (!rule.hosts.some((pattern) => hostMatches(pattern, host))) {
        return false;
      }
    }
  }
  if (rule.commands !== undefined) {
    if (request.command === undefined) {
      if (!deferred) return false;
    } else {
      const command = request.command;
      if (!rule.commands.some((regex) => regex.test(command))) return false;
    }
  }
  return true;
}

/** Decides one request: deny over approve over allow, default deny. */
export function evaluateRules(
  rules: readonly CompiledRule[],
  request: PolicyRequest,
): PolicyDecision {
  const matching = rules.filter((rule) => ruleMatches(rule, request));
  const first = (effect: PolicyEffect): CompiledRule | undefined =>
    matching.find((rule) => rule.effect === effect);
  const allows = matching.filter((rule) => rule.effect === "allow");
  const decider = first("deny") ?? first("approve") ?? allows[0];
  return {
    effect: decider?.effect ?? "deny",
    rule: decider?.name,
    readOnly: allows.some((rule) => rule.readOnly),
    matched: matching.map((rule) => rule.name),
  };
}
