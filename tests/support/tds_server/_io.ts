/**
 * Connection I/O shared by the server loop and the TLS relay.
 *
 * @module
 */
import { concat } from "./_bytes.ts";

/** What the server reads from and writes to: a TCP or TLS connection. */
export interface Transport {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

/**
 * A transport read through a buffer: `fill(n)` reads until `n` bytes are
 * buffered, `take(n)` removes them. Both readers of the server (TDS packets
 * and TLS records) are built on it.
 */
export class BufferedSource {
  readonly #source: Transport;
  #buffer: Uint8Array = new Uint8Array(0);
  readonly #chunk = new Uint8Array(16 * 1024);

  /** Reads from `source`. */
  constructor(source: Transport) {
    this.#source = source;
  }

  /** What is buffered now. */
  get buffered(): Uint8Array {
    return this.#buffer;
  }

  /** Reads until `n` bytes are buffered; false when the stream ends first. */
  async fill(n: number): Promise<boolean> {
    while (this.#buffer.length < n) {
      const read = await this.#source.read(this.#chunk);
      if (read === null) return false;
      this.#buffer = concat(this.#buffer, this.#chunk.subarray(0, read));
    }
    return true;
  }

  /** Removes and returns the first `n` buffered bytes. */
  take(n: number): Uint8Array {
    const taken = this.#buffer.slice(0, n);
    this.#buffer = this.#buffer.slice(n);
    return taken;
  }

  /** Everything buffered, for a reader that takes over the connection. */
  takeBuffered(): Uint8Array {
    const rest = this.#buffer;
    this.#buffer = new Uint8Array(0);
    return rest;
  }
}

/** Writes every byte, however many writes it takes. */
export async function writeAll(
  to: Transport,
  bytes: Uint8Array,
): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await to.write(bytes.subarray(offset));
  }
}

/** Copies `from` to `to` until `from` ends or either connection goes. */
export async function pump(from: Transport, to: Transport): Promise<void> {
  const chunk = new Uint8Array(16 * 1024);
  try {
    for (;;) {
      const n = await from.read(chunk);
      if (n === null) return;
      await writeAll(to, chunk.subarray(0, n));
    }
  } catch (error) {
    if (!isConnectionGone(error)) throw error;
  }
}

/** Closes a resource that may already be closed. */
export function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // already closed
  }
}

/** Whether an error only says that the peer or our side closed the connection. */
export function isConnectionGone(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.NotConnected ||
    (error instanceof Error && error.name === "Interrupted");
}

/** Settles like `promise`, or rejects when `signal` aborts first. */
export function untilAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal,
): Promise<T> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", onAbort)
    );
  });
}

/** Resolves after `ms`, or rejects with the abort reason when `signal` aborts first. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
