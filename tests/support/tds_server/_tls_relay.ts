/**
 * TLS inside PRELOGIN (MS-TDS 2.2.6.5): during the handshake the TLS records
 * travel in PRELOGIN packets, afterwards they flow raw. The TLS engine is
 * Deno's own, reached through a loopback socket; this relay unwraps the
 * client's records into it and wraps its answers back.
 *
 * @module
 */

import { concat, readU16be } from "./_bytes.ts";
import { PACKET_PRELOGIN } from "./_constants.ts";
import {
  BufferedSource,
  closeQuietly,
  pump,
  type Transport,
  writeAll,
} from "./_io.ts";
import { PacketReader } from "./_packets.ts";

/** What {@linkcode startTlsRelay} needs from the session. */
export interface TlsRelayOptions {
  /** The client's TCP connection. */
  raw: Deno.Conn;
  /** The session's packet reader on `raw`; its buffered bytes are handed on. */
  reader: PacketReader;
  /** Certificate and key the TLS engine presents. */
  tls: { cert: string; key: string };
  /** Sends one message to the client, split into packets. */
  send(type: number, payload: Uint8Array): Promise<void>;
}

/** A finished handshake: where the session now reads and writes. */
export interface TlsRelay {
  /** The decrypted side of the connection. */
  transport: Deno.TlsConn;
  /** Reads packets from {@linkcode TlsRelay.transport}. */
  reader: PacketReader;
  /** Stops relaying and waits for both directions to end. */
  cleanup(): Promise<void>;
}

/**
 * Runs the TLS handshake the way MS-TDS 2.2.6.5 describes and then relays
 * raw TLS records both ways.
 *
 * @throws {TypeError} when the client sends something other than PRELOGIN
 *   during the handshake, or negotiates TLS 1.3
 */
export async function startTlsRelay(
  options: TlsRelayOptions,
): Promise<TlsRelay> {
  const { raw, tls } = options;
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: tls.cert,
    key: tls.key,
  });
  const addr = listener.addr as Deno.NetAddr;
  const [inner, accepted] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: addr.port }),
    listener.accept(),
  ]);
  listener.close();
  const innerReader = new TlsRecordReader(inner);
  const handshake = accepted.handshake();
  handshake.catch(() => {}); // awaited below; this only marks it handled
  try {
    do {
      const message = await options.reader.readMessage();
      if (message === null) throw new Deno.errors.ConnectionReset();
      if (message.type !== PACKET_PRELOGIN) {
        throw new TypeError(
          `Expected a PRELOGIN packet with TLS data, got packet type ${message.type}`,
        );
      }
      await writeAll(inner, message.payload);
      const flight = await innerReader.readFlight();
      await options.send(PACKET_PRELOGIN, flight);
    } while (!innerReader.finished);
    await handshake;
  } catch (error) {
    closeQuietly(inner);
    closeQuietly(accepted);
    throw error;
  }
  // From now on the client sends raw TLS records; pump them both ways.
  const leftover = options.reader.takeBuffered();
  const up = (async () => {
    try {
      if (leftover.length > 0) await writeAll(inner, leftover);
      await pump(raw, inner);
    } finally {
      closeQuietly(inner);
    }
  })();
  const down = (async () => {
    try {
      const pending = innerReader.takeBuffered();
      if (pending.length > 0) await writeAll(raw, pending);
      await pump(inner, raw);
    } finally {
      closeQuietly(raw);
    }
  })();
  return {
    transport: accepted,
    reader: new PacketReader(accepted),
    cleanup: async (): Promise<void> => {
      closeQuietly(inner);
      await Promise.allSettled([up, down]);
    },
  };
}

/**
 * Reads what Deno's TLS server writes during the handshake and cuts it into
 * flights: each flight answers one client PRELOGIN message. A TLS 1.2 flight
 * ends with ServerHelloDone, with the Finished that follows
 * ChangeCipherSpec, or with an alert.
 */
export class TlsRecordReader {
  readonly #input: BufferedSource;
  #sawChangeCipherSpec = false;
  finished = false;

  constructor(source: Transport) {
    this.#input = new BufferedSource(source);
  }

  /** Bytes read past the last flight, for the relay that takes over. */
  takeBuffered(): Uint8Array {
    return this.#input.takeBuffered();
  }

  async #fill(n: number): Promise<void> {
    if (!(await this.#input.fill(n))) {
      throw new Deno.errors.UnexpectedEof(
        "The TLS engine closed during the handshake",
      );
    }
  }

  /** The records of the next flight, concatenated. */
  async readFlight(): Promise<Uint8Array> {
    const records: Uint8Array[] = [];
    for (;;) {
      await this.#fill(5);
      const contentType = this.#input.buffered[0] as number;
      const length = readU16be(this.#input.buffered, 3);
      await this.#fill(5 + length);
      const record = this.#input.take(5 + length);
      records.push(record);
      if (contentType === 0x15) { // alert
        this.finished = true;
        break;
      }
      if (contentType === 0x17) {
        // TLS 1.3 hides where a flight ends; SQL Server's TDS 7.x TLS (and
        // tedious, which caps maxVersion) use TLS 1.2.
        throw new TypeError(
          "The client negotiated TLS 1.3; the TDS test server relays TLS 1.2 handshakes only",
        );
      }
      if (contentType === 0x14) { // change_cipher_spec
        this.#sawChangeCipherSpec = true;
        continue;
      }
      if (contentType === 0x16 && this.#sawChangeCipherSpec) {
        this.finished = true; // the encrypted Finished
        break;
      }
      if (contentType === 0x16 && containsHandshake(record, 14)) break;
    }
    return concat(...records);
  }
}

function containsHandshake(record: Uint8Array, wanted: number): boolean {
  let offset = 5;
  while (offset + 4 <= record.length) {
    const type = record[offset] as number;
    const length = ((record[offset + 1] as number) << 16) |
      ((record[offset + 2] as number) << 8) | (record[offset + 3] as number);
    if (type === wanted) return true;
    offset += 4 + length;
  }
  return false;
}
