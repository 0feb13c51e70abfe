/**
 * The tamper-evident audit log: every audit line carries its place in this
 * replica's chain (`seq`, `chain`, `segment`) and, with `AUDIT_CHAIN_KEY`,
 * an HMAC chained over the line before (`prev`, `mac`). `logging.ts` seals
 * the lines, `lifecycle.ts` writes the chain's own events, and the verifier
 * behind `deno task audit-verify` checks a log. What the chain proves and
 * what it does not: docs/audit-chain.md.
 *
 * One concern per file: `chain_mac.ts` (the HMAC), `line_layout.ts` (the
 * bytes a MAC covers), `audit_chain.ts` (a segment's state),
 * `lifecycle.ts` (start, checkpoints, close), `checkpoint_value.ts`,
 * `verify_chain.ts` and `verify_report.ts` (the verifier).
 *
 * @module
 */
export {
  AuditChain,
  type AuditChainOptions,
  type ChainLineFormat,
  newSegmentId,
  SEGMENT_HEX_LENGTH,
} from "./audit_chain.ts";
export { chainMac, MAC_HEX_LENGTH, startLink } from "./chain_mac.ts";
export {
  type ChainCheckpoint,
  formatCheckpoint,
  parseCheckpoint,
} from "./checkpoint_value.ts";
export {
  closeAuditChain,
  startAuditChain,
  stopAuditChain,
  writeAuditCheckpoint,
} from "./lifecycle.ts";
export {
  AUDIT_CHAIN_FIELDS,
  CHAIN_NAME_PATTERN,
  type ChainPosition,
  MAC_PATTERN,
  SEGMENT_ID_PATTERN,
  splitJsonMac,
  UNKEYED_CHAIN_FIELDS,
} from "./line_layout.ts";
export {
  type ChainBreak,
  type LogLine,
  type SegmentReport,
  verifiedIntact,
  verifyAuditLog,
  type VerifyOptions,
  type VerifyResult,
} from "./verify_chain.ts";
export { formatVerifyReport } from "./verify_report.ts";
