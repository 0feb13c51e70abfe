/**
 * The chain's own audit lines: `audit_chain_started` first (seq 0 of a new
 * segment), `audit_checkpoint` every `AUDIT_CHECKPOINT_SECONDS`, and
 * `audit_chain_closed` at a clean shutdown ({@linkcode closeAuditChain}).
 * They go through `audit()` like any event, so they are chained (and seen by
 * the audit listeners) like any line.
 *
 * @module
 */
import { audit } from "../audit.ts";
import type { AuditChain } from "./audit_chain.ts";

interface ActiveChain {
  readonly chain: AuditChain;
  readonly checkpointSeconds: number;
  timer: ReturnType<typeof setInterval> | undefined;
  closed: boolean;
}

let active: ActiveChain | undefined;

/**
 * Writes `audit_chain_started` and starts the checkpoint timer (which never
 * keeps the process alive). Call it once logging sends audit lines through
 * `chain`; a chain started before is stopped without a line.
 */
export function startAuditChain(
  chain: AuditChain,
  checkpointSeconds: number,
): void {
  stopAuditChain();
  const started: ActiveChain = {
    chain,
    checkpointSeconds,
    timer: undefined,
    closed: false,
  };
  active = started;
  audit("audit_chain_started", {
    audit_chain: chain.keyed ? "hmac" : "off",
    checkpoint_seconds: checkpointSeconds,
    pid: Deno.pid,
  });
  if (checkpointSeconds > 0) {
    const timer = setInterval(writeAuditCheckpoint, checkpointSeconds * 1000);
    Deno.unrefTimer(timer);
    started.timer = timer;
  }
}

/** Writes one `audit_checkpoint` line now (the timer calls this). */
export function writeAuditCheckpoint(): void {
  if (active === undefined || active.closed) return;
  audit("audit_checkpoint", { checkpoint_seconds: active.checkpointSeconds });
}

/**
 * Ends the segment cleanly: stops the checkpoint timer and writes
 * `audit_chain_closed`, so the verifier can tell a clean stop from a cut
 * tail. Call it last in the shutdown, after the final audit lines; calling
 * it again does nothing.
 */
export function closeAuditChain(reason = "shutdown"): void {
  if (active === undefined || active.closed) return;
  clearTimer(active);
  active.closed = true;
  audit("audit_chain_closed", { reason });
}

/** Forgets the running chain and stops its timer, without a line (logging reconfigured, tests). */
export function stopAuditChain(): void {
  if (active !== undefined) clearTimer(active);
  active = undefined;
}

function clearTimer(chain: ActiveChain): void {
  if (chain.timer !== undefined) clearInterval(chain.timer);
  chain.timer = undefined;
}
