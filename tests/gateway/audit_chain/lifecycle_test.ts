import { resetSync } from "@logtape/logtape";
import { assert, assertEquals } from "../../support/assert.ts";
import { eventually } from "../../support/eventually.ts";
import { PROJECT_ROOT } from "../../support/paths.ts";
import { audit } from "../../../gateway/audit.ts";
import {
  closeAuditChain,
  stopAuditChain,
  verifiedIntact,
  writeAuditCheckpoint,
} from "../../../gateway/audit_chain/mod.ts";
import { setupLogging } from "../../../gateway/logging.ts";
import { chainedLog, KEY, parsed, verify } from "./_chained_log.ts";

Deno.test("a segment starts with audit_chain_started (seq 0), takes checkpoints, and closes once with audit_chain_closed", () => {
  const lines = chainedLog(() => {
    audit("policy_loaded", { rules: 1 });
    writeAuditCheckpoint();
    closeAuditChain();
    closeAuditChain();
    writeAuditCheckpoint(); // after the close: nothing
  }, { checkpointSeconds: 300, close: false });
  const records = lines.map(parsed);
  assertEquals(
    records.map((r) => [r.event, r.seq]),
    [
      ["audit_chain_started", 0],
      ["policy_loaded", 1],
      ["audit_checkpoint", 2],
      ["audit_chain_closed", 3],
    ],
  );
  assertEquals(records[0]!.audit_chain, "hmac");
  assertEquals(records[0]!.checkpoint_seconds, 300);
  assertEquals(records[0]!.pid, Deno.pid);
  assertEquals(records[2]!.checkpoint_seconds, 300);
  assertEquals(records[3]!.reason, "shutdown");
  const result = verify(lines);
  assertEquals(verifiedIntact(result), true);
  assertEquals(result.segments[0]!.closed, true);
});

Deno.test("the timer writes audit_checkpoint every AUDIT_CHECKPOINT_SECONDS", async () => {
  const lines: string[] = [];
  setupLogging({
    format: "json",
    level: "info",
    write: (line) => lines.push(line),
    auditChain: { replica: "gw-1", key: KEY, checkpointSeconds: 1 },
  });
  try {
    await eventually(() =>
      assert(
        lines.some((l) => parsed(l).event === "audit_checkpoint"),
        "no audit_checkpoint line yet",
      ), { timeoutMs: 30_000, intervalMs: 100 });
    closeAuditChain();
  } finally {
    stopAuditChain();
    resetSync();
  }
  assertEquals(parsed(lines.at(-1)!).event, "audit_chain_closed");
  assertEquals(verifiedIntact(verify(lines)), true);
});

Deno.test("the checkpoint timer never keeps the process alive", async () => {
  const logging = new URL("../../../gateway/logging.ts", import.meta.url).href;
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--quiet",
      `import { setupLogging } from "${logging}";
      setupLogging({ format: "json", level: "info", write: () => {},
        auditChain: { replica: "r", checkpointSeconds: 3600 } });`,
    ],
    cwd: PROJECT_ROOT,
    stdin: "null",
    // A process kept alive by the timer would run for an hour.
    signal: AbortSignal.timeout(120_000),
  }).output();
  assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
});

Deno.test("a segment without audit_chain_closed verifies but is reported open", () => {
  const lines = chainedLog(() => audit("policy_loaded", { rules: 1 }), {
    close: false,
  });
  const result = verify(lines);
  assertEquals(verifiedIntact(result), true);
  assertEquals(result.segments[0]!.closed, false);
});
