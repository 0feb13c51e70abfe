/**
 * A checkpoint value, `CHAIN:SEGMENT:SEQ:MAC`: the position and MAC of one
 * line that a SIEM (or anyone outside the host) kept. `deno task
 * audit-verify --checkpoint` requires the log to reach that line with that
 * MAC, which a cut tail cannot; the verifier prints the head of every
 * intact segment in this form.
 *
 * @module
 */
import {
  CHAIN_NAME_PATTERN,
  MAC_PATTERN,
  SEGMENT_ID_PATTERN,
} from "./line_layout.ts";

/** One line's place in its chain and its MAC. */
export interface ChainCheckpoint {
  readonly chain: string;
  readonly segment: string;
  readonly seq: number;
  readonly mac: string;
}

/** `CHAIN:SEGMENT:SEQ:MAC`. */
export function formatCheckpoint(checkpoint: ChainCheckpoint): string {
  return `${checkpoint.chain}:${checkpoint.segment}:${checkpoint.seq}:${checkpoint.mac}`;
}

/**
 * Reads `CHAIN:SEGMENT:SEQ:MAC`, as the `chain`, `segment`, `seq` and `mac`
 * fields of an audit line give them.
 *
 * @throws {TypeError} naming the part that is not well-formed
 */
export function parseCheckpoint(text: string): ChainCheckpoint {
  const parts = text.trim().split(":");
  if (parts.length !== 4) {
    throw new TypeError(
      `checkpoint "${
        text.slice(0, 200)
      }" is not CHAIN:SEGMENT:SEQ:MAC; take the four from the chain, segment, seq and mac fields of one audit line`,
    );
  }
  const [chain, segment, seq, mac] = parts as [string, string, string, string];
  if (!CHAIN_NAME_PATTERN.test(chain)) {
    throw new TypeError(
      `checkpoint chain "${
        chain.slice(0, 64)
      }" is not a chain name (the line's chain field)`,
    );
  }
  if (!SEGMENT_ID_PATTERN.test(segment)) {
    throw new TypeError(
      `checkpoint segment "${
        segment.slice(0, 64)
      }" is not a segment id (32 hex digits, the line's segment field)`,
    );
  }
  if (!/^\d{1,15}$/.test(seq)) {
    throw new TypeError(
      `checkpoint seq "${
        seq.slice(0, 20)
      }" is not a sequence number (the line's seq field)`,
    );
  }
  if (!MAC_PATTERN.test(mac)) {
    throw new TypeError(
      `checkpoint mac "${
        mac.slice(0, 80)
      }" is not a MAC (64 hex digits, the line's mac field)`,
    );
  }
  return { chain, segment, seq: Number(seq), mac };
}
