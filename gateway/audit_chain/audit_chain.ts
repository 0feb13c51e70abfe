/**
 * One replica's audit chain for the life of one process (a segment): the
 * chain's name, a random segment id, the next sequence number and the MAC
 * of the last line. {@linkcode AuditChain.seal} adds the chain fields to a
 * rendered audit line and advances the chain; it is synchronous, so lines
 * are numbered in the order they are written.
 *
 * @module
 */
import type { Secret } from "../../vault/secret.ts";
import { chainMac, startLink } from "./chain_mac.ts";
import {
  type ChainPosition,
  consoleBody,
  consoleLine,
  jsonBody,
  jsonLine,
} from "./line_layout.ts";

/** Hex digits of a segment id (128 random bits). */
export const SEGMENT_HEX_LENGTH = 32;

/** How an {@linkcode AuditChain} is made. */
export interface AuditChainOptions {
  /** The chain's name in every line (`AUDIT_REPLICA`). */
  readonly replica: string;
  /** The HMAC key; without it lines carry `seq`, `chain` and `segment` only. */
  readonly key?: Secret;
  /** The segment id; default 128 random bits in hex (tests fix it). */
  readonly segment?: string;
}

/** The format of the lines a chain seals. */
export type ChainLineFormat = "json" | "console";

/** The state of one segment of one replica's chain. */
export class AuditChain {
  /** The chain's name. */
  readonly replica: string;
  /** This segment's id. */
  readonly segment: string;
  readonly #key: Secret | undefined;
  #seq = 0;
  #prev: string | undefined;

  /** Starts a new segment at seq 0. */
  constructor(options: AuditChainOptions) {
    this.replica = options.replica;
    this.segment = options.segment ?? newSegmentId();
    this.#key = options.key;
    this.#prev = options.key === undefined
      ? undefined
      : startLink(options.key, this.replica, this.segment);
  }

  /** Whether lines carry a MAC (a key is set). */
  get keyed(): boolean {
    return this.#key !== undefined;
  }

  /** The sequence number the next line gets (the number of lines so far). */
  get nextSeq(): number {
    return this.#seq;
  }

  /**
   * Adds the chain fields (and the MAC over the line as it will be written)
   * to `rendered`, one line of `format` ending with a newline, and advances
   * the chain. Whatever the line holds must already be in its final form
   * (handles redacted): the MAC covers these exact bytes.
   */
  seal(rendered: string, format: ChainLineFormat): string {
    const position: ChainPosition = {
      seq: this.#seq,
      chain: this.replica,
      segment: this.segment,
      ...(this.#prev === undefined ? {} : { prev: this.#prev }),
    };
    const body = format === "json"
      ? jsonBody(rendered, position)
      : consoleBody(rendered, position);
    const mac = this.#key === undefined ? undefined : chainMac(this.#key, body);
    this.#seq += 1;
    if (mac !== undefined) this.#prev = mac;
    return format === "json" ? jsonLine(body, mac) : consoleLine(body, mac);
  }
}

/** A fresh segment id: 128 random bits in hex. */
export function newSegmentId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(SEGMENT_HEX_LENGTH / 2));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
