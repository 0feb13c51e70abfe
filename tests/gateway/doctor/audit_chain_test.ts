import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import {
  checkAuditChain,
  type CheckResult,
} from "../../../gateway/doctor/mod.ts";
import { config, statusOf, STRONG } from "./_doctor.ts";

const KEY = "c0b4a5e7d1f2938465a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3";

/** checkAuditChain() on a configuration with `env`. */
function auditChainCheck(env: Record<string, string> = {}): CheckResult {
  const loaded = config({ AUDIT_REPLICA: "gw-1", ...env });
  return checkAuditChain(loaded.auditChain, loaded.log);
}

Deno.test("checkAuditChain() warns without AUDIT_CHAIN_KEY and names the chain", () => {
  const result = auditChainCheck();
  assertEquals(statusOf(result), "WARN audit-chain");
  assertMatch(result.detail, /AUDIT_CHAIN_KEY is not set.*chain gw-1/);
  assertMatch(result.fix!, /AUDIT_CHAIN_KEY_FILE.*openssl rand -hex 32/);
});

Deno.test("checkAuditChain() passes with a key, naming the chain and the checkpoint interval, never the key", () => {
  const result = auditChainCheck({ AUDIT_CHAIN_KEY: KEY });
  assertEquals(
    result,
    {
      status: "PASS",
      check: "audit-chain",
      detail:
        "audit lines chained with HMAC-SHA256 as chain gw-1, a checkpoint every 300 s",
    },
  );
  assert(!JSON.stringify(result).includes(KEY));
  assert(!JSON.stringify(result).includes(STRONG));
});

Deno.test("checkAuditChain() warns when a keyed chain cannot be verified or has no checkpoints", () => {
  const keyed = { AUDIT_CHAIN_KEY: KEY };
  assertEquals(
    statusOf(auditChainCheck({ ...keyed, AUDIT_CHECKPOINT_SECONDS: "0" })),
    "WARN audit-chain",
  );
  assertMatch(
    auditChainCheck({ ...keyed, AUDIT_CHECKPOINT_SECONDS: "0" }).detail,
    /AUDIT_CHECKPOINT_SECONDS=0/,
  );
  assertMatch(
    auditChainCheck({ ...keyed, LOG_FORMAT: "console" }).detail,
    /LOG_FORMAT=console: deno task audit-verify reads JSON lines only/,
  );
  assertMatch(
    auditChainCheck({ ...keyed, LOG_LEVEL: "WARNING" }).detail,
    /LOG_LEVEL=WARNING drops the INFO audit lines/,
  );
});
