import { assert, assertEquals } from "../../support/assert.ts";
import type { Policy } from "../../../gateway/policy/policy.ts";
import { EXAMPLE, policyOf, request } from "./_policy.ts";

/** `effect rule` of a decision, e.g. `allow a` or `deny -`. */
function decided(
  policy: Policy,
  fields: Parameters<typeof request>[0],
): string {
  const decision = policy.evaluate(request(fields));
  return `${decision.effect} ${decision.rule ?? "-"}`;
}

/** A rule list where each rule is `- name: N` plus its fields. */
function rules(...bodies: string[][]): Policy {
  return policyOf(
    "groups:",
    "  dba: [alice, ci-bot]",
    "  web: [bob]",
    "rules:",
    ...bodies.flatMap(([first, ...rest]) => [
      `  - ${first}`,
      ...rest.map((line) => `    ${line}`),
    ]),
  );
}

Deno.test("evaluate() denies what no rule allows, with no rule named", () => {
  const policy = rules(["name: a", "principals: [bob]", "effect: allow"]);
  const decision = policy.evaluate(request());
  assertEquals(decision, {
    effect: "deny",
    rule: undefined,
    readOnly: false,
    matched: [],
  });
});

Deno.test("evaluate() lets a deny win over an allow, in either order", () => {
  const allow = ["name: allow-all", 'principals: ["*"]', "effect: allow"];
  const deny = [
    "name: no-prod",
    'principals: ["*"]',
    "safes: [PROD-*]",
    "effect: deny",
  ];
  for (const policy of [rules(allow, deny), rules(deny, allow)]) {
    assertEquals(decided(policy, {}), "deny no-prod");
    assertEquals(decided(policy, { safe: "TEST" }), "allow allow-all");
  }
  const decision = rules(allow, deny).evaluate(request());
  assertEquals(decision.matched, ["allow-all", "no-prod"], "file order");
});

Deno.test("evaluate() lets an approve win over an allow, and a deny over an approve", () => {
  const allow = ["name: allow", 'principals: ["*"]', "effect: allow"];
  const approve = ["name: ask", 'principals: ["*"]', "effect: approve"];
  const deny = ["name: stop", "principals: [alice]", "effect: deny"];
  assertEquals(decided(rules(allow, approve), {}), "approve ask");
  assertEquals(decided(rules(approve, allow), {}), "approve ask");
  assertEquals(decided(rules(allow, approve, deny), {}), "deny stop");
  assertEquals(decided(rules(deny, approve, allow), {}), "deny stop");
  assertEquals(
    decided(rules(allow, approve, deny), { principal: "bob" }),
    "approve ask",
  );
});

Deno.test("evaluate() names the first matching rule of the deciding effect", () => {
  const policy = rules(
    ["name: a1", 'principals: ["*"]', "effect: allow"],
    ["name: d1", 'principals: ["*"]', "tools: [db_query]", "effect: deny"],
    ["name: d2", 'principals: ["*"]', "effect: deny"],
    ["name: a2", 'principals: ["*"]', "effect: allow"],
  );
  assertEquals(decided(policy, {}), "deny d2");
  assertEquals(decided(policy, { tool: "db_query" }), "deny d1");
  assertEquals(
    policy.evaluate(request({ tool: "db_query" })).matched,
    ["a1", "d1", "d2", "a2"],
  );
});

Deno.test("evaluate() matches a rule on every field it names; omitted fields match anything", () => {
  const policy = rules([
    "name: narrow",
    "principals: [alice]",
    "safes: [PROD-DB]",
    "objects: [db-ro]",
    "tools: [db_query]",
    "hosts: [db1.corp.example]",
    "commands: ['^select ']",
    "effect: allow",
  ], ["name: open", "principals: [carol]", "effect: allow"]);
  const full = {
    tool: "db_query" as const,
    host: "db1.corp.example",
    command: "select 1",
  };
  assertEquals(decided(policy, full), "allow narrow");
  for (
    const change of [
      { principal: "bob" },
      { safe: "PROD-WEB" },
      { object: "db-rw" },
      { tool: "ssh_execute" as const },
      { host: "db2.corp.example" },
      { command: "delete from t" },
    ]
  ) {
    assertEquals(
      decided(policy, { ...full, ...change }),
      "deny -",
      JSON.stringify(change),
    );
  }
  // A rule that names only principals matches any tool, Safe, host and command.
  for (
    const other of [
      {},
      { tool: "ssh_execute" as const, host: "10.9.9.9", command: "reboot" },
      {
        tool: "db_query" as const,
        safe: "X",
        object: "Y",
        host: "h",
        command: "",
      },
    ]
  ) {
    assertEquals(
      decided(policy, { principal: "carol", ...other }),
      "allow open",
    );
  }
});

Deno.test("evaluate() matches principals by name, group:NAME membership and *", () => {
  const policy = rules(
    [
      "name: dba",
      'principals: ["group:dba"]',
      "tools: [db_query]",
      "effect: allow",
    ],
    [
      "name: named",
      "principals: [dave]",
      "tools: [ssh_execute]",
      "effect: allow",
    ],
    [
      "name: anyone",
      'principals: ["*"]',
      "tools: [ps_execute]",
      "effect: allow",
    ],
  );
  assertEquals(decided(policy, { tool: "db_query" }), "allow dba");
  assertEquals(
    decided(policy, { tool: "db_query", principal: "ci-bot" }),
    "allow dba",
  );
  assertEquals(
    decided(policy, { tool: "db_query", principal: "bob" }),
    "deny -",
  );
  assertEquals(
    decided(policy, { tool: "db_query", principal: "Alice" }),
    "deny -",
    "names are exact",
  );
  assertEquals(
    decided(policy, { tool: "ssh_execute", principal: "dave" }),
    "allow named",
  );
  assertEquals(decided(policy, { tool: "ssh_execute" }), "deny -");
  for (const principal of ["alice", "bob", "x", "group:dba"]) {
    assertEquals(
      decided(policy, { tool: "ps_execute", principal }),
      "allow anyone",
    );
  }
});

Deno.test("evaluate() matches Safes and objects as globs, ignoring case so that a deny cannot be dodged", () => {
  const policy = rules(
    ["name: allow-all", 'principals: ["*"]', "effect: allow"],
    [
      "name: no-prod-db",
      'principals: ["*"]',
      "safes: [PROD-DB]",
      "effect: deny",
    ],
    [
      "name: no-root",
      'principals: ["*"]',
      'objects: ["*-root", "adm?n"]',
      "effect: deny",
    ],
  );
  for (const safe of ["PROD-DB", "prod-db", "Prod-Db"]) {
    assertEquals(decided(policy, { safe }), "deny no-prod-db", safe);
  }
  assertEquals(
    decided(policy, { safe: "PROD-DB2" }),
    "allow allow-all",
    "anchored",
  );
  assertEquals(
    decided(policy, { safe: "X", object: "LINUX-ROOT" }),
    "deny no-root",
  );
  assertEquals(decided(policy, { safe: "X", object: "admin" }), "deny no-root");
  assertEquals(decided(policy, { safe: "X", object: "ADMEN" }), "deny no-root");
  assertEquals(
    decided(policy, { safe: "X", object: "admiin" }),
    "allow allow-all",
  );
  assertEquals(
    decided(policy, { safe: "X", object: "root-linux" }),
    "allow allow-all",
  );
  // Glob text is literal apart from * and ?: a dot is a dot.
  const dotted = rules([
    "name: d",
    'principals: ["*"]',
    "safes: [A.B]",
    "effect: allow",
  ]);
  assertEquals(decided(dotted, { safe: "A.B" }), "allow d");
  assertEquals(decided(dotted, { safe: "AxB" }), "deny -");
});

Deno.test("evaluate() matches host names as case-insensitive globs, without the trailing dot", () => {
  const policy = rules(
    ["name: allow-all", 'principals: ["*"]', "effect: allow"],
    [
      "name: no-db",
      'principals: ["*"]',
      'hosts: ["*.db.corp.example"]',
      "effect: deny",
    ],
  );
  for (
    const host of [
      "pg1.db.corp.example",
      "PG1.DB.Corp.Example",
      "pg1.db.corp.example.",
      " pg1.db.corp.example ",
    ]
  ) {
    assertEquals(
      decided(policy, { tool: "db_query", host }),
      "deny no-db",
      host,
    );
  }
  assertEquals(
    decided(policy, { tool: "db_query", host: "db.corp.example" }),
    "allow allow-all",
  );
  assertEquals(
    decided(policy, { tool: "db_query", host: "pg1.db.corp.example.evil" }),
    "allow allow-all",
  );
});

Deno.test("evaluate() matches addresses and CIDRs of both families, also a bracketed IPv6 host", () => {
  const policy = rules([
    "name: nets",
    'principals: ["*"]',
    'hosts: ["10.20.0.0/16", "192.0.2.7", "fd00:1::/32", "::1", "[2001:db8::5]"]',
    "effect: allow",
  ]);
  const allowed = [
    "10.20.0.1",
    "10.20.255.254",
    "192.0.2.7",
    "fd00:1:ffff::9",
    "[fd00:1::9]",
    "FD00:1::A",
    "::1",
    "[::1]",
    "0:0:0:0:0:0:0:1",
    "2001:db8::5",
    "[2001:DB8:0::5]",
    "::ffff:10.20.1.1",
  ];
  for (const host of allowed) {
    assertEquals(
      decided(policy, { tool: "ssh_execute", host }),
      "allow nets",
      host,
    );
  }
  const denied = [
    "10.21.0.1",
    "192.0.2.8",
    "fd00:2::1",
    "::2",
    "localhost",
    "10.20.0.1.nip.io",
  ];
  for (const host of denied) {
    assertEquals(
      decided(policy, { tool: "ssh_execute", host }),
      "deny -",
      host,
    );
  }
});

Deno.test("evaluate() never lets a name glob match an address; only a glob of * does", () => {
  const policy = rules(
    [
      "name: names",
      'principals: ["*"]',
      'hosts: ["*.corp.example", "db?", "web*"]',
      "tools: [ssh_execute]",
      "effect: allow",
    ],
    [
      "name: anything",
      'principals: ["*"]',
      'hosts: ["*"]',
      "tools: [db_query]",
      "effect: allow",
    ],
  );
  assertEquals(
    decided(policy, { tool: "ssh_execute", host: "db1" }),
    "allow names",
  );
  assertEquals(
    decided(policy, { tool: "ssh_execute", host: "web1" }),
    "allow names",
  );
  for (const host of ["10.0.0.1", "::1", "[::1]", "fe80::1"]) {
    assertEquals(
      decided(policy, { tool: "ssh_execute", host }),
      "deny -",
      host,
    );
    assertEquals(
      decided(policy, { tool: "db_query", host }),
      "allow anything",
      host,
    );
  }
  // An address pattern never matches a name that merely looks like it.
  const nets = rules([
    "name: n",
    'principals: ["*"]',
    'hosts: ["10.0.0.0/8"]',
    "effect: allow",
  ]);
  assertEquals(
    decided(nets, { tool: "ssh_execute", host: "10.0.0.1.evil.example" }),
    "deny -",
  );
});

Deno.test("evaluate() tests command regexes; (?i) ignores case; a deny sees every line of a command", () => {
  const policy = policyOf(
    ...EXAMPLE,
    "  - name: ssh-all",
    '    principals: ["*"]',
    "    tools: [ssh_execute]",
    "    effect: allow",
    "  - name: no-drop",
    '    principals: ["*"]',
    '    commands: ["(?i)\\\\bdrop\\\\s+table\\\\b"]',
    "    effect: deny",
  );
  const ssh = (command: string): string =>
    decided(policy, { tool: "ssh_execute", host: "web1", command });
  assertEquals(ssh("uptime"), "allow ssh-all");
  assertEquals(ssh("rm -rf /tmp/x"), "deny no-destructive-shell");
  assertEquals(ssh("ls; rm -rf /"), "deny no-destructive-shell");
  assertEquals(ssh("ls && reboot"), "deny no-destructive-shell");
  assertEquals(ssh("uptime\nshutdown -h now"), "deny no-destructive-shell");
  assertEquals(ssh("echo reboots"), "allow ssh-all", "\\b ends the word");
  assertEquals(ssh("RM -RF /"), "allow ssh-all", "without (?i) case counts");
  assertEquals(ssh("psql -c 'DROP TABLE users'"), "deny no-drop");
});

Deno.test("evaluate() does not let an anchored allow command stretch over a second line", () => {
  const policy = rules([
    "name: status-only",
    'principals: ["*"]',
    "tools: [ssh_execute]",
    "commands: ['^systemctl status [a-z-]+$']",
    "effect: allow",
  ]);
  const ssh = (command: string): string =>
    decided(policy, { tool: "ssh_execute", host: "web1", command });
  assertEquals(ssh("systemctl status nginx"), "allow status-only");
  assertEquals(ssh("systemctl status nginx\nrm -rf /"), "deny -");
  assertEquals(ssh("rm -rf /\nsystemctl status nginx"), "deny -");
});

Deno.test("evaluate() defers hosts and commands on get_credential: allow and approve match, deny does not", () => {
  const policy = rules(
    [
      "name: web",
      "principals: [bob]",
      'hosts: ["*.web.corp.example"]',
      "commands: ['^uptime$']",
      "effect: allow",
    ],
    [
      "name: no-ip",
      'principals: ["*"]',
      'hosts: ["10.0.0.0/8"]',
      "effect: deny",
    ],
    [
      "name: no-reboot",
      'principals: ["*"]',
      "commands: [reboot]",
      "effect: deny",
    ],
    [
      "name: ask-db",
      "principals: [carol]",
      'hosts: ["*.db.corp.example"]',
      "effect: approve",
    ],
  );
  const fetch = policy.evaluate(request({ principal: "bob" }));
  assertEquals(fetch.effect, "allow");
  assertEquals(fetch.rule, "web");
  assertEquals(
    fetch.matched,
    ["web"],
    "the denies on host and command wait for the target tool",
  );
  assertEquals(decided(policy, { principal: "carol" }), "approve ask-db");
  // The target tool then decides on the real host and command.
  const ssh = { principal: "bob", tool: "ssh_execute" as const };
  assertEquals(
    decided(policy, { ...ssh, host: "a.web.corp.example", command: "uptime" }),
    "allow web",
  );
  assertEquals(
    decided(policy, { ...ssh, host: "10.1.2.3", command: "uptime" }),
    "deny no-ip",
  );
  assertEquals(
    decided(policy, { ...ssh, host: "a.web.corp.example", command: "reboot" }),
    "deny no-reboot",
  );
  assertEquals(
    decided(policy, { ...ssh, host: "a.db.corp.example", command: "uptime" }),
    "deny -",
  );
});

Deno.test("evaluate() demands a read-only session when any matching allow rule says so (restrictions win)", () => {
  const ro = [
    "name: ro",
    "principals: [alice]",
    "tools: [db_query]",
    "read_only: true",
    "effect: allow",
  ];
  const rw = ["name: rw", "principals: [alice]", "effect: allow"];
  for (const policy of [rules(ro, rw), rules(rw, ro)]) {
    const decision = policy.evaluate(
      request({ tool: "db_query", host: "h", command: "select 1" }),
    );
    assertEquals(decision.effect, "allow");
    assert(
      decision.readOnly,
      "the read-only rule binds even next to a broader one",
    );
  }
  const other = rules(ro, rw).evaluate(
    request({ principal: "alice", tool: "ssh_execute" }),
  );
  assertEquals(
    other.readOnly,
    false,
    "a rule that does not match does not bind",
  );
  const bob = rules(ro, rw).evaluate(
    request({ principal: "bob", tool: "db_query" }),
  );
  assertEquals(bob, {
    effect: "deny",
    rule: undefined,
    readOnly: false,
    matched: [],
  });
});

Deno.test("evaluate() reads the issue's example as documented", () => {
  const policy = policyOf(...EXAMPLE);
  const fetch = policy.evaluate(
    request({ safe: "prod-db", object: "pg-admin" }),
  );
  assertEquals(fetch, {
    effect: "allow",
    rule: "dba-read-prod-db",
    readOnly: true,
    matched: ["dba-read-prod-db"],
  });
  assertEquals(
    decided(policy, {
      tool: "db_query",
      host: "pg1.db.corp.example",
      command: "select 1",
    }),
    "allow dba-read-prod-db",
  );
  assertEquals(
    decided(policy, {
      tool: "db_query",
      host: "10.20.1.2",
      command: "select 1",
    }),
    "allow dba-read-prod-db",
  );
  assertEquals(
    decided(policy, {
      tool: "db_query",
      host: "10.30.1.2",
      command: "select 1",
    }),
    "deny -",
  );
  assertEquals(decided(policy, { principal: "bob" }), "deny -");
  assertEquals(
    decided(policy, {
      tool: "ssh_execute",
      host: "pg1.db.corp.example",
      command: "cd /; reboot",
    }),
    "deny no-destructive-shell",
  );
});
