/**
 * What the audit chain tests share: keys, a log written through the real
 * logging setup with a chain, and its lines as the verifier reads them.
 */
import { resetSync } from "@logtape/logtape";
import {
  closeAuditChain,
  type LogLine,
  stopAuditChain,
  verifyAuditLog,
  type VerifyOptions,
  type VerifyResult,
} from "../../../gateway/audit_chain/mod.ts";
import { setupLogging } from "../../../gateway/logging.ts";
import { Secret } from "../../../vault/secret.ts";

/** The key the tests' gateways chain with. */
export const KEY_TEXT =
  "5f0c3a9e71b24d8a96e1c07f4b3d2a1908e7f6d5c4b3a29180f7e6d5c4b3a291";
export const KEY = new Secret(KEY_TEXT);
/** Another key (a verifier given the wrong one). */
export const OTHER_KEY = new Secret(
  "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f91",
);

/** How {@linkcode chainedLog} sets up logging. */
export interface ChainedLogOptions {
  replica?: string;
  /** `null`: no key (chain off). */
  key?: Secret | null;
  format?: "json" | "console";
  /** Write `audit_chain_closed` at the end (default true). */
  close?: boolean;
  checkpointSeconds?: number;
}

/**
 * The lines (each with its newline) that logging with an audit chain writes
 * while `fn` runs: `audit_chain_started` first, `audit_chain_closed` last.
 */
export function chainedLog(
  fn: () => void,
  options: ChainedLogOptions = {},
): string[] {
  const lines: string[] = [];
  const key = options.key === undefined ? KEY : options.key;
  setupLogging({
    format: options.format ?? "json",
    level: "info",
    write: (line) => lines.push(line),
    auditChain: {
      replica: options.replica ?? "gw-1",
      ...(key === null ? {} : { key }),
      checkpointSeconds: options.checkpointSeconds ?? 0,
    },
  });
  try {
    fn();
    if (options.close ?? true) closeAuditChain();
  } finally {
    stopAuditChain();
    resetSync();
  }
  return lines;
}

/** `lines` (as written, newline-terminated) as the verifier reads them from `source`. */
export function logLines(
  lines: readonly string[],
  source = "audit.log",
): LogLine[] {
  return lines.join("").split("\n").filter((_, i, all) =>
    i < all.length - 1 || all[i] !== ""
  ).map((text, index) => ({ source, line: index + 1, text }));
}

/** Verifies `lines` with {@linkcode KEY} unless `options` say otherwise. */
export function verify(
  lines: readonly string[],
  options: VerifyOptions = { keys: [KEY] },
): VerifyResult {
  return verifyAuditLog(logLines(lines), options);
}

/** The parsed JSON of a written line. */
export function parsed(line: string): Record<string, unknown> {
  return JSON.parse(line);
}
