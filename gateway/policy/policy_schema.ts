/**
 * The policy file's shape as one strict zod schema: unknown fields are
 * errors, every list holds at least one entry, and every pattern is checked
 * here so that a policy that loads can be matched without surprises.
 *
 * ```yaml
 * groups:
 *   dba: [alice, ci-bot]
 * rules:
 *   - name: dba-read-prod-db
 *     principals: ["group:dba"]
 *     safes: ["PROD-DB"]
 *     tools: [get_credential, db_query]
 *     hosts: ["*.db.corp.example", "10.20.0.0/16"]
 *     read_only: true
 *     effect: allow
 * ```
 *
 * @module
 */
import { z } from "zod";
import {
  compileCommandPattern,
  globProblem,
  parseHostPattern,
} from "./_patterns.ts";
import { POLICY_TOOLS } from "./policy.ts";

/** What a rule does when it matches, as the file writes it. */
export const POLICY_EFFECTS = ["allow", "deny", "approve"] as const;
/** The fields of a rule, in the order the README lists them. */
export const RULE_FIELDS = [
  "name",
  "description",
  "principals",
  "safes",
  "objects",
  "tools",
  "hosts",
  "commands",
  "read_only",
  "effect",
] as const;

/** A rule's name: letters, digits, '.', '_' and '-', at most 64. */
export const RULE_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** Prefix of a principal reference that names a group. */
export const GROUP_PREFIX = "group:";
/**
 * A principal name in a rule: an API key principal's name, or what an
 * identity provider's token names (`OAUTH_PRINCIPAL_CLAIM`: a user name, an
 * e-mail address, an object id).
 */
export const POLICY_PRINCIPAL_PATTERN = /^[A-Za-z0-9._@+-]{1,256}$/;
/**
 * A group name: the file's own groups and the identity provider's group
 * names or ids (`OAUTH_GROUPS_CLAIM`), which may hold spaces and paths.
 */
export const GROUP_NAME_PATTERN =
  /^[A-Za-z0-9._@+:\/-](?:[A-Za-z0-9 ._@+:\/-]{0,126}[A-Za-z0-9._@+:\/-])?$/;
const NAME_WORDS = "1 to 64 letters, digits, '.', '_' or '-'";
const PRINCIPAL_WORDS = "1 to 256 letters, digits, '.', '_', '@', '+' or '-'";
const GROUP_WORDS =
  "1 to 128 letters, digits, spaces (not at the ends), '.', '_', '@', '+', ':', '/' or '-'";

/** A list field: at least one entry, each checked by `item`. */
function list<T extends z.ZodType>(
  item: T,
  what: string,
): z.ZodArray<T> {
  return z.array(item).min(1, {
    error: `is empty; list at least one ${what} or leave the field out`,
  });
}

/** Text checked by `problem` (which quotes the value in its answer). */
function checkedText(
  problem: (text: string) => string | undefined,
): z.ZodString {
  return z.string().check((ctx) => {
    const found = problem(ctx.value);
    if (found !== undefined) {
      ctx.issues.push({ code: "custom", message: found, input: ctx.value });
    }
  });
}

const principalName = checkedText((text) =>
  POLICY_PRINCIPAL_PATTERN.test(text)
    ? undefined
    : `"${text}" is not a principal name; names are ${PRINCIPAL_WORDS}`
);

const principalReference = checkedText((text) => {
  if (text === "*") return undefined;
  if (text.startsWith(GROUP_PREFIX)) {
    return GROUP_NAME_PATTERN.test(text.slice(GROUP_PREFIX.length))
      ? undefined
      : `"${text}" is not group:NAME; group names are ${GROUP_WORDS}`;
  }
  return POLICY_PRINCIPAL_PATTERN.test(text)
    ? undefined
    : `"${text}" is not a principal name, group:NAME or "*"; names are ${PRINCIPAL_WORDS}`;
});

const glob = checkedText(globProblem);

const hostPattern = checkedText((text) => {
  const parsed = parseHostPattern(text);
  return parsed.ok ? undefined : parsed.problem;
});

const commandPattern = checkedText((text) => {
  const compiled = compileCommandPattern(text, false);
  return typeof compiled === "string" ? `"${text}" ${compiled}` : undefined;
});

/** One rule of the file. */
export const PolicyRuleSchema = z.strictObject({
  name: checkedText((text) =>
    RULE_NAME_PATTERN.test(text)
      ? undefined
      : `"${text}" is not a rule name; use ${NAME_WORDS}`
  ),
  description: z.string().optional(),
  principals: list(principalReference, 'principal, group:NAME or "*"'),
  safes: list(glob, "Safe name or glob").optional(),
  objects: list(glob, "object name or glob").optional(),
  tools: list(z.enum(POLICY_TOOLS), "tool").optional(),
  hosts: list(hostPattern, "host glob, address or CIDR").optional(),
  commands: list(commandPattern, "regular expression").optional(),
  read_only: z.boolean().optional(),
  effect: z.enum(POLICY_EFFECTS),
});

/** One rule of the file, as validated. */
export type PolicyRuleDocument = z.infer<typeof PolicyRuleSchema>;

const groupName = checkedText((text) =>
  GROUP_NAME_PATTERN.test(text)
    ? undefined
    : `"${text}" is not a group name; use ${GROUP_WORDS}`
);

/**
 * The whole policy file. A group's member list may be empty: its members
 * then come only from the identity provider's groups claim
 * (`OAUTH_GROUPS_CLAIM`), which also adds members to a group listed here.
 */
export const PolicyDocumentSchema = z.strictObject({
  groups: z.record(groupName, z.array(principalName)).optional(),
  rules: z.array(PolicyRuleSchema).min(1, {
    error:
      "is empty; a policy without rules denies every call, add at least one rule",
  }),
}).superRefine((document, ctx) => {
  const groups = new Set(Object.keys(document.groups ?? {}));
  const names = new Set<string>();
  for (const [index, rule] of document.rules.entries()) {
    const at = (...path: (string | number)[]): (string | number)[] => [
      "rules",
      index,
      ...path,
    ];
    if (names.has(rule.name)) {
      ctx.addIssue({
        code: "custom",
        path: at("name"),
        message:
          `"${rule.name}" is the name of an earlier rule; give each rule its own name`,
      });
    }
    names.add(rule.name);
    for (const [i, reference] of rule.principals.entries()) {
      if (!reference.startsWith(GROUP_PREFIX)) continue;
      const group = reference.slice(GROUP_PREFIX.length);
      if (!groups.has(group)) {
        ctx.addIssue({
          code: "custom",
          path: at("principals", i),
          message:
            `"${reference}" names a group that is not defined; add ${group} under groups: (with an empty list, [], for a group of the identity provider) or fix the name`,
        });
      }
    }
    if (rule.read_only === true && rule.effect === "deny") {
      ctx.addIssue({
        code: "custom",
        path: at("read_only"),
        message:
          "is true on a deny rule; read_only restricts what an allow rule permits, remove it here",
      });
    } else if (
      rule.read_only === true && rule.tools !== undefined &&
      !rule.tools.includes("db_query")
    ) {
      ctx.addIssue({
        code: "custom",
        path: at("read_only"),
        message:
          "is true but tools does not include db_query; read_only only applies to db_query, add db_query to tools or remove read_only",
      });
    }
  }
});

/** The whole policy file, as validated. */
export type PolicyDocument = z.infer<typeof PolicyDocumentSchema>;
