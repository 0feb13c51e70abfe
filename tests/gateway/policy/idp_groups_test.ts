/**
 * The identity provider's groups in the policy: `group:NAME` matches a
 * caller whose token lists NAME (`OAUTH_GROUPS_CLAIM`) as well as the
 * file's own members; a group of the provider alone is declared with an
 * empty member list; principal names may be e-mail addresses.
 */
import { parsePolicy } from "../../../gateway/policy/load_policy.ts";
import type { PolicyRequest } from "../../../gateway/policy/policy.ts";
import { PolicyError } from "../../../gateway/policy/policy_error.ts";
import {
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../support/assert.ts";

const POLICY = `
groups:
  oncall: [ci-bot]
  "/Platform Team/DBAs": []
  9c1d2e3f-0000-4000-8000-00000000abcd: []
rules:
  - name: oncall-linux
    principals: ["group:oncall"]
    tools: [get_credential]
    effect: allow
  - name: dbas
    principals: ["group:/Platform Team/DBAs"]
    tools: [db_query]
    effect: allow
  - name: entra-admins
    principals: ["group:9c1d2e3f-0000-4000-8000-00000000abcd"]
    tools: [ssh_execute]
    effect: allow
  - name: carol-by-mail
    principals: [carol.smith+ops@corp.example]
    tools: [ps_execute]
    effect: allow
`;

const policy = parsePolicy(POLICY, "/etc/mcp/policy.yaml");

function decide(
  principal: string,
  tool: PolicyRequest["tool"],
  groups?: string[],
): string {
  const decision = policy.evaluate({
    principal,
    tool,
    safe: "S",
    object: "O",
    ...(groups === undefined ? {} : { groups }),
  });
  return `${decision.effect} ${decision.rule ?? "-"}`;
}

Deno.test("policy: group:NAME matches the file's members and the caller's identity provider groups", () => {
  assertEquals(decide("ci-bot", "get_credential"), "allow oncall-linux");
  assertEquals(
    decide("alice@corp.example", "get_credential", ["oncall"]),
    "allow oncall-linux",
  );
  assertEquals(decide("alice@corp.example", "get_credential"), "deny -");
  assertEquals(
    decide("alice@corp.example", "get_credential", ["Oncall", "on-call"]),
    "deny -",
    "group names compare exactly",
  );
});

Deno.test("policy: groups of the provider alone have empty member lists and may hold spaces, paths and ids", () => {
  assertEquals(
    decide("bob", "db_query", ["/Platform Team/DBAs"]),
    "allow dbas",
  );
  assertEquals(
    decide("bob", "ssh_execute", ["9c1d2e3f-0000-4000-8000-00000000abcd"]),
    "allow entra-admins",
  );
  assertEquals(decide("bob", "db_query"), "deny -");
});

Deno.test("policy: an e-mail address is a principal name", () => {
  assertEquals(
    decide("carol.smith+ops@corp.example", "ps_execute"),
    "allow carol-by-mail",
  );
  assertEquals(decide("carol.smith@corp.example", "ps_execute"), "deny -");
});

Deno.test("policy: a group nobody declared is still refused, naming the empty-list fix", () => {
  const error = assertThrows(
    () =>
      parsePolicy(
        `rules:\n  - name: r\n    principals: ["group:dbas"]\n    effect: allow\n`,
        "/etc/mcp/policy.yaml",
      ),
    PolicyError,
  );
  assertStringIncludes(error.message, "line 3");
  assertStringIncludes(
    error.message,
    "with an empty list, [], for a group of the identity provider",
  );
});

Deno.test("policy: bad principal and group names are refused", () => {
  for (
    const [text, says] of [
      [`[" padded"]`, "is not a principal name"],
      [`["a b"]`, "is not a principal name"],
      [`["group: x"]`, "is not group:NAME"],
    ]
  ) {
    const error = assertThrows(
      () =>
        parsePolicy(
          `groups:\n  x: []\nrules:\n  - name: r\n    principals: ${text}\n    effect: allow\n`,
          "/p.yaml",
        ),
      PolicyError,
    );
    assertStringIncludes(error.message, says!);
  }
});
