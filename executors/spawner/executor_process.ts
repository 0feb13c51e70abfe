/**
 * One started executor child and what the parent keeps of it from the moment
 * it is spawned: its memory watchdog, its stderr (drained from the start, so
 * a chatty child never blocks) and why the parent stopped it, if it did.
 *
 * A child is started the same way whether it runs its call at once (cold)
 * or waits for it (warm, `warm_pool.ts`): same command line, same watchdog,
 * same environment. Nothing is written to its stdin here; the request is
 * written only when the call runs (`spawner.ts`).
 *
 * @module
 */
import { RESPONSE_END } from "../protocol/mod.ts";
import { MemoryWatchdog, type RssMonitor } from "./memory_watchdog.ts";

/** Starts a child process; replaceable to count or observe spawns in tests. */
export type SpawnFunction = (
  command: string,
  options: Deno.CommandOptions,
) => Deno.ChildProcess;

/** Why the parent stopped a child. */
export type StopReason =
  | "timeout"
  | "overflow"
  | "abort"
  | "memory"
  | "unwatchable"
  | "discarded"
  | "shutdown"
  | "lingered";

/** How to start one child. */
export interface ExecutorProcessOptions {
  /** The `deno` arguments (from `executorArgs`). */
  readonly args: readonly string[];
  /** The whole environment of the child (it is cleared first). */
  readonly env: Record<string, string>;
  /** Working directory (the project). */
  readonly cwd: string;
  /** Starts the process. */
  readonly spawn: SpawnFunction;
  /** Reads resident memory; null where there is no `/proc`. */
  readonly monitor: RssMonitor | null;
  /** Resident memory the child may have (MiB). */
  readonly maxMemoryMb: number;
  /** Stderr kept for the debug log (bytes). */
  readonly maxStderrBytes: number;
}

/** Bytes read from a stream, at most a cap. */
export interface CappedBytes {
  readonly bytes: Uint8Array;
  readonly overflowed: boolean;
}

/** A spawned executor child under its watchdog. */
export class ExecutorProcess {
  /** The process. */
  readonly child: Deno.ChildProcess;
  /** The exact `deno` arguments it was started with. */
  readonly args: readonly string[];
  /** `performance.now()` of the spawn. */
  readonly spawnedAt: number;
  /** Everything it wrote to stderr, capped; settles when it exits. */
  readonly stderr: Promise<CappedBytes>;
  readonly #watchdog: MemoryWatchdog;
  readonly #watching: Promise<void>;
  #stopReason: StopReason | null = null;
  #unwatchable = "";
  #exited = false;

  /**
   * Spawns the child and starts watching its memory.
   *
   * @throws whatever spawning throws (nothing is left running)
   */
  constructor(options: ExecutorProcessOptions) {
    this.args = [...options.args];
    this.spawnedAt = performance.now();
    this.child = options.spawn(Deno.execPath(), {
      args: this.args as string[],
      clearEnv: true,
      env: options.env,
      cwd: options.cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    });
    this.child.status.then(
      () => this.#exited = true,
      () => this.#exited = true,
    );
    this.stderr = readCapped(this.child.stderr, options.maxStderrBytes, null);
    this.#watchdog = new MemoryWatchdog(options.monitor, this.child.pid, {
      limitMb: options.maxMemoryMb,
      onExceeded: () => this.stop("memory"),
      onUnwatchable: (why) => {
        this.#unwatchable = why;
        this.stop("unwatchable");
      },
    });
    this.#watching = this.#watchdog.start();
  }

  /** The child's process id. */
  get pid(): number {
    return this.child.pid;
  }

  /** Why the parent stopped it, or null. */
  get stopReason(): StopReason | null {
    return this.#stopReason;
  }

  /** Why its memory could not be watched (for `unwatchable`). */
  get unwatchable(): string {
    return this.#unwatchable;
  }

  /** True once it has exited, or the parent has stopped it. */
  get ended(): boolean {
    return this.#exited || this.#stopReason !== null;
  }

  /** The highest resident memory seen (MiB). */
  get peakMb(): number {
    return this.#watchdog.peakMb;
  }

  /** Kills it with SIGKILL, remembering the first reason. */
  stop(reason: StopReason): void {
    this.#stopReason ??= reason;
    try {
      this.child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }

  /** Stops watching its memory; call once it has exited. */
  async unwatch(): Promise<void> {
    await this.#watching;
    await this.#watchdog.stop();
  }

  /**
   * Kills a child that will run no call (a warm child discarded) and waits
   * until it is gone: nothing was written to its stdin, and nothing is read
   * from its stdout.
   */
  async dispose(): Promise<void> {
    this.stop("discarded");
    await this.child.stdin.abort().catch(() => {});
    await this.child.stdout.cancel().catch(() => {});
    await this.child.status;
    await this.stderr;
    await this.unwatch();
  }
}

/**
 * Reads a stream, keeping at most `limit` bytes. On overflow, calls
 * `onOverflow` and stops reading when it is given (the child is killed);
 * otherwise drains and discards the rest so the child never blocks.
 */
export async function readCapped(
  stream: ReadableStream<Uint8Array>,
  limit: number,
  onOverflow: (() => void) | null,
): Promise<CappedBytes> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let overflowed = false;
  const reader = stream.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (overflowed) continue;
      if (size + value.length > limit) {
        chunks.push(value.subarray(0, limit - size));
        size = limit;
        overflowed = true;
        if (onOverflow !== null) {
          onOverflow();
          await reader.cancel();
          break;
        }
        continue;
      }
      chunks.push(value);
      size += value.length;
    }
  } finally {
    reader.releaseLock();
  }
  return { bytes: concat(chunks, size), overflowed };
}

/** A child's response, read up to its end, and the rest of its stdout. */
export interface ResponseRead extends CappedBytes {
  /**
   * True when the response's end (`RESPONSE_END`) arrived: the bytes are the
   * whole response, and nothing the child does after it can change it.
   */
  readonly complete: boolean;
  /** Settles when stdout has closed; what came after the end is discarded. */
  readonly drained: Promise<void>;
}

/**
 * Reads a child's stdout up to the end of its response (the first
 * `RESPONSE_END`), keeping at most `limit` bytes, and resolves at once then,
 * without waiting for the stream to close (it closes only when the process
 * has exited). The rest is drained in the background so the child never
 * blocks. Without an end marker it reads to the close, like
 * {@linkcode readCapped}, and `complete` is false.
 */
export async function readResponse(
  stream: ReadableStream<Uint8Array>,
  limit: number,
  onOverflow: () => void,
): Promise<ResponseRead> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  const result = (
    overflowed: boolean,
    complete: boolean,
    drained: Promise<void>,
  ): ResponseRead => ({
    bytes: concat(chunks, size),
    overflowed,
    complete,
    drained,
  });
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) {
        reader.releaseLock();
        return result(false, false, Promise.resolve());
      }
      const end = value.indexOf(RESPONSE_END);
      const part = end < 0 ? value : value.subarray(0, end);
      if (size + part.length > limit) {
        chunks.push(part.subarray(0, limit - size));
        size = limit;
        onOverflow();
        await reader.cancel().catch(() => {});
        reader.releaseLock();
        return result(true, false, Promise.resolve());
      }
      chunks.push(part);
      size += part.length;
      if (end >= 0) return result(false, true, drain(reader));
    }
  } catch (error) {
    reader.releaseLock();
    throw error;
  }
}

async function drain(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<void> {
  try {
    while (!(await reader.read()).done) {
      // Discarded: a response has one line.
    }
  } catch {
    // The child was killed; nothing more to read.
  } finally {
    reader.releaseLock();
  }
}

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}
