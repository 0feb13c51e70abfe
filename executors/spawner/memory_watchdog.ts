/**
 * The memory watchdog of the executors: the parent's half of the memory
 * limit, for the memory a V8 heap cap does not see (a driver's native
 * buffers, sockets, TLS).
 *
 * Why polling `/proc/<pid>/status`: an unprivileged parent on Linux has
 * nothing better. `RLIMIT_AS` stops V8 from starting (it reserves a large
 * virtual cage); `RLIMIT_DATA` counts reserved, not resident, memory (an
 * idle executor has 550-580 MiB of VmData for 51-87 MiB resident) and
 * `RLIMIT_RSS` is ignored by Linux; `Deno.Command` cannot set rlimits in the
 * child anyway (a `prlimit` wrapper would need another `--allow-run`);
 * cgroup v2 memory limits need a delegated cgroup the gateway does not have.
 * The limit is checked against the kernel's high-water mark (`VmHWM`), so
 * growth between two reads still counts; what a child can allocate in one
 * interval is its overshoot.
 *
 * Deno refuses `/proc/<pid>/` reads without `--allow-all`, so the reads
 * happen in one helper process, `executors/children/rss_monitor.ts`, which
 * runs while any executor runs ({@linkcode RssMonitor}).
 *
 * @module
 */

/** What the monitor saw of one process. */
export type RssSample =
  | { readonly kind: "sample"; readonly hwmKb: number; readonly rssKb: number }
  | { readonly kind: "gone" }
  | { readonly kind: "error"; readonly why: string };

/** How to start the monitor process. */
export interface RssMonitorOptions {
  /** Absolute path of the project's `deno.json`. */
  readonly configPath: string;
  /** Working directory (the project). */
  readonly cwd: string;
  /** The whole environment of the monitor (it is cleared first). */
  readonly env: Record<string, string>;
  /** How often it reads each process (ms). */
  readonly intervalMs: number;
}

const MONITOR_URL = new URL("../children/rss_monitor.ts", import.meta.url);

/** One running monitor process and the processes it was told to watch. */
interface Connection {
  readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly pids: Set<number>;
  /** Settles when the monitor has exited and its output was read. */
  readonly done: Promise<void>;
}

/**
 * One `rss_monitor.ts` process shared by a spawner's children: started when
 * the first child is watched, stopped (and awaited) when the last one is
 * no longer, so no process outlives the executors.
 */
export class RssMonitor {
  readonly #options: RssMonitorOptions;
  readonly #listeners = new Map<number, (sample: RssSample) => void>();
  #connection: Connection | null = null;

  /** Creates the monitor; nothing starts before the first `watch`. */
  constructor(options: RssMonitorOptions) {
    this.#options = options;
  }

  /**
   * Reports samples of `pid` to `listener` until `unwatch(pid)`.
   *
   * @throws when the monitor process cannot be started or told
   */
  async watch(
    pid: number,
    listener: (sample: RssSample) => void,
  ): Promise<void> {
    this.#listeners.set(pid, listener);
    const connection = this.#connection ??= this.#start();
    connection.pids.add(pid);
    await connection.writer.write(new TextEncoder().encode(`+${pid}\n`));
  }

  /** Stops reporting `pid`; stops the monitor when nothing is watched. */
  async unwatch(pid: number): Promise<void> {
    this.#listeners.delete(pid);
    const connection = this.#connection;
    if (connection === null || !connection.pids.delete(pid)) return;
    if (connection.pids.size > 0) {
      await connection.writer.write(new TextEncoder().encode(`-${pid}\n`))
        .catch(() => {});
      return;
    }
    this.#connection = null;
    await connection.writer.close().catch(() => {});
    await connection.done;
  }

  #start(): Connection {
    const process = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--no-prompt",
        "--cached-only",
        "--frozen-lockfile",
        "--config",
        this.#options.configPath,
        decodeURIComponent(MONITOR_URL.pathname),
        String(this.#options.intervalMs),
      ],
      clearEnv: true,
      env: this.#options.env,
      cwd: this.#options.cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const pids = new Set<number>();
    const done = Promise.all([this.#read(process, pids), process.status])
      .then(() => {
        // A monitor that died leaves the next watch to start a new one.
        if (this.#connection?.pids === pids) this.#connection = null;
      });
    return { writer: process.stdin.getWriter(), pids, done };
  }

  /** Dispatches the monitor's lines; tells its listeners when it dies. */
  async #read(process: Deno.ChildProcess, pids: Set<number>): Promise<void> {
    let pending = "";
    try {
      for await (
        const chunk of process.stdout.pipeThrough(new TextDecoderStream())
      ) {
        pending += chunk;
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) this.#dispatch(line);
      }
    } catch {
      // Reported below like an exit.
    } finally {
      for (const pid of pids) {
        this.#listeners.get(pid)?.({
          kind: "error",
          why: "the memory monitor exited",
        });
      }
    }
  }

  #dispatch(line: string): void {
    const [pidText, first, second] = line.split(" ");
    const listener = this.#listeners.get(Number(pidText));
    if (listener === undefined) return;
    if (first === "gone") {
      listener({ kind: "gone" });
    } else if (first === "error") {
      listener({
        kind: "error",
        why: `reading /proc/${pidText}/status failed: ${second ?? "unknown"}`,
      });
    } else {
      listener({
        kind: "sample",
        hwmKb: Number(first),
        rssKb: Number(second),
      });
    }
  }
}

/** Options of {@linkcode MemoryWatchdog}. */
export interface MemoryWatchdogOptions {
  /** Resident memory the child may have (MiB). */
  readonly limitMb: number;
  /** Called once when the child's resident memory passed the limit. */
  readonly onExceeded: () => void;
  /** Called once when the child's memory cannot be watched while it runs. */
  readonly onUnwatchable: (why: string) => void;
}

/**
 * Watches one child through an {@linkcode RssMonitor} and reports when its
 * resident memory (its high-water mark) passes the limit; the caller kills
 * it. Without a monitor (other systems than Linux have no `/proc`) it
 * watches nothing and only the heap cap holds.
 */
export class MemoryWatchdog {
  readonly #monitor: RssMonitor | null;
  readonly #pid: number;
  readonly #limitKb: number;
  readonly #options: MemoryWatchdogOptions;
  #peakKb = 0;
  #done = false;

  /** Prepares to watch the process `pid`; {@linkcode MemoryWatchdog.start} starts. */
  constructor(
    monitor: RssMonitor | null,
    pid: number,
    options: MemoryWatchdogOptions,
  ) {
    this.#monitor = monitor;
    this.#pid = pid;
    this.#limitKb = options.limitMb * 1024;
    this.#options = options;
  }

  /** The highest resident memory seen (MiB, rounded up). */
  get peakMb(): number {
    return Math.ceil(this.#peakKb / 1024);
  }

  /** Starts watching; a monitor that cannot start is reported as unwatchable. */
  async start(): Promise<void> {
    if (this.#monitor === null) return;
    try {
      await this.#monitor.watch(this.#pid, (sample) => this.#seen(sample));
    } catch (error) {
      this.#finish(() =>
        this.#options.onUnwatchable(
          `the memory monitor did not start: ${
            error instanceof Error ? error.name : "unknown error"
          }`,
        )
      );
    }
  }

  /** Stops watching (the child has exited or is being killed). */
  async stop(): Promise<void> {
    this.#done = true;
    await this.#monitor?.unwatch(this.#pid);
  }

  #seen(sample: RssSample): void {
    if (this.#done) return;
    switch (sample.kind) {
      case "gone":
        this.#done = true;
        return;
      case "error":
        this.#finish(() => this.#options.onUnwatchable(sample.why));
        return;
      case "sample":
        this.#peakKb = Math.max(this.#peakKb, sample.hwmKb, sample.rssKb);
        if (this.#peakKb > this.#limitKb) {
          this.#finish(() => this.#options.onExceeded());
        }
    }
  }

  #finish(report: () => void): void {
    if (this.#done) return;
    this.#done = true;
    report();
  }
}
