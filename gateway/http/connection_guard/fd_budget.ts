/**
 * The file descriptors the service needs at its limits, and the open-file
 * limit it runs under (`LimitNOFILE` under systemd, `ulimit -n`, a
 * container's `nofile`). Each client connection holds three descriptors
 * (the client's socket, the relay's socket to the internal server, and
 * that server's side of it); each executor slot a few (its pipes and the
 * memory monitor's); the rest of the process (the runtime, the listeners,
 * CCP, Redis and webhook connections, the log) stays under a fixed margin.
 * Measured on a running gateway: 26 descriptors idle, 3 more per open
 * connection, about 6 more per running executor.
 *
 * @module
 */

/** Descriptors one open client connection holds. */
export const FDS_PER_CONNECTION = 3;
/** Descriptors one executor slot may hold (pipes, memory monitor). */
export const FDS_PER_EXECUTOR = 8;
/** Descriptors of everything else, with room to spare. */
export const BASE_FDS = 128;

/** What the service may hold open at `HTTP_MAX_CONNECTIONS` and `EXECUTOR_MAX_CONCURRENT`. */
export function neededFileDescriptors(
  maxConnections: number,
  maxExecutors: number,
): number {
  return FDS_PER_CONNECTION * maxConnections + FDS_PER_EXECUTOR * maxExecutors +
    BASE_FDS;
}

/** The soft "Max open files" of a `/proc/<pid>/limits` text; `undefined` for unlimited or unreadable. */
export function parseOpenFileLimit(limits: string): number | undefined {
  const line = /^Max open files\s+(\S+)/m.exec(limits);
  if (line === null || !/^\d+$/.test(line[1]!)) return undefined;
  return Number(line[1]);
}

/**
 * This process's open-file limit (Linux), or `undefined` when unknown: Deno
 * lets a program read `/proc/self/limits` only with `--allow-all`, so the
 * service itself never knows it (it finds out when descriptors run out, and
 * then lowers its cap: `ConnectionGuard.outOfDescriptors()`).
 */
export function ownOpenFileLimit(): number | undefined {
  try {
    return parseOpenFileLimit(Deno.readTextFileSync("/proc/self/limits"));
  } catch {
    return undefined;
  }
}
