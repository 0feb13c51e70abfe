import { assertEquals, assertMatch } from "../../support/assert.ts";
import { audit } from "../../../gateway/audit.ts";
import { formatVerifyReport } from "../../../gateway/audit_chain/mod.ts";
import { chainedLog, KEY, parsed, verify } from "./_chained_log.ts";

Deno.test("the report prints one line per segment, OK with its head or BROKEN at FILE:LINE, then the summary", () => {
  const closed = chainedLog(() => audit("policy_loaded", { rules: 1 }));
  const open = chainedLog(() => audit("policy_loaded", { rules: 1 }), {
    replica: "gw-2",
    close: false,
  });
  const broken = chainedLog(() => {
    audit("policy_loaded", { rules: 1 });
    audit("policy_loaded", { rules: 2 });
  }, { replica: "gw-3" });
  broken.splice(1, 1);
  const last = parsed(closed.at(-1)!);
  const report = formatVerifyReport(verify([...closed, ...open, ...broken]));
  assertEquals(report.length, 5);
  assertEquals(
    report[0],
    `chain gw-1 segment ${last.segment}: OK 3 lines (seq 0-2), closed; head gw-1:${last.segment}:2:${last.mac}`,
  );
  assertMatch(
    report[1]!,
    /^chain gw-2 segment [0-9a-f]{32}: OK 2 lines \(seq 0-1\), open; head /,
  );
  assertMatch(
    report[2]!,
    /^chain gw-3 segment [0-9a-f]{32}: BROKEN at audit\.log:7: expected seq 1, found 2: line 1 is missing/,
  );
  assertMatch(
    report[3]!,
    /^note: an open segment has no audit_chain_closed line/,
  );
  assertEquals(
    report[4],
    "audit-verify: FAILED: 3 segment(s) of 3 chain(s), 1 broken; 8 audit lines, 0 other lines ignored",
  );
});

Deno.test("the summary says OK, and says when MACs were not checked", () => {
  const lines = chainedLog(() => audit("policy_loaded", { rules: 1 }));
  assertEquals(
    formatVerifyReport(verify(lines, { keys: [KEY] })).at(-1),
    "audit-verify: OK: 1 segment(s) of 1 chain(s), 0 broken; 3 audit lines, 0 other lines ignored",
  );
  assertMatch(
    formatVerifyReport(verify(lines, {})).at(-1)!,
    /^audit-verify: OK: .*; MACs NOT checked \(--no-key\): anyone could have forged these lines$/,
  );
  const unkeyed = chainedLog(() => audit("policy_loaded", { rules: 1 }), {
    key: null,
  });
  assertMatch(
    formatVerifyReport(verify(unkeyed, {}))[0]!,
    /: OK 3 lines \(seq 0-2\), closed \(chain off: no mac, sequence only\)$/,
  );
  assertMatch(
    formatVerifyReport(verify([], { keys: [KEY] })).at(-1)!,
    /^audit-verify: FAILED: no audit line found/,
  );
});
