import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../../support/assert.ts";
import { audit } from "../../../gateway/audit.ts";
import {
  type ChainCheckpoint,
  type SegmentReport,
  verifiedIntact,
  verifyAuditLog,
  type VerifyResult,
} from "../../../gateway/audit_chain/mod.ts";
import {
  chainedLog,
  KEY,
  logLines,
  OTHER_KEY,
  parsed,
  verify,
} from "./_chained_log.ts";

/** A closed segment of chain `replica`: started, `count` events, closed (count + 2 lines). */
function segment(replica = "gw-1", count = 5): string[] {
  return chainedLog(() => {
    for (let i = 0; i < count; i++) {
      audit("credential_fetched", { safe: "S", object_name: `o${i}` });
    }
  }, { replica });
}

/** The only segment of `result`. */
function only(result: VerifyResult): SegmentReport {
  assertEquals(result.segments.length, 1, JSON.stringify(result));
  return result.segments[0]!;
}

/** Asserts one broken segment, at line `at` of audit.log, with a problem matching `problem`. */
function assertBrokenAt(
  result: VerifyResult,
  at: number,
  problem: RegExp,
): void {
  assertEquals(verifiedIntact(result), false);
  const broken = result.segments.filter((s) => s.broken !== undefined);
  assertEquals(broken.length, 1, JSON.stringify(result.segments));
  assertEquals(broken[0]!.broken!.at, `audit.log:${at}`);
  assertMatch(broken[0]!.broken!.problem, problem);
}

/** The checkpoint value of a written line. */
function checkpointOf(line: string): ChainCheckpoint {
  const r = parsed(line);
  return {
    chain: String(r.chain),
    segment: String(r.segment),
    seq: Number(r.seq),
    mac: String(r.mac),
  };
}

Deno.test("an intact log verifies: every line, closed, its head the last line", () => {
  const lines = segment();
  const result = verify(lines);
  assertEquals(verifiedIntact(result), true);
  const report = only(result);
  assertEquals(report.broken, undefined);
  assertEquals(report.lines, 7);
  assertEquals([report.firstSeq, report.lastSeq], [0, 6]);
  assertEquals(report.closed, true);
  assertEquals(report.keyed, true);
  assertEquals(report.head, checkpointOf(lines.at(-1)!));
  assertEquals(result.macsChecked, true);
  assertEquals(result.auditLines, 7);
});

Deno.test("non-audit and non-JSON lines are ignored", () => {
  const lines = segment();
  const mixed = [
    "Listening on http://127.0.0.1:8443/\n",
    ...lines.slice(0, 3),
    '{"event":"service_started","logger":"gateway","level":"info"}\n',
    "not json {\n",
    "[1,2]\n",
    ...lines.slice(3),
  ];
  const result = verify(mixed);
  assertEquals(verifiedIntact(result), true);
  assertEquals(result.ignoredLines, 4);
  assertEquals(result.auditLines, 7);
});

Deno.test("a deleted line is named: the next line's seq skips it", () => {
  const lines = segment();
  lines.splice(3, 1); // seq 3
  assertBrokenAt(
    verify(lines),
    4,
    /^expected seq 3, found 4: line 3 is missing \(deleted/,
  );
  const more = segment();
  more.splice(2, 3); // seq 2-4
  assertBrokenAt(verify(more), 3, /expected seq 2, found 5: lines 2-4 are/);
});

Deno.test("reordered lines are named, with where the missing one went", () => {
  const lines = segment();
  [lines[2], lines[3]] = [lines[3]!, lines[2]!];
  assertBrokenAt(
    verify(lines),
    3,
    /^expected seq 2, found 3: lines out of order \(seq 2 comes later, at audit\.log:4\)/,
  );
});

Deno.test("a copied line is named as a repeat", () => {
  const lines = segment();
  lines.splice(4, 0, lines[2]!);
  assertBrokenAt(
    verify(lines),
    5,
    /^expected seq 4, found 2: seq 2 appears again \(first at audit\.log:3\)/,
  );
});

Deno.test("an edited field breaks the line's MAC", () => {
  const lines = segment();
  lines[2] = lines[2]!.replace('"object_name":"o1"', '"object_name":"o9"');
  assertBrokenAt(verify(lines), 3, /^mac mismatch: the line was edited/);
  // Whitespace and key order count too: the MAC covers the bytes written.
  const spaced = segment();
  spaced[4] = spaced[4]!.replace('"safe":"S"', '"safe": "S"');
  assertBrokenAt(verify(spaced), 5, /^mac mismatch/);
});

Deno.test("an edited prev or mac is caught", () => {
  const prev = segment();
  const prevMac = String(parsed(prev[1]!).mac);
  prev[2] = prev[2]!.replace(prevMac, "0".repeat(64));
  assertBrokenAt(verify(prev), 3, /^mac mismatch/);

  const mac = segment();
  const own = String(parsed(mac[3]!).mac);
  mac[3] = mac[3]!.replace(`"mac":"${own}"`, `"mac":"${"f".repeat(64)}"`);
  assertBrokenAt(verify(mac), 4, /^mac mismatch/);

  const dropped = segment();
  dropped[3] = dropped[3]!.replace(/,"mac":"[0-9a-f]{64}"/, "");
  assertBrokenAt(
    verify(dropped),
    4,
    /^no well-formed mac as the line's last field/,
  );
});

Deno.test("a genuine line of another segment of the same chain cannot take a line's place", () => {
  // Line 3 of a later segment replaces line 3 of the first: it stays in its
  // own segment (editing its segment field would break its MAC), which then
  // does not start at seq 0, and the first segment misses its line 3.
  const first = segment();
  const second = segment();
  const spliced = [...first.slice(0, 3), second[3]!, ...first.slice(4)];
  const result = verify(spliced);
  assertEquals(verifiedIntact(result), false);
  const [a, b] = result.segments;
  assertMatch(a!.broken!.problem, /expected seq 3, found 4: line 3 is missing/);
  assertMatch(b!.broken!.problem, /^the segment starts at seq 3, not 0/);
  assertStringIncludes(b!.broken!.problem, "--checkpoint gw-1:");
});

Deno.test("a line from another chain spliced in breaks: its own segment does not start at 0, or its edited fields break the MAC", () => {
  const mine = segment("gw-1");
  const theirs = segment("gw-2");
  const spliced = [...mine.slice(0, 4), theirs[4]!, ...mine.slice(4)];
  const result = verify(spliced);
  assertEquals(verifiedIntact(result), false);
  assertEquals(result.segments[0]!.broken, undefined);
  assertEquals(result.segments[1]!.chain, "gw-2");
  assertEquals(result.segments[1]!.broken!.at, "audit.log:5");
  assertMatch(result.segments[1]!.broken!.problem, /starts at seq 4, not 0/);

  const renamed = theirs[4]!.replace('"chain":"gw-2"', '"chain":"gw-1"')
    .replace(
      /"segment":"[0-9a-f]{32}"/,
      `"segment":"${parsed(mine[0]!).segment}"`,
    );
  const forged = [...mine.slice(0, 4), renamed, ...mine.slice(4)];
  assertBrokenAt(verify(forged), 5, /^mac mismatch/);
  const replaced = [...mine.slice(0, 4), renamed, ...mine.slice(5)];
  assertBrokenAt(verify(replaced), 5, /^mac mismatch/);
});

Deno.test("two replicas interleaved verify independently, and a break in one leaves the other intact", () => {
  const a = segment("gw-a", 4);
  const b = segment("gw-b", 6);
  const interleaved: string[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) interleaved.push(a[i]!);
    if (i < b.length) interleaved.push(b[i]!);
  }
  const result = verify(interleaved);
  assertEquals(verifiedIntact(result), true);
  assertEquals(result.segments.map((s) => [s.chain, s.lines, s.closed]), [
    ["gw-a", 6, true],
    ["gw-b", 8, true],
  ]);
  const tampered = interleaved.filter((line) => line !== b[3]);
  const after = verify(tampered);
  assertEquals(after.segments[0]!.broken, undefined);
  assertMatch(after.segments[1]!.broken!.problem, /line 3 is missing/);
});

Deno.test("a restart starts a new segment at seq 0: the concatenated log verifies as two segments of one chain", () => {
  const before = segment("gw-1", 2);
  const after = segment("gw-1", 3);
  const result = verify([...before, ...after]);
  assertEquals(verifiedIntact(result), true);
  assertEquals(
    result.segments.map((s) => [s.chain, s.firstSeq, s.lastSeq]),
    [["gw-1", 0, 3], ["gw-1", 0, 4]],
  );
  assert(result.segments[0]!.segment !== result.segments[1]!.segment);
  assertEquals(parsed(after[0]!).event, "audit_chain_started");
});

Deno.test("a cut tail is caught when a later checkpoint was kept elsewhere", () => {
  const lines = segment();
  const kept = checkpointOf(lines[5]!);
  assertEquals(
    verifiedIntact(verify(lines, { keys: [KEY], checkpoints: [kept] })),
    true,
  );
  const cut = lines.slice(0, 4);
  // Without the checkpoint the cut log verifies, open: nothing tells.
  const unchecked = verify(cut);
  assertEquals(verifiedIntact(unchecked), true);
  assertEquals(only(unchecked).closed, false);
  assertBrokenAt(
    verify(cut, { keys: [KEY], checkpoints: [kept] }),
    4,
    /^the segment ends at seq 3, but checkpoint seq 5 was kept: the lines after this one were cut \(truncated\)/,
  );
});

Deno.test("a checkpoint whose line differs, or whose segment is missing, breaks", () => {
  const lines = segment();
  const kept = { ...checkpointOf(lines[2]!), mac: "a".repeat(64) };
  assertBrokenAt(
    verify(lines, { keys: [KEY], checkpoints: [kept] }),
    3,
    /^the line of checkpoint seq 2 has another mac/,
  );
  const gone = { ...checkpointOf(lines[2]!), segment: "b".repeat(32) };
  const result = verify(lines, { keys: [KEY], checkpoints: [gone] });
  assertEquals(verifiedIntact(result), false);
  assertEquals(result.segments.length, 2);
  assertEquals(result.segments[1]!.broken!.at, undefined);
  assertMatch(
    result.segments[1]!.broken!.problem,
    /no line of this segment is in the input, but checkpoint seq 2 was kept/,
  );
});

Deno.test("a log that starts mid-segment (rotated) verifies from a checkpoint of the line before", () => {
  const lines = segment();
  const rotated = lines.slice(3);
  assertBrokenAt(verify(rotated), 1, /^the segment starts at seq 3, not 0/);
  const anchor = checkpointOf(lines[2]!);
  const result = verify(rotated, { keys: [KEY], checkpoints: [anchor] });
  assertEquals(verifiedIntact(result), true);
  assertEquals([only(result).firstSeq, only(result).lastSeq], [3, 6]);
  const wrong = { ...anchor, mac: "c".repeat(64) };
  assertBrokenAt(
    verify(rotated, { keys: [KEY], checkpoints: [wrong] }),
    1,
    /prev/,
  );
});

Deno.test("the wrong key fails every segment at its first line and says so", () => {
  assertBrokenAt(
    verify(segment(), { keys: [OTHER_KEY] }),
    1,
    /^mac mismatch, and prev is not the value expected here: the key is not the one the gateway used/,
  );
});

Deno.test("with a key, a segment written without one is broken: chain off (no mac)", () => {
  const lines = segment();
  const unkeyed = chainedLog(() => audit("policy_loaded", { rules: 1 }), {
    key: null,
    replica: "gw-2",
  });
  const result = verify([...lines, ...unkeyed]);
  assertEquals(verifiedIntact(result), false);
  assertEquals(result.segments[0]!.broken, undefined);
  assertEquals(result.segments[1]!.broken!.at, "audit.log:8");
  assertMatch(
    result.segments[1]!.broken!.problem,
    /^chain off \(no mac\): this segment was written without AUDIT_CHAIN_KEY/,
  );
});

Deno.test("without a key, sequence numbers and prev links are checked, MACs are not", () => {
  const unkeyed = chainedLog(() => audit("policy_loaded", { rules: 1 }), {
    key: null,
  });
  const keyed = segment("gw-2");
  const noKey = { checkpoints: [] };
  const result = verify([...unkeyed, ...keyed], noKey);
  assertEquals(verifiedIntact(result), true);
  assertEquals(result.macsChecked, false);
  assertEquals(result.segments.map((s) => s.keyed), [false, true]);

  const edited = [...keyed];
  edited[2] = edited[2]!.replace('"object_name":"o1"', '"object_name":"o9"');
  assertEquals(verifiedIntact(verify(edited, noKey)), true); // forgeable
  const relinked = [...keyed];
  relinked[3] = relinked[3]!.replace(
    String(parsed(keyed[2]!).mac),
    "d".repeat(64),
  );
  assertBrokenAt(
    verify(relinked, noKey),
    4,
    /^prev does not match the mac of seq 2/,
  );
  const deleted = unkeyed.filter((_, i) => i !== 1);
  assertBrokenAt(verify(deleted, noKey), 2, /line 1 is missing/);
});

Deno.test("an audit line without chain fields, or with malformed ones, is named", () => {
  const lines = segment();
  const bare = JSON.stringify({
    event: "credential_fetched",
    logger: "audit",
    level: "info",
  });
  const odd = lines[2]!.replace(/"seq":2/, '"seq":"2"');
  const result = verifyAuditLog(
    logLines([...lines.slice(0, 2), `${bare}\n`, odd, ...lines.slice(3)]),
    { keys: [KEY] },
  );
  assertEquals(verifiedIntact(result), false);
  assertEquals(result.stray.map((s) => s.at), ["audit.log:3", "audit.log:4"]);
  assertMatch(result.stray[0]!.problem, /without chain fields/);
  assertMatch(result.stray[1]!.problem, /malformed chain fields/);
  assertMatch(only(result).broken!.problem, /line 2 is missing/);
});

Deno.test("a log without any audit line does not verify", () => {
  const result = verifyAuditLog(
    logLines(['{"event":"service_started","logger":"gateway"}\n']),
    { keys: [KEY] },
  );
  assertEquals(result.auditLines, 0);
  assertEquals(verifiedIntact(result), false);
});

Deno.test("around a key rotation, each segment verifies with the key it was written with", () => {
  const before = segment("gw-1", 2);
  const after = chainedLog(() => audit("policy_loaded", { rules: 1 }), {
    key: OTHER_KEY,
  });
  const both = verify([...before, ...after], { keys: [KEY, OTHER_KEY] });
  assertEquals(verifiedIntact(both), true);
  assertEquals(both.segments.length, 2);
  const oldOnly = verify([...before, ...after], { keys: [KEY] });
  assertEquals(oldOnly.segments[0]!.broken, undefined);
  assertMatch(
    oldOnly.segments[1]!.broken!.problem,
    /the key is not the one the gateway used/,
  );
  // A line of the new segment edited still fails with both keys given.
  const edited = [...before, ...after];
  edited[5] = edited[5]!.replace('"rules":1', '"rules":2');
  assertBrokenAt(
    verify(edited, { keys: [KEY, OTHER_KEY] }),
    6,
    /^mac mismatch: the line was edited/,
  );
});
