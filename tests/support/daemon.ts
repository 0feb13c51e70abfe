/**
 * Servers that tests start as child processes (sshd, nginx, redis-server, the
 * gateway): the exit is watched, so a wait for a server ends as soon as it
 * dies instead of running into its timeout, and the wait for its port is one
 * {@linkcode eventually} loop.
 *
 * @module
 */
import { eventually } from "./eventually.ts";

/** A spawned server process and what is known about its exit. */
export interface Daemon {
  /** The process, for its stdout and stderr streams. */
  readonly child: Deno.ChildProcess;
  /** Resolves with the exit status once the process has exited. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Aborts when the process exits, so that waits on it end early. */
  readonly exitSignal: AbortSignal;
  /** Whether the process has exited. */
  exited(): boolean;
  /**
   * Sends `signal` (default SIGTERM) unless the process has exited, then
   * waits for the exit.
   */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Spawns `command` with these options and watches for its exit. */
export function spawnDaemon(
  command: string,
  options: Deno.CommandOptions,
): Daemon {
  const child = new Deno.Command(command, options).spawn();
  let exited = false;
  const exit = new AbortController();
  const status = child.status.then((s) => {
    exited = true;
    exit.abort();
    return s;
  });
  return {
    child,
    status,
    exitSignal: exit.signal,
    exited: () => exited,
    stop: async (signal: Deno.Signal = "SIGTERM") => {
      if (!exited) {
        try {
          child.kill(signal);
        } catch {
          // It exited in the meantime.
        }
      }
      return await status;
    },
  };
}

/** Options of {@linkcode waitForPort}. */
export interface WaitForPortOptions {
  /** What the error calls the server, e.g. `sshd`. */
  name: string;
  /** The address to connect to; default `127.0.0.1`. */
  hostname?: string;
  /** How long the server may take on a loaded machine; default 30 000 ms. */
  timeoutMs?: number;
  /** Reads what the server wrote, for the error; called once it has stopped. */
  log?: () => Promise<string>;
}

/**
 * Waits until the daemon accepts TCP connections on `port`. When it exits
 * first or the time runs out, it is killed and the error quotes its log.
 *
 * @throws {Error} when the server exited or did not accept in time
 */
export async function waitForPort(
  daemon: Daemon,
  port: number,
  options: WaitForPortOptions,
): Promise<void> {
  const hostname = options.hostname ?? "127.0.0.1";
  const timeoutMs = options.timeoutMs ?? 30_000;
  try {
    await eventually(async () => {
      (await Deno.connect({ hostname, port })).close();
    }, { timeoutMs, signal: daemon.exitSignal });
    return;
  } catch {
    // Explained below, with the log.
  }
  const why = daemon.exited()
    ? "it exited"
    : `it did not accept within ${timeoutMs / 1000} s`;
  await daemon.stop("SIGKILL");
  const log = options.log === undefined
    ? ""
    : `; ${options.name} log: ${(await options.log().catch(() => "")).trim()}`;
  throw new Error(
    `Cannot start ${options.name} on ${hostname}:${port}: ${why}${log}`,
  );
}
