/**
 * How `deno task audit-verify` prints a {@linkcode VerifyResult}: one line
 * per segment (`OK` with its head as a checkpoint value, or `BROKEN at
 * FILE:LINE` with what is wrong), one per stray audit line, then a summary.
 *
 * @module
 */
import { formatCheckpoint } from "./checkpoint_value.ts";
import {
  type SegmentReport,
  verifiedIntact,
  type VerifyResult,
} from "./verify_chain.ts";

/** The report's lines, summary last. */
export function formatVerifyReport(result: VerifyResult): string[] {
  const out = result.segments.map(segmentLine);
  for (const stray of result.stray) {
    out.push(`BROKEN at ${stray.at ?? "?"}: ${stray.problem}`);
  }
  if (result.segments.some((s) => s.broken === undefined && !s.closed)) {
    out.push(
      "note: an open segment has no audit_chain_closed line: its gateway is still running, was killed, or the segment's tail was cut; a later --checkpoint kept by the SIEM tells which",
    );
  }
  out.push(summaryLine(result));
  return out;
}

function segmentLine(report: SegmentReport): string {
  const name = `chain ${report.chain} segment ${report.segment}`;
  if (report.broken !== undefined) {
    const at = report.broken.at === undefined ? "" : ` at ${report.broken.at}`;
    return `${name}: BROKEN${at}: ${report.broken.problem}`;
  }
  const lines = `${report.lines} line${report.lines === 1 ? "" : "s"}`;
  const range = `seq ${report.firstSeq}-${report.lastSeq}`;
  const state = report.closed ? "closed" : "open";
  const checked = report.keyed ? "" : " (chain off: no mac, sequence only)";
  const head = report.head === undefined
    ? ""
    : `; head ${formatCheckpoint(report.head)}`;
  return `${name}: OK ${lines} (${range}), ${state}${checked}${head}`;
}

function summaryLine(result: VerifyResult): string {
  if (result.auditLines === 0) {
    return `audit-verify: FAILED: no audit line found (${result.ignoredLines} other lines ignored); give the gateway's stdout as it wrote it with LOG_FORMAT=json`;
  }
  const chains = new Set(result.segments.map((s) => s.chain)).size;
  const broken = result.segments.filter((s) => s.broken !== undefined).length +
    result.stray.length;
  const verdict = verifiedIntact(result) ? "OK" : "FAILED";
  return `audit-verify: ${verdict}: ${result.segments.length} segment(s) of ${chains} chain(s), ${broken} broken; ${result.auditLines} audit lines, ${result.ignoredLines} other lines ignored${
    result.macsChecked
      ? ""
      : "; MACs NOT checked (--no-key): anyone could have forged these lines"
  }`;
}
