import { createHash } from "node:crypto";
import {
  assert,
  assertEquals,
  assertMatch,
  assertThrows,
} from "../../support/assert.ts";
import {
  loadPolicyFile,
  parsePolicy,
} from "../../../gateway/policy/load_policy.ts";
import { PolicyError } from "../../../gateway/policy/policy_error.ts";
import { EXAMPLE, SOURCE } from "./_policy.ts";

/** The error parsing these lines throws. */
function failure(lines: readonly string[]): PolicyError {
  return assertThrows(
    () => parsePolicy(lines.join("\n") + "\n", SOURCE),
    PolicyError,
  );
}

/** EXAMPLE with line `n` (1-based) replaced by `lines` (none: removed). */
function edited(n: number, ...lines: string[]): string[] {
  return [...EXAMPLE.slice(0, n - 1), ...lines, ...EXAMPLE.slice(n)];
}

Deno.test("parsePolicy() reads the issue's example: source, rule count, SHA-256 of the text", () => {
  const text = EXAMPLE.join("\n") + "\n";
  const policy = parsePolicy(text, SOURCE);
  assertEquals(policy.source, SOURCE);
  assertEquals(policy.ruleCount, 2);
  assertEquals(
    policy.sha256,
    createHash("sha256").update(text).digest("hex"),
  );
});

Deno.test("parsePolicy() accepts every optional field", () => {
  const policy = parsePolicy(
    [
      "rules:",
      "  - name: all.fields_1",
      '    description: "free text: anything"',
      '    principals: [alice, "group:g", "*"]',
      '    safes: ["PROD-*", "Test Safe?"]',
      '    objects: ["*-ro"]',
      "    tools: [get_credential, ssh_execute, ps_execute, db_query]",
      '    hosts: ["*.corp.example", "10.0.0.0/8", "::1", "[fd00::1]", "fd00::/8", "192.0.2.1"]',
      '    commands: ["(?i)^select ", "x"]',
      "    read_only: true",
      "    effect: allow",
      "  - name: approve-it",
      '    principals: ["*"]',
      "    read_only: true",
      "    effect: approve",
      "groups:",
      "  g: [bob]",
    ].join("\n"),
    SOURCE,
  );
  assertEquals(policy.ruleCount, 2);
});

Deno.test("parsePolicy() errors name the file, the line, the rule and the fix, in one line", () => {
  const cases: [string[], string][] = [
    [
      edited(8, '    hosts: ["*.db.corp.example", "10.0.0.0/33"]'),
      'line 8, rule "dba-read-prod-db": hosts[1] "10.0.0.0/33" is not a valid CIDR; write an address like 10.20.0.0/16 or fd00::/8',
    ],
    [
      edited(
        8,
        "    hosts:",
        '      - "*.db.corp.example"',
        '      - "fd00::/129"',
      ),
      'line 10, rule "dba-read-prod-db": hosts[1] "fd00::/129" is not a valid CIDR',
    ],
    [
      edited(8, '    hosts: ["10.0.0.300"]'),
      'line 8, rule "dba-read-prod-db": hosts[0] "10.0.0.300" is not a valid IPv4 address',
    ],
    [
      edited(8, '    hosts: ["fd00:::1"]'),
      'hosts[0] "fd00:::1" is not a valid IPv6 address',
    ],
    [
      edited(8, '    hosts: ["10.20.*"]'),
      'hosts[0] "10.20.*" is a glob on an address; host globs match names only, write a CIDR like 10.20.0.0/16',
    ],
    [
      edited(8, '    hosts: ["db[1-3].corp"]'),
      'hosts[0] "db[1-3].corp" is not a host name glob',
    ],
    [
      edited(6, '    safes: ["PROD-{DB,WEB}"]'),
      'line 6, rule "dba-read-prod-db": safes[0] "PROD-{DB,WEB}" contains "{"; only * (any run of characters) and ? (one character) are wildcards',
    ],
    [
      edited(6, '    objects: ["a\\\\b"]'),
      'line 6, rule "dba-read-prod-db": objects[0] "a\\b" contains "\\"',
    ],
    [
      edited(14, '    commands: ["(rm"]'),
      'line 14, rule "no-destructive-shell": commands[0] "(rm" is not a valid JavaScript regular expression (Unterminated group); fix the pattern, a leading (?i) is the only inline flag',
    ],
    [
      edited(14, '    commands: ["(?s)rm"]'),
      'commands[0] "(?s)rm" is not a valid JavaScript regular expression',
    ],
    [
      edited(13, "    tools: [ssh_execute, ssh_exec]"),
      'line 13, rule "no-destructive-shell": tools[1] is "ssh_exec"; use one of get_credential, ssh_execute, ps_execute, db_query',
    ],
    [
      edited(15, "    effect: block"),
      'line 15, rule "no-destructive-shell": effect is "block"; use one of allow, deny, approve',
    ],
    [
      edited(15),
      'line 11, rule "no-destructive-shell": the rule\'s field effect is missing; add it',
    ],
    [
      edited(12),
      'line 11, rule "no-destructive-shell": the rule\'s field principals is missing; add it',
    ],
    [
      edited(4, "  - description: no name"),
      "line 4, rules[0]: the rule's field name is missing; add it",
    ],
    [
      edited(4, "  - name: bad name!"),
      'line 4, rules[0]: name "bad name!" is not a rule name; use 1 to 64 letters',
    ],
    [
      edited(11, "  - name: dba-read-prod-db"),
      'line 11, rules[1]: name "dba-read-prod-db" is the name of an earlier rule; give each rule its own name',
    ],
    [
      edited(5, '    principals: ["group:ops"]'),
      'line 5, rule "dba-read-prod-db": principals[0] "group:ops" names a group that is not defined; add ops under groups: (with an empty list, [], for a group of the identity provider) or fix the name',
    ],
    [
      edited(12, '    principals: ["alice", "bob smith"]'),
      'line 12, rule "no-destructive-shell": principals[1] "bob smith" is not a principal name, group:NAME or "*"',
    ],
    [
      edited(12, `    principals: ["${"n".repeat(257)}"]`),
      "is not a principal name, group:NAME or",
    ],
    [
      edited(2, '  dba: [alice, "group:admins"]'),
      'line 2: groups.dba[1] "group:admins" is not a principal name; names are 1 to 256 letters',
    ],
    [
      edited(2, '  "my group ": [alice]'),
      'line 2: groups "my group " is not a group name; use 1 to 128 letters',
    ],
    [
      edited(6, "    safes: []"),
      'line 6, rule "dba-read-prod-db": safes is empty; list at least one Safe name or glob or leave the field out',
    ],
    [
      edited(14, "    commands: []"),
      'line 14, rule "no-destructive-shell": commands is empty',
    ],
    [
      edited(9, "    read_only: true", "    effect: deny").filter((l) =>
        l !== "    effect: allow"
      ),
      'line 9, rule "dba-read-prod-db": read_only is true on a deny rule; read_only restricts what an allow rule permits, remove it here',
    ],
    [
      edited(7, "    tools: [get_credential]"),
      'line 9, rule "dba-read-prod-db": read_only is true but tools does not include db_query; read_only only applies to db_query, add db_query to tools or remove read_only',
    ],
    [
      edited(9, "    read_only: yes"),
      'line 9, rule "dba-read-prod-db": read_only must be true or false, not "yes"',
    ],
    [
      edited(6, '    safes: "PROD-DB"'),
      'line 6, rule "dba-read-prod-db": safes must be a list, not "PROD-DB"',
    ],
    [
      edited(15, "    effect: deny", "    comment: x"),
      'line 16, rule "no-destructive-shell": the rule has an unknown field "comment"; the fields are name, description, principals, safes, objects, tools, hosts, commands, read_only, effect',
    ],
    [
      ["version: 2", ...EXAMPLE],
      'line 1: the file has an unknown field "version"; the fields are groups, rules',
    ],
    [
      ["rules: []"],
      "line 1: rules is empty; a policy without rules denies every call, add at least one rule",
    ],
    [
      ["groups:", "  a: [b]"],
      "line 1: the field rules is missing; add it",
    ],
    [
      ["rules:", "  - allow everything"],
      'line 2, rules[0]: the rule must be a mapping of fields, not "allow everything"',
    ],
    [
      edited(6, '    safes: ["PROD-DB"]', '    safes: ["PROD-WEB"]'),
      "line 7: repeats a key; write each field once",
    ],
    [
      edited(13, "    tools: [ssh_execute, ps_execute"),
      "is not valid YAML (",
    ],
    [
      [...EXAMPLE, "---", "rules: []"],
      "line 16: is not valid YAML (",
    ],
    [
      edited(6, "\tsafes: [PROD-DB]"),
      "line 6: is not valid YAML (",
    ],
  ];
  for (const [lines, expected] of cases) {
    const error = failure(lines);
    assert(
      error.message.startsWith(`POLICY_FILE ${SOURCE} `),
      error.message,
    );
    assert(
      error.message.includes(expected),
      `expected "${expected}" in\n${error.message}`,
    );
    assert(!error.message.includes("\n"), `one line: ${error.message}`);
    assertEquals(error.detail, error.message.slice("POLICY_FILE ".length));
    assertEquals(error.source, SOURCE);
    const line = /^POLICY_FILE \S+ line (\d+)/.exec(error.message)?.[1];
    assertEquals(error.line, line === undefined ? undefined : Number(line));
  }
});

Deno.test("parsePolicy() refuses an empty file and alias bombs", () => {
  for (const text of ["", "\n# only a comment\n"]) {
    assertEquals(
      assertThrows(() => parsePolicy(text, SOURCE), PolicyError).message,
      `POLICY_FILE ${SOURCE}: is empty; write a rules: list, see README Principals and policy`,
    );
  }
  const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
  for (let i = 0; i < 8; i++) {
    const refs = Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(", ");
    bomb.push(
      `${String.fromCharCode(98 + i)}: &${
        String.fromCharCode(98 + i)
      } [${refs}]`,
    );
  }
  const error = assertThrows(
    () => parsePolicy(bomb.join("\n"), SOURCE),
    PolicyError,
  );
  assertMatch(error.message, /^POLICY_FILE \/etc\/mcp\/policy\.yaml/);
});

Deno.test("loadPolicyFile() reads a file and hashes its bytes as sha256sum does", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = `${dir}/policy.yaml`;
    const text = EXAMPLE.join("\n") + "\n";
    Deno.writeTextFileSync(file, text);
    const policy = loadPolicyFile(file);
    assertEquals(policy.source, file);
    assertEquals(
      policy.sha256,
      createHash("sha256").update(Deno.readFileSync(file)).digest("hex"),
    );
    Deno.writeTextFileSync(file, "\ufeff" + text);
    assertEquals(
      loadPolicyFile(file).sha256,
      createHash("sha256").update(Deno.readFileSync(file)).digest("hex"),
      "a byte order mark is hashed too",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadPolicyFile() names a file it cannot read, or that is not UTF-8", () => {
  const dir = Deno.makeTempDirSync();
  try {
    assertEquals(
      assertThrows(() => loadPolicyFile(`${dir}/none.yaml`), PolicyError)
        .message,
      `POLICY_FILE ${dir}/none.yaml: cannot be read (not found); point POLICY_FILE at a YAML policy file readable by the service user`,
    );
    assertMatch(
      assertThrows(() => loadPolicyFile(dir), PolicyError).message,
      /: cannot be read \(/,
    );
    Deno.writeFileSync(`${dir}/latin1.yaml`, new Uint8Array([0x72, 0xe9]));
    assertEquals(
      assertThrows(() => loadPolicyFile(`${dir}/latin1.yaml`), PolicyError)
        .message,
      `POLICY_FILE ${dir}/latin1.yaml: is not UTF-8 text; save it as UTF-8`,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
