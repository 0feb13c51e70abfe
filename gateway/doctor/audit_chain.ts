/**
 * The audit chain check: with `AUDIT_CHAIN_KEY` every audit line is chained
 * by an HMAC, so `deno task audit-verify` catches an edited, deleted or
 * reordered line; without it lines carry sequence numbers only. Names the
 * chain (`AUDIT_REPLICA`) and the checkpoint interval; the key is never
 * shown.
 *
 * @module
 */
import type { AuditChainConfig, Config } from "../config/mod.ts";
import type { CheckResult } from "./check_result.ts";
import { pass, warn } from "./_verdicts.ts";

const DOCS = "see docs/audit-chain.md";

/**
 * WARN without a key, without checkpoints, or when the log would not be
 * verifiable (console format, INFO lines not written); PASS names the chain
 * and the checkpoint interval.
 */
export function checkAuditChain(
  chain: AuditChainConfig,
  log: Config["log"],
): CheckResult {
  const name = "audit-chain";
  const chainName = `chain ${chain.replica}`;
  if (chain.key === undefined) {
    return warn(
      name,
      `AUDIT_CHAIN_KEY is not set: the audit lines of ${chainName} carry sequence numbers but no HMAC chain, so an edited or deleted line goes unnoticed`,
      `set AUDIT_CHAIN_KEY_FILE to a file holding a random key (openssl rand -hex 32) that the log's readers cannot read, ${DOCS}`,
    );
  }
  if (log.level === "warning" || log.level === "error") {
    return warn(
      name,
      `${chainName} is keyed, but LOG_LEVEL=${log.level.toUpperCase()} drops the INFO audit lines (most events, and the chain's start and checkpoints)`,
      "set LOG_LEVEL=INFO",
    );
  }
  if (log.format !== "json") {
    return warn(
      name,
      `${chainName} is keyed, but LOG_FORMAT=${log.format}: deno task audit-verify reads JSON lines only`,
      "set LOG_FORMAT=json",
    );
  }
  if (chain.checkpointSeconds === 0) {
    return warn(
      name,
      `${chainName} is keyed, but AUDIT_CHECKPOINT_SECONDS=0: without checkpoints kept elsewhere, a cut tail of the log looks like a quiet gateway`,
      `set AUDIT_CHECKPOINT_SECONDS=300 and keep the audit_checkpoint lines in the SIEM, ${DOCS}`,
    );
  }
  return pass(
    name,
    `audit lines chained with HMAC-SHA256 as ${chainName}, a checkpoint every ${chain.checkpointSeconds} s`,
  );
}
