/**
 * The chain's MAC: HMAC-SHA256 with `AUDIT_CHAIN_KEY`, as 64 hex digits.
 * A line's MAC covers its bytes up to its `mac` field (which include `prev`,
 * the MAC of the line before); the first line of a segment links to a start
 * value derived from the chain's name and the segment id.
 *
 * @module
 */
import { createHmac } from "node:crypto";
import type { Secret } from "../../vault/secret.ts";

/** Hex digits of a MAC. */
export const MAC_HEX_LENGTH = 64;

/** HMAC-SHA256 of `text` (UTF-8) under `key`, in lowercase hex. */
export function chainMac(key: Secret, text: string): string {
  return createHmac("sha256", key.reveal()).update(text, "utf8").digest("hex");
}

/**
 * The `prev` of a segment's first line (seq 0): a MAC over the chain's name
 * and the segment id, so that line is bound to its segment too. The text
 * starts with `start:`, never with `{` as a line does, so it cannot collide
 * with a line's MAC.
 */
export function startLink(
  key: Secret,
  chain: string,
  segment: string,
): string {
  return chainMac(key, `start:${chain}:${segment}`);
}
