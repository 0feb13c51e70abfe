import { assert, assertEquals } from "../../support/assert.ts";
import {
  POLICY_EFFECTS,
  PolicyDocumentSchema,
  PolicyRuleSchema,
  RULE_FIELDS,
} from "../../../gateway/policy/policy_schema.ts";
import { POLICY_TOOLS } from "../../../gateway/policy/policy.ts";

const RULE = { name: "r", principals: ["*"], effect: "allow" as const };

/** The path and message of the first issue of `value`. */
function firstIssue(value: unknown): [string, string] {
  const parsed = PolicyDocumentSchema.safeParse(value);
  assert(!parsed.success, `expected a failure for ${JSON.stringify(value)}`);
  const issue = parsed.error.issues[0]!;
  return [issue.path.join("."), issue.message];
}

Deno.test("PolicyDocumentSchema accepts a minimal policy and keeps the optional fields out", () => {
  const parsed = PolicyDocumentSchema.parse({ rules: [RULE] });
  assertEquals(parsed, { rules: [RULE] });
});

Deno.test("PolicyRuleSchema knows exactly the documented fields, effects and tools", () => {
  assertEquals(Object.keys(PolicyRuleSchema.shape), [...RULE_FIELDS]);
  assertEquals([...POLICY_EFFECTS], ["allow", "deny", "approve"]);
  assertEquals(
    PolicyRuleSchema.shape.tools.unwrap().element.options,
    [...POLICY_TOOLS],
  );
});

Deno.test("PolicyDocumentSchema is strict: unknown fields in the file and in a rule are errors", () => {
  assertEquals(firstIssue({ rules: [RULE], extra: 1 })[0], "");
  assertEquals(
    firstIssue({ rules: [{ ...RULE, when: "always" }] })[0],
    "rules.0",
  );
});

Deno.test("PolicyDocumentSchema points each cross-rule problem at its field", () => {
  assertEquals(firstIssue({ rules: [RULE, RULE] }), [
    "rules.1.name",
    '"r" is the name of an earlier rule; give each rule its own name',
  ]);
  assertEquals(
    firstIssue({
      groups: { dba: ["a"] },
      rules: [{ ...RULE, principals: ["a", "group:dba", "group:ops"] }],
    }),
    [
      "rules.0.principals.2",
      '"group:ops" names a group that is not defined; add ops under groups: (with an empty list, [], for a group of the identity provider) or fix the name',
    ],
  );
  assertEquals(
    firstIssue({ rules: [{ ...RULE, effect: "deny", read_only: true }] })[0],
    "rules.0.read_only",
  );
  assertEquals(
    firstIssue({
      rules: [{ ...RULE, tools: ["ssh_execute"], read_only: true }],
    })[0],
    "rules.0.read_only",
  );
  // read_only without tools, or with db_query among them, is fine.
  for (const tools of [undefined, ["get_credential", "db_query"]]) {
    const rule = tools === undefined
      ? { ...RULE, read_only: true }
      : { ...RULE, tools, read_only: true };
    assert(PolicyDocumentSchema.safeParse({ rules: [rule] }).success);
  }
});

Deno.test("PolicyDocumentSchema refuses empty lists everywhere", () => {
  for (
    const [value, path] of [
      [{ rules: [] }, "rules"],
      [{ rules: [{ ...RULE, principals: [] }] }, "rules.0.principals"],
      [{ rules: [{ ...RULE, safes: [] }] }, "rules.0.safes"],
      [{ rules: [{ ...RULE, objects: [] }] }, "rules.0.objects"],
      [{ rules: [{ ...RULE, tools: [] }] }, "rules.0.tools"],
      [{ rules: [{ ...RULE, hosts: [] }] }, "rules.0.hosts"],
      [{ rules: [{ ...RULE, commands: [] }] }, "rules.0.commands"],
    ] as const
  ) {
    const [where, message] = firstIssue(value);
    assertEquals(where, path);
    assert(message.startsWith("is empty; "), message);
  }
});

Deno.test("PolicyDocumentSchema checks names of rules, principals and group members", () => {
  const tooLong = "n".repeat(65);
  assertEquals(
    firstIssue({ rules: [{ ...RULE, name: tooLong }] })[0],
    "rules.0.name",
  );
  assertEquals(
    firstIssue({
      rules: [{ ...RULE, principals: [`group:${"g".repeat(129)}`] }],
    })[0],
    "rules.0.principals.0",
  );
  assertEquals(
    firstIssue({ groups: { g: ["*"] }, rules: [RULE] })[0],
    "groups.g.0",
    'a group lists names, not "*"',
  );
  // A group of the identity provider alone has no members in the file.
  assert(
    PolicyDocumentSchema.safeParse({
      groups: { "Platform DBAs": [] },
      rules: [{ ...RULE, principals: ["group:Platform DBAs"] }],
    }).success,
  );
  // Principals nobody configured are fine: the policy may name them first.
  assert(
    PolicyDocumentSchema.safeParse({
      groups: { g: ["not-yet-configured"] },
      rules: [{ ...RULE, principals: ["someone.else_2"] }],
    }).success,
  );
});
