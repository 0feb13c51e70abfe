import { createHmac } from "node:crypto";
import { getLogger } from "@logtape/logtape";
import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
} from "../../support/assert.ts";
import { assertAuditLine, assertNoLeak } from "../../support/log_lines.ts";
import { audit, type AuditEvent, onAudit } from "../../../gateway/audit.ts";
import {
  AUDIT_CHAIN_FIELDS,
  AuditChain,
  startLink,
  UNKEYED_CHAIN_FIELDS,
} from "../../../gateway/audit_chain/mod.ts";
import { handleIdOf } from "../../../vault/handle_vault.ts";
import { Secret } from "../../../vault/secret.ts";
import { chainedLog, KEY, KEY_TEXT, parsed } from "./_chained_log.ts";

/** HMAC-SHA256 of `text` with the tests' key, computed here, not by the chain's code. */
function hmac(text: string): string {
  return createHmac("sha256", KEY_TEXT).update(text, "utf8").digest("hex");
}

/** The bytes a JSON line's MAC covers: the line as written without `,"mac":"..."` and the newline. */
function macedBytes(line: string): string {
  const match = /,"mac":"[0-9a-f]{64}"\}\n$/.exec(line);
  assert(match !== null, `line does not end with its mac: ${line}`);
  return `${line.slice(0, match.index)}}`;
}

Deno.test("every audit line ends with seq, chain, segment, prev and an HMAC over the line as written, chained to the line before", () => {
  const lines = chainedLog(() => {
    audit("credential_fetched", {
      safe: "S",
      object_name: "o",
      ttl_seconds: 5,
    });
    audit("policy_denied", { tool: "ssh_execute" }, "warning");
  });
  assertEquals(lines.length, 4);
  const records = lines.map(parsed);
  assertEquals(records.map((r) => r.event), [
    "audit_chain_started",
    "credential_fetched",
    "policy_denied",
    "audit_chain_closed",
  ]);
  assertAuditLine(records[1]!, "credential_fetched", {
    level: "info",
    fields: ["safe", "object_name", "ttl_seconds"],
  });
  const segment = String(records[0]!.segment);
  assertMatch(segment, /^[0-9a-f]{32}$/);
  let prev = startLink(KEY, "gw-1", segment);
  assertEquals(prev, hmac(`start:gw-1:${segment}`));
  for (const [seq, line] of lines.entries()) {
    const record = records[seq]!;
    assertEquals(Object.keys(record).slice(-5), [...AUDIT_CHAIN_FIELDS]);
    assertEquals(record.seq, seq);
    assertEquals(record.chain, "gw-1");
    assertEquals(record.segment, segment);
    assertEquals(record.prev, prev);
    assertEquals(record.mac, hmac(macedBytes(line)));
    prev = String(record.mac);
  }
});

Deno.test("a handle is redacted before the MAC: the line verifies as written and holds only the handle's id", () => {
  const handle = "secret://ONj9PWU9ZrcrUpatoZ235f5GVjoScmZ16M9C5CbunME";
  const lines = chainedLog(() => {
    audit("ssh_executed", { command: `cat ${handle}`, exit_code: 0 });
  });
  assertNoLeak(lines, [handle, "ONj9PWU9ZrcrUpatoZ235f5GVjoScmZ16M9C5CbunME"]);
  const line = lines[1]!;
  assertEquals(
    parsed(line).command,
    `cat secret-id:${handleIdOf(handle)}`,
  );
  assertEquals(parsed(line).mac, hmac(macedBytes(line)));
});

Deno.test("no line holds the chain key, and a Secret in an audit field stays redacted", () => {
  const lines = chainedLog(() => {
    getLogger(["audit"]).info("credential_fetched", {
      password: new Secret("hunter2-password"),
    });
  });
  assertNoLeak(lines, [KEY_TEXT, "hunter2-password"]);
  assertEquals(parsed(lines[1]!).password, "[redacted]");
});

Deno.test("fields named like the chain's cannot replace them", () => {
  const lines = chainedLog(() => {
    audit("policy_denied", {
      seq: 99,
      chain: "forged",
      segment: "0".repeat(32),
      prev: "p",
      mac: "m",
      tool: "db_query",
    });
  });
  const line = lines[1]!;
  assertEquals(line.match(/"seq":/g)?.length, 1);
  assertEquals(line.match(/"mac":/g)?.length, 1);
  const record = parsed(line);
  assertEquals(record.seq, 1);
  assertEquals(record.chain, "gw-1");
  assertEquals(record.tool, "db_query");
  assertEquals(record.mac, hmac(macedBytes(line)));
});

Deno.test("without a key, audit lines carry seq, chain and segment only", () => {
  const lines = chainedLog(() => {
    audit("policy_loaded", { rules: 3 });
  }, { key: null, replica: "gw-2" });
  const records = lines.map(parsed);
  assertEquals(records[0]!.event, "audit_chain_started");
  assertEquals(records[0]!.audit_chain, "off");
  for (const [seq, record] of records.entries()) {
    assertEquals(Object.keys(record).slice(-3), [...UNKEYED_CHAIN_FIELDS]);
    assertEquals(record.seq, seq);
    assertEquals(record.chain, "gw-2");
    assert(!("prev" in record) && !("mac" in record));
  }
});

Deno.test("lines of other loggers are not chained and take no sequence number", () => {
  const lines = chainedLog(() => {
    getLogger(["gateway"]).info("service_started", { seq: 7 });
    getLogger(["audit", "sub"]).info("not_an_audit_event");
    audit("policy_loaded", { rules: 1 });
  });
  const records = lines.map(parsed);
  assertEquals(records[1]!.event, "service_started");
  assertEquals(records[1]!.seq, 7);
  assert(!("mac" in records[1]!) && !("chain" in records[1]!));
  assert(!("mac" in records[2]!));
  assertEquals(records[3]!.event, "policy_loaded");
  assertEquals(records[3]!.seq, 1);
});

Deno.test("console lines end with the same chain fields, the MAC over the line without it", () => {
  const lines = chainedLog(() => {
    audit("auth_failure", { reason: "invalid_or_missing_api_key" }, "warning");
  }, { format: "console" });
  const line = lines[1]!;
  const match =
    /^(\S+Z WARNING audit auth_failure reason=invalid_or_missing_api_key seq=1 chain=gw-1 segment=[0-9a-f]{32} prev=([0-9a-f]{64})) mac=([0-9a-f]{64})\n$/
      .exec(line);
  assert(match !== null, line);
  assertEquals(match[3], hmac(match[1]!));
  assertEquals(match[2], /mac=([0-9a-f]{64})\n$/.exec(lines[0]!)![1]);
});

Deno.test("each process start is a new segment: a fresh random id, seq from 0", () => {
  const first = chainedLog(() => audit("policy_loaded", { rules: 1 }));
  const second = chainedLog(() => audit("policy_loaded", { rules: 1 }));
  assertNotEquals(parsed(first[0]!).segment, parsed(second[0]!).segment);
  assertEquals(parsed(second[0]!).seq, 0);
  assertEquals(parsed(second[0]!).event, "audit_chain_started");
  assertNotEquals(parsed(first[0]!).prev, parsed(second[0]!).prev);
});

Deno.test("the audit listeners see the chain's own events", () => {
  const seen: AuditEvent[] = [];
  const stop = onAudit((event) => seen.push(event));
  try {
    chainedLog(() => audit("policy_loaded", { rules: 1 }));
  } finally {
    stop();
  }
  assertEquals(seen, [
    "audit_chain_started",
    "policy_loaded",
    "audit_chain_closed",
  ]);
});

Deno.test("AuditChain.seal() numbers lines in the order they are sealed", () => {
  const chain = new AuditChain({
    replica: "r",
    key: KEY,
    segment: "ab".repeat(16),
  });
  assertEquals(chain.keyed, true);
  const a = chain.seal('{"event":"a","logger":"audit"}\n', "json");
  const b = chain.seal('{"event":"b","logger":"audit"}\n', "json");
  assertEquals(chain.nextSeq, 2);
  assertEquals(
    a,
    `{"event":"a","logger":"audit","seq":0,"chain":"r","segment":"${
      "ab".repeat(16)
    }","prev":"${startLink(KEY, "r", "ab".repeat(16))}","mac":"${
      hmac(macedBytes(a))
    }"}\n`,
  );
  assertEquals(parsed(b).prev, parsed(a).mac);
});
