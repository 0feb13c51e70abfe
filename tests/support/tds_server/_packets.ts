/**
 * Packet framing (MS-TDS 2.2.3): messages cut into packets of the negotiated
 * size, each with an 8-byte header, and reassembled on the way in.
 *
 * @module
 */

import { type ByteReader, concat, readU16be } from "./_bytes.ts";
import {
  HEADER_TRANSACTION_DESCRIPTOR,
  PACKET_ATTENTION,
} from "./_constants.ts";
import { BufferedSource, type Transport } from "./_io.ts";

const HEADER_LENGTH = 8;
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const STATUS_EOM = 0x01;
const STATUS_IGNORE = 0x02;
const STATUS_RESET_CONNECTION = 0x08;
const STATUS_RESET_CONNECTION_SKIP_TRAN = 0x10;

/** One whole client message, reassembled from its packets. */
export interface TdsMessage {
  type: number;
  payload: Uint8Array;
  ignored: boolean;
  resetConnection: boolean;
}

/** Reads TDS packets and reassembles messages split across them. */
export class PacketReader {
  readonly #input: BufferedSource;

  constructor(source: Transport) {
    this.#input = new BufferedSource(source);
  }

  /** Bytes read past the last packet, for a relay that takes over. */
  takeBuffered(): Uint8Array {
    return this.#input.takeBuffered();
  }

  /**
   * Returns the next whole message, or null at end of stream.
   *
   * @throws {Deno.errors.UnexpectedEof} when the stream ends inside a packet
   * @throws {RangeError} for a malformed packet or a message over 64 MiB
   */
  async readMessage(): Promise<TdsMessage | null> {
    const parts: Uint8Array[] = [];
    let size = 0;
    let type = -1;
    let resetConnection = false;
    for (;;) {
      if (!(await this.#input.fill(HEADER_LENGTH))) {
        if (type === -1 && this.#input.buffered.length === 0) return null;
        throw new Deno.errors.UnexpectedEof(
          "The client closed the connection in the middle of a TDS packet",
        );
      }
      const header = this.#input.buffered;
      const packetType = header[0] as number;
      const status = header[1] as number;
      const length = readU16be(header, 2);
      if (length < HEADER_LENGTH) {
        throw new RangeError(`A TDS packet declares length ${length}`);
      }
      if (!(await this.#input.fill(length))) {
        throw new Deno.errors.UnexpectedEof(
          "The client closed the connection in the middle of a TDS packet",
        );
      }
      const packet = this.#input.take(length).subarray(HEADER_LENGTH);
      if (type === -1) {
        type = packetType;
        resetConnection = (status &
          (STATUS_RESET_CONNECTION | STATUS_RESET_CONNECTION_SKIP_TRAN)) !== 0;
      } else if (packetType !== type && packetType === PACKET_ATTENTION) {
        // Unreachable for conforming clients: ATTENTION follows a whole message.
        throw new TypeError("ATTENTION arrived in the middle of a message");
      }
      size += packet.length;
      if (size > MAX_MESSAGE_BYTES) {
        throw new RangeError(
          "A TDS message exceeds the test server's 64 MiB cap",
        );
      }
      parts.push(packet);
      if ((status & STATUS_EOM) !== 0) {
        return {
          type,
          payload: concat(...parts),
          ignored: (status & STATUS_IGNORE) !== 0,
          resetConnection,
        };
      }
    }
  }
}

/**
 * Splits a message into packets of `packetSize` bytes (header included),
 * the last one marked end-of-message.
 */
export function framePackets(
  type: number,
  payload: Uint8Array,
  packetSize: number,
  spid: number,
): Uint8Array {
  const chunk = packetSize - HEADER_LENGTH;
  const count = Math.max(1, Math.ceil(payload.length / chunk));
  const out = new Uint8Array(payload.length + count * HEADER_LENGTH);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const part = payload.subarray(i * chunk, (i + 1) * chunk);
    const length = part.length + HEADER_LENGTH;
    out[offset] = type;
    out[offset + 1] = i === count - 1 ? STATUS_EOM : 0;
    out[offset + 2] = length >> 8;
    out[offset + 3] = length & 0xff;
    out[offset + 4] = spid >> 8;
    out[offset + 5] = spid & 0xff;
    out[offset + 6] = (i + 1) % 256;
    out[offset + 7] = 0;
    out.set(part, offset + HEADER_LENGTH);
    offset += length;
  }
  return out;
}

/**
 * Reads ALL_HEADERS (MS-TDS 2.2.5.3) and returns the transaction descriptor
 * of its Transaction Descriptor header (MS-TDS 2.2.5.3.2): the transaction
 * the client says the request belongs to, 0 for none.
 *
 * @throws {RangeError} when the headers are truncated
 */
export function readAllHeaders(
  r: ByteReader,
): { transactionDescriptor: bigint } {
  const start = r.offset;
  const total = r.u32le();
  if (total < 4 || start + total > r.length) {
    throw new RangeError(`ALL_HEADERS declares ${total} bytes`);
  }
  let transactionDescriptor = 0n;
  while (r.offset < start + total) {
    const headerStart = r.offset;
    const headerLength = r.u32le();
    if (headerLength < 6 || headerStart + headerLength > start + total) {
      throw new RangeError(
        `An ALL_HEADERS header declares ${headerLength} bytes`,
      );
    }
    if (r.u16le() === HEADER_TRANSACTION_DESCRIPTOR) {
      transactionDescriptor = r.u64le();
    }
    r.offset = headerStart + headerLength;
  }
  return { transactionDescriptor };
}

/** ALL_HEADERS (MS-TDS 2.2.5.3): a DWORD total length, then the headers. */
export function skipAllHeaders(r: ByteReader): void {
  const start = r.offset;
  const total = r.u32le();
  if (total < 4 || start + total > r.length) {
    throw new RangeError(`ALL_HEADERS declares ${total} bytes`);
  }
  r.offset = start + total;
}
