/**
 * known_hosts parsing and lookup, on real OpenSSH output and checked against
 * `ssh-keygen -F` where OpenSSH is installed.
 */
import type { HostKey } from "../../executors/protocol/mod.ts";
import {
  keyscanFix,
  knownHostsName,
  lookupHostKeys,
  parseKnownHosts,
  parseKnownHostsDetailed,
} from "../../gateway/known_hosts.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertThrows,
} from "../support/assert.ts";

const ED25519: HostKey = {
  type: "ssh-ed25519",
  key: "AAAAC3NzaC1lZDI1NTE5AAAAINRnPhNln/ZMwenH16Zk8+jSKGYBmUrjOZegOgU+FlOa",
};
const RSA: HostKey = {
  type: "ssh-rsa",
  key:
    "AAAAB3NzaC1yc2EAAAADAQABAAABgQDA6rG6jMkxbtfHGFlrT5lYGhPMcWprxVGdiEpJq07Fdot86PS9gsxVwtIZ4oW6fq+Xc1rmFUvf1oH40M1ZpRRB/SrB5Jf63Wz154+zpamokh6aO4xMtaTqi6ezi2Il2e598Kld/G3uOYyIy37ZxMjLLoIWk95sqanf0ufJ0uy2GVrP/atEhnC9ZCUpdyZ+bQe5BDZJB2Y3ZxP0zdh9orNOReAjv7J8H34ZZXFp7CwDRSLFFs4h+EOyobkl83zdO+AP6ijsLcOnoaWm5sRigvYspvUgmLUWyOg/p3jHwltneAbwFZlsGHPq//YEN/6Tn0aruadVoiOiT1PAEuHOxWJvWigC+N/NKJwpp4hZjkey/X50xbPesGWSaOIjOryW8Yfn2hayfTFD5KpRsou/CGPt2uK322efwRV9HkVZRKhmTlXLt4yRHGyEpv2NoYhfoh0NTABQzziwgakEEukrlOkMIVAufv11dE/YJdSRpXkv5W6ptMLKRyxZVke75Q+TKR0=",
};
const ECDSA: HostKey = {
  type: "ecdsa-sha2-nistp256",
  key:
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBMvPaWVaPBQsDEnjg/2uQNs+2BzmSc6AjIZhTJUS8xDFv/dpnhSAL8fxb31s06wOqHvfBjU2tT+ogsezN8sVa9Q=",
};
const OTHER_ED25519: HostKey = {
  type: "ssh-ed25519",
  key: "AAAAC3NzaC1lZDI1NTE5AAAAIEoQ/HOjJ8tsqQF24tfKx3orgRplReeOgHlDYNrV8Dix",
};

/** `ssh-keyscan -H -p 40881 127.0.0.1`, verbatim (OpenSSH 9.2). */
const KEYSCAN_OUTPUT = `\
|1|bMPziCTy40bEqClJ93luNQR8B5s=|eB0NF5LyM+UfbrB0ErcDVBxSJ2o= ssh-rsa ${RSA.key}
|1|etl8PVcLSC1D2SSXMTq/3mc9Xgs=|PP35KMVryU9lDi0x1YpzlH0dmck= ssh-ed25519 ${ED25519.key}
`;

/** `ssh-keygen -H` of `linux01.internal` (ed25519) and `[db01.internal]:2222` (RSA). */
const KEYGEN_HASHED = `\
|1|RDOOjw2JJiQh7OEO0PjXGDVCEQE=|TFzVyyoMLqHWYzdsfC1zVNaARnQ= ssh-ed25519 ${ED25519.key}
|1|rZxdUprqqsduOlZDMyZfPLUlpBs=|0D9Bpxtz8LzTuEfpC8I/JFsxktY= ssh-rsa ${RSA.key}
`;

function line(names: string, key: HostKey, extra = ""): string {
  return `${names} ${key.type} ${key.key}${extra}`;
}

Deno.test("parseKnownHosts() reads real ssh-keyscan -H output for a [host]:port", () => {
  const entries = parseKnownHosts(KEYSCAN_OUTPUT);
  assertEquals(entries.length, 2);
  assert(entries.every((e) => e.names.kind === "hashed"));
  assertEquals(lookupHostKeys(entries, "127.0.0.1", 40881), {
    allowed: [RSA, ED25519],
    revoked: [],
  });
  assertEquals(lookupHostKeys(entries, "127.0.0.1", 22).allowed, []);
  assertEquals(lookupHostKeys(entries, "127.0.0.1", 40882).allowed, []);
  assertEquals(lookupHostKeys(entries, "127.0.0.2", 40881).allowed, []);
});

Deno.test("lookupHostKeys() matches names hashed by ssh-keygen -H, port 22 without brackets", () => {
  const entries = parseKnownHosts(KEYGEN_HASHED);
  assertEquals(lookupHostKeys(entries, "linux01.internal", 22).allowed, [
    ED25519,
  ]);
  // OpenSSH lower-cases the host name before looking it up.
  assertEquals(lookupHostKeys(entries, "LINUX01.Internal", 22).allowed, [
    ED25519,
  ]);
  assertEquals(lookupHostKeys(entries, "linux01.internal", 2222).allowed, []);
  assertEquals(lookupHostKeys(entries, "db01.internal", 2222).allowed, [RSA]);
  assertEquals(lookupHostKeys(entries, "db01.internal", 22).allowed, []);
});

Deno.test("lookupHostKeys() handles plain names, name lists and [host]:port", () => {
  const entries = parseKnownHosts([
    line("web01,web01.example.com,10.0.0.5", ED25519),
    line("[web01]:2222,[10.0.0.5]:2222", RSA),
    // OpenSSH looks up "web02" for port 22, never "[web02]:22".
    line("[web02]:22", ECDSA),
  ].join("\n"));
  assertEquals(lookupHostKeys(entries, "web01.example.com", 22).allowed, [
    ED25519,
  ]);
  assertEquals(lookupHostKeys(entries, "10.0.0.5", 22).allowed, [ED25519]);
  assertEquals(lookupHostKeys(entries, "10.0.0.5", 2222).allowed, [RSA]);
  assertEquals(lookupHostKeys(entries, "web01", 2222).allowed, [RSA]);
  assertEquals(lookupHostKeys(entries, "web02", 22).allowed, []);
  assertEquals(knownHostsName("Web01", 22), "web01");
  assertEquals(knownHostsName("::1", 2222), "[::1]:2222");
});

Deno.test("lookupHostKeys() applies wildcards and lets a negation veto the line", () => {
  const entries = parseKnownHosts([
    line("*.example.com,!bad.example.com", ED25519),
    line("[web?.internal]:2222", RSA),
    line("10.1.*", ECDSA),
  ].join("\n"));
  assertEquals(lookupHostKeys(entries, "a.example.com", 22).allowed, [ED25519]);
  assertEquals(lookupHostKeys(entries, "a.b.example.com", 22).allowed, [
    ED25519,
  ]);
  assertEquals(lookupHostKeys(entries, "bad.example.com", 22).allowed, []);
  assertEquals(lookupHostKeys(entries, "example.com", 22).allowed, []);
  assertEquals(lookupHostKeys(entries, "web1.internal", 2222).allowed, [RSA]);
  assertEquals(lookupHostKeys(entries, "web12.internal", 2222).allowed, []);
  assertEquals(lookupHostKeys(entries, "web1.internal", 22).allowed, []);
  assertEquals(lookupHostKeys(entries, "10.1.2.3", 22).allowed, [ECDSA]);
  // "." in a pattern is literal, not a regular-expression wildcard.
  assertEquals(lookupHostKeys(entries, "10x1.2.3", 22).allowed, []);
  // A list of only negations matches nothing and is reported.
  const onlyNegated = parseKnownHostsDetailed(line("!a,!b", ED25519));
  assertEquals(onlyNegated.entries, []);
  assertEquals(onlyNegated.skipped.length, 1);
});

Deno.test("lookupHostKeys() returns @revoked keys separately", () => {
  const entries = parseKnownHosts([
    line("host1", ED25519),
    line("host1", RSA),
    `@revoked ${line("*", OTHER_ED25519)}`,
    `@revoked ${line("host1", RSA)}`,
  ].join("\n"));
  assertEquals(lookupHostKeys(entries, "host1", 22), {
    allowed: [ED25519, RSA],
    revoked: [OTHER_ED25519, RSA],
  });
  assertEquals(lookupHostKeys(entries, "elsewhere", 2200), {
    allowed: [],
    revoked: [OTHER_ED25519],
  });
});

Deno.test("parseKnownHosts() skips comments, blank lines, CRLF and keeps comments after keys", () => {
  const text = [
    "# a comment",
    "",
    "   ",
    "\t# an indented comment",
    line("host1", ED25519, " root@host1 added 2024"),
    line("host1", ECDSA),
    line("host1", ED25519, " duplicate"),
  ].join("\r\n");
  const parsed = parseKnownHostsDetailed(text);
  assertEquals(parsed.skipped, []);
  assertEquals(parsed.entries.map((e) => [e.line, e.comment]), [
    [5, "root@host1 added 2024"],
    [6, ""],
    [7, "duplicate"],
  ]);
  // Several keys per host, duplicates folded.
  assertEquals(lookupHostKeys(parsed.entries, "host1", 22).allowed, [
    ED25519,
    ECDSA,
  ]);
});

Deno.test("parseKnownHostsDetailed() skips and counts malformed lines without throwing", () => {
  const text = [
    line("good", ED25519),
    "lonely-host",
    "host ssh-ed25519",
    "host ssh-ed25519 not*base64",
    `host ssh-rsa ${ED25519.key}`,
    `|1|short|hash ssh-ed25519 ${ED25519.key}`,
    `|2|abc|def ssh-ed25519 ${ED25519.key}`,
    `@bogus ${line("host", ED25519)}`,
    "host ssh-ed25519 AAAA",
    "\u0000\u0001 binary junk \uFFFD",
    line("also-good", RSA),
    `@cert-authority ${line("*.example.com", ED25519)}`,
  ].join("\n");
  const parsed = parseKnownHostsDetailed(text);
  assertEquals(parsed.entries.map((e) => e.line), [1, 11]);
  assertEquals(parsed.skipped.map((s) => s.line), [2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assertMatch(parsed.skipped[3]?.reason ?? "", /does not match/);
  assertEquals(parsed.certAuthorityLines, [12]);
  // A @cert-authority line trusts no key for a host.
  assertEquals(lookupHostKeys(parsed.entries, "a.example.com", 22).allowed, []);
  assertEquals(parseKnownHosts(text).length, 2);
  assertEquals(parseKnownHosts(""), []);
});

/** Keys `ssh-keygen -F NAME -f FILE` prints, as `revoked?type key`. */
async function keygenFind(path: string, name: string): Promise<string[]> {
  const out = await new Deno.Command("ssh-keygen", {
    args: ["-F", name, "-f", path],
    stdout: "piped",
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  return parseKnownHosts(text).map((e) =>
    `${e.revoked ? "@revoked " : ""}${e.key.type} ${e.key.key}`
  ).sort();
}

const hasKeygen = await new Deno.Command("ssh-keygen", {
  args: ["-?"],
  stdout: "null",
  stderr: "null",
}).output().then(() => true, () => false);

Deno.test({
  name: "lookupHostKeys() agrees with ssh-keygen -F on patterns and hashes",
  ignore: !hasKeygen,
  async fn(): Promise<void> {
    const dir = await Deno.makeTempDir({ prefix: "mcp-known-hosts-" });
    try {
      const path = `${dir}/known_hosts`;
      await Deno.writeTextFile(
        path,
        [
          line("*.example.com,!bad.example.com", ED25519),
          line("[web?.internal]:2222,db01", RSA),
          line("10.1.*", ECDSA),
          `@revoked ${line("*.example.com", OTHER_ED25519)}`,
          KEYSCAN_OUTPUT,
          KEYGEN_HASHED,
        ].join("\n"),
      );
      const entries = parseKnownHosts(await Deno.readTextFile(path));
      const queries: [string, number][] = [
        ["a.example.com", 22],
        ["bad.example.com", 22],
        ["web1.internal", 2222],
        ["web12.internal", 2222],
        ["db01", 22],
        ["db01", 2222],
        ["10.1.9.9", 22],
        ["127.0.0.1", 40881],
        ["127.0.0.1", 22],
        ["linux01.internal", 22],
        ["db01.internal", 2222],
      ];
      for (const [host, port] of queries) {
        const found = lookupHostKeys(entries, host, port);
        const ours = [
          ...found.allowed.map((k) => `${k.type} ${k.key}`),
          ...found.revoked.map((k) => `@revoked ${k.type} ${k.key}`),
        ].sort();
        assertEquals(
          ours,
          await keygenFind(path, knownHostsName(host, port)),
          `${host}:${port}`,
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("keyscanFix() prints the command, without -p for port 22", () => {
  assertEquals(
    keyscanFix("127.0.0.1", 2222, "/etc/mcp/ssh_known_hosts"),
    "ssh-keyscan -H -p 2222 127.0.0.1 >> /etc/mcp/ssh_known_hosts",
  );
  assertEquals(
    keyscanFix("linux01.internal", 22, "~/.ssh/known_hosts"),
    "ssh-keyscan -H linux01.internal >> ~/.ssh/known_hosts",
  );
  assertEquals(
    keyscanFix("::1", 22, "/srv/known hosts"),
    "ssh-keyscan -H ::1 >> '/srv/known hosts'",
  );
  assertEquals(
    keyscanFix("db01", 22, "~/my hosts/it's"),
    `ssh-keyscan -H db01 >> ~/'my hosts/it'\\''s'`,
  );
});

Deno.test("keyscanFix() quotes or refuses anything a shell would interpret", () => {
  assertEquals(
    keyscanFix("h$(id)", 22, "/k"),
    "ssh-keyscan -H 'h$(id)' >> /k",
  );
  assertEquals(
    keyscanFix("a;b", 22, "/k;rm"),
    "ssh-keyscan -H 'a;b' >> '/k;rm'",
  );
  assertThrows(() => keyscanFix("-oProxyCommand=x", 22, "/k"), TypeError);
  assertThrows(() => keyscanFix("a b", 22, "/k"), TypeError);
  assertThrows(() => keyscanFix("a\nb", 22, "/k"), TypeError);
  assertThrows(() => keyscanFix("", 22, "/k"), TypeError);
  assertThrows(() => keyscanFix("a", 22, "/k\nrm -rf /"), TypeError);
  assertThrows(() => keyscanFix("a", 0, "/k"), RangeError);
  assertThrows(() => keyscanFix("a", 70000, "/k"), RangeError);
});
