/**
 * The parent side of an executor: spawns one sandboxed Deno child per
 * operation, hands it the credential on stdin, and turns its one response
 * into a typed, scrubbed {@linkcode ExecutorOutcome}.
 *
 * Trust boundaries made visible here:
 * - The child's only network grant is `--allow-net=HOST:PORT` of the validated
 *   target; the other flags come from a fixed table per executor kind and are
 *   checked against a fixed allowlist ({@linkcode executorArgs}).
 * - `--cached-only --frozen-lockfile` stop a child from fetching a module at
 *   run time, which `--allow-net` does not cover.
 * - The environment is cleared, so nothing of the gateway's leaks in.
 * - Plaintext leaves the vault in one place: the protocol's `sealRequest`
 *   (`executors/protocol/seal_request.ts`), whose bytes this file writes to
 *   the child's stdin and then zeroes.
 * - Everything the child returns is untrusted: capped while read, parsed with
 *   the protocol's schema, and scrubbed of the secrets it was given.
 * - Every child runs under a memory limit (`maxMemoryMb`): a V8 heap cap on
 *   its command line, and a watchdog here that kills it when its resident
 *   memory passes the limit (`memory_watchdog.ts`, which explains why it
 *   polls and why the polling runs in a helper process).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import {
  capText,
  decodeResponse,
  DEFAULT_MAX_OUTPUT_BYTES,
  type ExecutorCredential,
  type ExecutorFailure,
  issuePaths,
  MIN_SCRUB_LENGTH,
  type Operation,
  type OperationResult,
  OperationSchema,
  PROTOCOL_VERSION,
  responseLimitBytes,
  type SealedRequest,
  sealRequest,
  type Target,
} from "../protocol/mod.ts";
import { executorArgs, type ExecutorKind, EXECUTORS } from "./executor_args.ts";
import {
  type CappedBytes,
  ExecutorProcess,
  readResponse,
  type ResponseRead,
  type SpawnFunction,
  type StopReason,
} from "./executor_process.ts";
import { RssMonitor } from "./memory_watchdog.ts";
import {
  type ExecutorObserver,
  ExecutorObservers,
  type ExecutorStats,
} from "./executor_observer.ts";
import { allowNetFlag, validateTarget } from "./target.ts";
import { WarmPool } from "./warm_pool.ts";

export type { ExecutorCredential, SecretLike } from "../protocol/mod.ts";
export type { SpawnFunction } from "./executor_process.ts";
export type {
  ExecutorObserver,
  ExecutorRefusal,
  ExecutorRun,
  ExecutorStats,
} from "./executor_observer.ts";

const logger = getLogger(["executors"]);

/** Default number of executors running at once. */
export const DEFAULT_MAX_CONCURRENT = 8;
/** Default number of calls waiting for a slot before new ones are refused. */
export const DEFAULT_MAX_QUEUED = 64;
/** Default time limit of one call, queueing included (ms). */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Longest time limit a call may ask for (ms). */
export const MAX_TIMEOUT_MS = 60 * 60 * 1000;
/** Largest output cap a call may ask for, per stream (bytes). */
export const MAX_OUTPUT_BYTES_LIMIT = 64 * 1024 * 1024;
/** Default cap on the stderr kept for the debug log (bytes). */
export const DEFAULT_MAX_STDERR_BYTES = 64 * 1024;
/**
 * Default memory limit of one executor (MiB): eight of them, the default
 * concurrency, fit with the gateway on the manual's recommended 1 GB host.
 */
export const DEFAULT_EXECUTOR_MEMORY_MB = 112;
/**
 * Resident memory of an executor outside its V8 heap, kept free of the heap
 * cap (MiB). Measured here (Deno 2.9.6, an executor waiting for its request
 * with its driver loaded): 51-87 MiB resident in all, of which 41-51 MiB
 * outside the heap (Deno's runtime and code); the rest of the reserve is for
 * the driver's sockets, TLS and buffers.
 */
export const EXECUTOR_NON_HEAP_MB = 64;
/**
 * Smallest memory limit accepted (MiB). Executors need more to work: the
 * mssql executor peaked at 87-93 MiB resident in the test suite's queries
 * (pg 60-67, mysql 67-74), so below about 112 MiB they fail with
 * `resource_limit`, the SQL Server one first.
 */
export const MIN_EXECUTOR_MEMORY_MB = 64;
/** Smallest V8 heap cap given to an executor, whatever its limit (MiB). */
export const MIN_EXECUTOR_HEAP_MB = 16;
/** Largest memory limit an executor may be given (MiB). */
export const MAX_EXECUTOR_MEMORY_MB = 16 * 1024;
/** Default time the child gets after its own deadline before SIGKILL (ms). */
export const DEFAULT_KILL_GRACE_MS = 1000;
/** How often the watchdog reads a child's resident memory (ms). */
export const MEMORY_WATCH_INTERVAL_MS = 100;
/**
 * Default number of warm executors waiting at once (`EXECUTOR_WARM_MAX`);
 * 0 turns warming off.
 */
export const DEFAULT_WARM_MAX = 2;
/** Largest number of warm executors that may wait at once. */
export const MAX_WARM_MAX = 64;

/**
 * The V8 heap cap of an executor under a memory limit (MiB): the limit less
 * {@linkcode EXECUTOR_NON_HEAP_MB}, at most half the limit and at least
 * {@linkcode MIN_EXECUTOR_HEAP_MB} (48 MiB at the default 112). The cap
 * covers V8's old space only: the young generation (up to tens of MiB while
 * a child allocates fast) and native memory come on top, so with the cap
 * below the limit a child whose JavaScript heap grows usually aborts with
 * V8's "out of memory" first, and the watchdog catches the rest.
 */
export function executorHeapCapMb(maxMemoryMb: number): number {
  return Math.max(
    MIN_EXECUTOR_HEAP_MB,
    Math.min(maxMemoryMb - EXECUTOR_NON_HEAP_MB, Math.floor(maxMemoryMb / 2)),
  );
}

/** The result type of one operation kind. */
export type ResultOf<K extends Operation["kind"]> = Extract<
  OperationResult,
  { kind: K }
>;

/** One operation to run in a child; its `kind` picks the executor and the result type. */
export interface ExecutorCall<K extends Operation["kind"] = Operation["kind"]> {
  /** Where to connect; validated before anything is spawned. */
  readonly target: { readonly host: string; readonly port: number };
  /** The credential; revealed only into the child's stdin. */
  readonly credential: ExecutorCredential;
  /** What to do; its `kind` picks the executor. */
  readonly operation: Extract<Operation, { kind: K }>;
  /** Time limit including any wait for a free slot (ms). */
  readonly timeoutMs?: number;
  /** Cap on each output stream the child returns (bytes). */
  readonly maxOutputBytes?: number;
  /** Cancels the call: the child is killed and the call rejects with the reason. */
  readonly signal?: AbortSignal;
}

/** How long a call waited and ran (ms), and which child ran it. */
export interface ExecutorTiming {
  /** Time spent waiting for a free slot. */
  readonly queuedMs: number;
  /**
   * Time from spawn to the child's complete response, or to its exit when it
   * gave none (for a warm child, from the moment the call took it); 0 when
   * it never started.
   */
  readonly runMs: number;
  /**
   * `warm`: the call ran in a child started ahead for its handle
   * ({@linkcode ExecutorSpawner.warm}); `cold`: in one started for it.
   */
  readonly executor: "warm" | "cold";
  /** The child's process id; null when none ran. */
  readonly pid: number | null;
}

/**
 * The result of a call: the child's result, or a failure the child reported
 * or the parent detected (`timeout`, and `internal` for a child that broke
 * the protocol). Every string in it has been scrubbed and capped.
 */
export type ExecutorOutcome<R extends OperationResult = OperationResult> =
  | {
    readonly ok: true;
    readonly result: R;
    readonly timing: ExecutorTiming;
  }
  | {
    readonly ok: false;
    readonly error: ExecutorFailure;
    readonly timing: ExecutorTiming;
  };

/**
 * What the gateway needs of a spawner: run one operation and get the result
 * of its kind. {@linkcode ExecutorSpawner} is the one real implementation;
 * the interface lets a test stand in for it without spawning.
 */
export interface ExecutorRunner {
  /** Runs one operation (see {@linkcode ExecutorSpawner.run}). */
  run<K extends Operation["kind"]>(
    call: ExecutorCall<K>,
  ): Promise<ExecutorOutcome<ResultOf<K>>>;
  /** Holds a free slot for one call (see {@linkcode ExecutorSpawner.reserve}). */
  reserve(options?: ReserveOptions): Promise<ExecutorReservation>;
  /**
   * Starts a child ahead of a handle's predicted call (see
   * {@linkcode ExecutorSpawner.warm}); a runner that does not warm leaves
   * it out.
   */
  warm?(request: WarmRequest): boolean;
  /** Kills every warm child (see {@linkcode ExecutorSpawner.close}). */
  close?(): Promise<void>;
  /** Slots in use now (see {@linkcode ExecutorSpawner.stats}). */
  stats?(): ExecutorStats;
  /** Watches runs and refusals (see {@linkcode ExecutorSpawner.observe}). */
  observe?(observer: ExecutorObserver): () => void;
}

/** A child to start ahead of the one call a handle's scope predicts. */
export interface WarmRequest {
  /** The id of the handle (never the handle). */
  readonly handleId: string;
  /** The executor the call will need. */
  readonly kind: ExecutorKind;
  /** Where the call will connect: the handle's Address and its one port. */
  readonly target: { readonly host: string; readonly port: number };
  /** The handle's remaining lifetime (ms): the child is killed then. */
  readonly ttlMs: number;
}

/** Options of {@linkcode ExecutorSpawner}. */
export interface ExecutorSpawnerOptions {
  /** Executors running at once (default {@linkcode DEFAULT_MAX_CONCURRENT}). */
  readonly maxConcurrent?: number;
  /** Calls waiting for a slot before {@linkcode ExecutorBusyError} (default {@linkcode DEFAULT_MAX_QUEUED}). */
  readonly maxQueued?: number;
  /** Time limit of a call that sets none (default {@linkcode DEFAULT_TIMEOUT_MS}). */
  readonly defaultTimeoutMs?: number;
  /** Output cap of a call that sets none (default 1 MiB). */
  readonly defaultMaxOutputBytes?: number;
  /** Stderr kept for the debug log (default {@linkcode DEFAULT_MAX_STDERR_BYTES}). */
  readonly maxStderrBytes?: number;
  /** Time after the deadline before SIGKILL (default {@linkcode DEFAULT_KILL_GRACE_MS}). */
  readonly killGraceMs?: number;
  /**
   * Memory limit of each child (MiB, default
   * {@linkcode DEFAULT_EXECUTOR_MEMORY_MB}): its V8 heap cap is
   * {@linkcode executorHeapCapMb} of it, and the watchdog kills it when its
   * resident memory passes it (`EXECUTOR_MAX_MEMORY_MB`).
   */
  readonly maxMemoryMb?: number;
  /** `DENO_DIR` for the children (default: the gateway's, when readable). */
  readonly denoDir?: string;
  /** Another entry module per kind (tests only); the kind's flags still apply. */
  readonly modules?: Readonly<Partial<Record<ExecutorKind, URL>>>;
  /** Starts the process (default `new Deno.Command(...).spawn()`). */
  readonly spawn?: SpawnFunction;
  /**
   * Warm children waiting at once (default {@linkcode DEFAULT_WARM_MAX}, 0
   * turns warming off; `EXECUTOR_WARM_MAX`). Warm children share the
   * `maxConcurrent` budget with running calls, so that memory is bounded by
   * `maxConcurrent` children whatever warms: a child warms only in a free
   * slot, and a call that needs a slot pushes out the oldest warm child
   * (never its own).
   */
  readonly warmMax?: number;
  /**
   * Pace of warm starts: `warmMax` may start at once, then one more every
   * this many ms (default {@linkcode DEFAULT_WARM_PACE_MS}; 0: no pace). A
   * flood of get_credential calls would otherwise spawn a child for each,
   * only to push it out with the next one.
   */
  readonly warmPaceMs?: number;
}

/** Default of {@linkcode ExecutorSpawnerOptions.warmPaceMs}. */
export const DEFAULT_WARM_PACE_MS = 250;

/** Options of {@linkcode ExecutorSpawner.reserve}. */
export interface ReserveOptions {
  /** Time limit of the wait and the run together (ms). */
  readonly timeoutMs?: number;
  /** Cancels the wait. */
  readonly signal?: AbortSignal;
  /**
   * The id of the handle the call will redeem: `run` uses the child warmed
   * for it when the call matches it exactly, and kills it otherwise;
   * `release` without `run` kills it too (the handle was spent or is gone).
   */
  readonly handleId?: string;
}

/** A free executor slot held for one call. */
export interface ExecutorReservation {
  /**
   * Runs the call in the held slot and frees it; once. The call's
   * `timeoutMs`, if any, counts from the reservation, like the wait.
   */
  run<K extends Operation["kind"]>(
    call: ExecutorCall<K>,
  ): Promise<ExecutorOutcome<ResultOf<K>>>;
  /** Frees the slot without running anything; harmless after `run`. */
  release(): void;
}

/** Thrown when no executor slot freed up within the call's time limit. */
export class ExecutorWaitTimeoutError extends Error {
  /** Creates the error for the given limits. */
  constructor(maxConcurrent: number, timeoutMs: number) {
    super(
      `All ${maxConcurrent} executor slots stayed busy for ${
        seconds(timeoutMs)
      } s; retry in a few seconds or pass a larger timeout_seconds`,
    );
    this.name = "ExecutorWaitTimeoutError";
  }
}

/** Thrown when every slot is taken and the queue is full; retry later. */
export class ExecutorBusyError extends Error {
  /** Creates the error for the given limits. */
  constructor(maxConcurrent: number, maxQueued: number) {
    super(
      `All ${maxConcurrent} executor slots are busy and ${maxQueued} calls are waiting; retry in a few seconds`,
    );
    this.name = "ExecutorBusyError";
  }
}

/** The absolute path of a `file:` URL. */
function pathOf(url: URL): string {
  if (url.protocol !== "file:") {
    throw new TypeError(
      `Executor module ${
        url.href.slice(0, 80)
      } is not a local file; executors must run from the project's own files`,
    );
  }
  return decodeURIComponent(url.pathname);
}

const CONFIG_URL = new URL("../../deno.json", import.meta.url);

interface Waiter {
  readonly grant: () => void;
  /** The handle whose warm child the waiting call may take. */
  readonly handleId: string | undefined;
}

/**
 * Runs operations in sandboxed executor children, at most `maxConcurrent` at
 * once, with a bounded FIFO queue behind them.
 */
export class ExecutorSpawner implements ExecutorRunner {
  readonly #maxConcurrent: number;
  readonly #maxQueued: number;
  readonly #defaultTimeoutMs: number;
  readonly #defaultMaxOutputBytes: number;
  readonly #maxStderrBytes: number;
  readonly #killGraceMs: number;
  readonly #maxMemoryMb: number;
  readonly #env: Record<string, string>;
  readonly #configPath: string;
  readonly #projectDir: string;
  readonly #modules: Readonly<Partial<Record<ExecutorKind, URL>>>;
  readonly #spawn: SpawnFunction;
  readonly #monitor: RssMonitor | null;
  readonly #observers = new ExecutorObservers();
  readonly #warm: WarmPool;
  readonly #warmPaceMs: number;
  /** Warm starts allowed now (a token bucket of `warmMax`, refilled at the pace). */
  #warmTokens: number;
  #warmTokensAt = performance.now();
  #closed = false;
  /** Set by {@linkcode ExecutorSpawner.stopRunning}: no child starts any more. */
  #stopped = false;
  /** The children running a call now. */
  readonly #active = new Set<ExecutorProcess>();
  /** Children that answered and are exiting. */
  readonly #exiting = new Set<Promise<void>>();
  #running = 0;
  readonly #queue: Waiter[] = [];

  /**
   * Creates a spawner; nothing runs until {@linkcode ExecutorSpawner.run}.
   *
   * @throws {RangeError} when a limit is not a positive integer, or the
   *   memory limit is outside {@linkcode MIN_EXECUTOR_MEMORY_MB} to
   *   {@linkcode MAX_EXECUTOR_MEMORY_MB}
   * @throws {TypeError} when a module override is not a `file:` URL
   */
  constructor(options: ExecutorSpawnerOptions = {}) {
    this.#maxConcurrent = positiveInteger(
      "maxConcurrent",
      options.maxConcurrent ?? DEFAULT_MAX_CONCURRENT,
    );
    this.#maxQueued = nonNegativeInteger(
      "maxQueued",
      options.maxQueued ?? DEFAULT_MAX_QUEUED,
    );
    this.#defaultTimeoutMs = checkTimeout(
      options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS,
    );
    this.#defaultMaxOutputBytes = checkMaxOutput(
      options.defaultMaxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
    );
    this.#maxStderrBytes = positiveInteger(
      "maxStderrBytes",
      options.maxStderrBytes ?? DEFAULT_MAX_STDERR_BYTES,
    );
    this.#killGraceMs = nonNegativeInteger(
      "killGraceMs",
      options.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
    );
    this.#maxMemoryMb = checkMaxMemory(
      options.maxMemoryMb ?? DEFAULT_EXECUTOR_MEMORY_MB,
    );
    this.#configPath = pathOf(CONFIG_URL);
    this.#projectDir = pathOf(new URL(".", CONFIG_URL));
    const modules = options.modules ?? {};
    for (const url of Object.values(modules)) pathOf(url);
    this.#modules = modules;
    this.#spawn = options.spawn ??
      ((command, spawnOptions) =>
        new Deno.Command(command, spawnOptions).spawn());
    this.#warm = new WarmPool(
      checkWarmMax(options.warmMax ?? DEFAULT_WARM_MAX),
    );
    this.#warmPaceMs = options.warmPaceMs ?? DEFAULT_WARM_PACE_MS;
    if (!Number.isFinite(this.#warmPaceMs) || this.#warmPaceMs < 0) {
      throw new RangeError(
        `warmPaceMs must be 0 or more, not ${this.#warmPaceMs}`,
      );
    }
    this.#warmTokens = this.#warm.max;
    const denoDir = options.denoDir ?? gatewayDenoDir();
    this.#env = {
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
      ...(denoDir === undefined ? {} : { DENO_DIR: denoDir }),
    };
    // Only Linux has /proc; elsewhere only the heap cap holds.
    this.#monitor = Deno.build.os === "linux"
      ? new RssMonitor({
        configPath: this.#configPath,
        cwd: this.#projectDir,
        env: this.#env,
        intervalMs: MEMORY_WATCH_INTERVAL_MS,
      })
      : null;
  }

  /** Executors running now. */
  get running(): number {
    return this.#running;
  }

  /** Calls waiting for a slot now. */
  get queued(): number {
    return this.#queue.length;
  }

  /** The memory limit of each child (MiB). */
  get maxMemoryMb(): number {
    return this.#maxMemoryMb;
  }

  /** Warm children waiting now. */
  get warming(): number {
    return this.#warm.size;
  }

  /** Process ids of the warm children waiting now, oldest first. */
  warmPids(): number[] {
    return this.#warm.pids();
  }

  /** Slots held, calls waiting and warm children now, and the slots in all. */
  stats(): ExecutorStats {
    return {
      running: this.#running,
      queued: this.#queue.length,
      warm: this.#warm.size,
      slots: this.#maxConcurrent,
    };
  }

  /**
   * Tells `observer` of every child that runs a call from now on (kind,
   * warm or cold, run time) and every call refused for want of a slot
   * (queue full, or no slot in time); returns the function that stops it.
   */
  observe(observer: ExecutorObserver): () => void {
    return this.#observers.add(observer);
  }

  /**
   * Starts a child for the call a handle's scope predicts: spawned with
   * exactly the command line a cold call of this kind and target gets,
   * under the same memory watchdog, its modules loading, then blocked on
   * its stdin, which stays empty until a call takes it. A later call takes
   * it when it reserves with this `handleId` and its own command line is
   * the same; otherwise it is killed when the handle's call runs or its
   * reservation is released, after `ttlMs`, when `warmMax` newer ones
   * push it out (oldest first), or on {@linkcode ExecutorSpawner.close}.
   * Returns false when nothing was started (warming off, closed, or a child
   * waits for this handle already).
   *
   * @throws {TypeError} when the target or the kind is invalid (nothing is spawned)
   */
  warm(request: WarmRequest): boolean {
    const target = validateTarget(request.target.host, request.target.port);
    const args = this.#argsFor(request.kind, target);
    if (this.#closed || this.#warm.has(request.handleId)) return false;
    if (this.#warm.max === 0) return false;
    // Warming uses a slot no call runs in: a busy service runs calls, not
    // guesses. Nothing is pushed out unless a child will start.
    if (this.#running >= this.#maxConcurrent) return false;
    if (!this.#takeWarmToken()) return false;
    // Among warm children the newest handle wins.
    this.#warm.makeRoom();
    while (this.#running + this.#warm.size >= this.#maxConcurrent) {
      if (!this.#warm.evictOldest()) return false;
    }
    const process = this.#launch(args);
    this.#warm.add(
      {
        handleId: request.handleId,
        kind: request.kind,
        target: allowNetFlag(target).slice("--allow-net=".length),
      },
      process,
      request.ttlMs,
    );
    return true;
  }

  /**
   * Resolves once every child that answered its call has exited (its slot
   * freed, its stderr logged); a call's promise resolves at its answer,
   * a few milliseconds before that.
   */
  async settled(): Promise<void> {
    await Promise.all(this.#exiting);
  }

  /**
   * Kills every warm child and waits until they and the children that
   * already answered their call are gone; later `warm` calls start nothing.
   * Calls still running finish under their own limits.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#warm.close();
    await Promise.all(this.#exiting);
  }

  /**
   * Stops every operation for good, as the service's shutdown does when
   * its grace period (`SHUTDOWN_GRACE_SECONDS`) has passed: the children
   * running a call are killed (SIGKILL), and their calls, and every call
   * that gets a slot from now on, end with an `internal` failure that says
   * the service is shutting down. Warm children are left to
   * {@linkcode ExecutorSpawner.close}.
   *
   * @returns how many running children were killed
   */
  stopRunning(): number {
    this.#stopped = true;
    const active = [...this.#active];
    for (const process of active) process.stop("shutdown");
    return active.length;
  }

  /**
   * Runs one operation in a fresh child and returns its scrubbed outcome:
   * {@linkcode ExecutorSpawner.reserve} and then the reservation's `run`.
   * A timeout (while queued or running) is an outcome with code `timeout`;
   * a child that breaks the protocol gives code `internal`.
   *
   * @throws {TypeError} when the target or the operation kind is invalid
   *   (nothing is spawned)
   * @throws {RangeError} when a limit is out of range or the request is too large
   * @throws {ExecutorBusyError} when all slots are busy and the queue is full
   * @throws the signal's reason when `call.signal` aborts
   */
  async run<K extends Operation["kind"]>(
    call: ExecutorCall<K>,
  ): Promise<ExecutorOutcome<ResultOf<K>>> {
    const started = performance.now();
    const job = this.#prepare(call);
    let slot: HeldSlot;
    try {
      slot = await this.#hold({
        timeoutMs: job.timeoutMs,
        ...(call.signal === undefined ? {} : { signal: call.signal }),
      });
    } catch (error) {
      if (!(error instanceof ExecutorWaitTimeoutError)) throw error;
      return failed(
        "timeout",
        `The ${job.kind} operation timed out after ${
          seconds(job.timeoutMs)
        } s waiting for a free executor (${this.#maxConcurrent} running); retry later or raise its timeout`,
        {
          queuedMs: Math.round(performance.now() - started),
          runMs: 0,
          executor: "cold",
          pid: null,
        },
      );
    }
    return await slot.run(job, call, null);
  }

  /**
   * Waits for a free executor slot and holds it for one call, so that a
   * caller can do what must not happen before a slot is sure (redeeming a
   * single-use handle) between the wait and the run. The reservation's
   * `timeoutMs` covers the wait and the run.
   *
   * @throws {RangeError} when the time limit is out of range
   * @throws {ExecutorBusyError} when all slots are busy and the queue is full
   * @throws {ExecutorWaitTimeoutError} when no slot frees up in time
   * @throws the signal's reason when `options.signal` aborts
   */
  async reserve(options: ReserveOptions = {}): Promise<ExecutorReservation> {
    const slot = await this.#hold(options);
    const { handleId } = options;
    let warmSettled = handleId === undefined;
    // The handle is spent or gone once its call runs or gives up: a warm
    // child the call does not take would wait for nothing.
    const settleWarm = (
      args: readonly string[] | null,
    ): ExecutorProcess | null => {
      if (warmSettled || handleId === undefined) return null;
      warmSettled = true;
      if (args === null) {
        this.#warm.discard(handleId, "consumed");
        return null;
      }
      return this.#warm.take(handleId, args);
    };
    return {
      run: async (call) => {
        let job;
        try {
          job = this.#prepare(call);
        } catch (error) {
          settleWarm(null);
          slot.release(); // an invalid call frees the slot, as a run would
          throw error;
        }
        return await slot.run(job, call, settleWarm(job.args));
      },
      release: () => {
        settleWarm(null);
        slot.release();
      },
    };
  }

  /** Waits for a slot and returns it held, for one prepared call. */
  async #hold(options: ReserveOptions): Promise<HeldSlot> {
    const started = performance.now();
    const timeoutMs = checkTimeout(options.timeoutMs ?? this.#defaultTimeoutMs);
    options.signal?.throwIfAborted();
    const deadline = started + timeoutMs;
    let acquired: boolean;
    try {
      acquired = await this.#acquire(
        deadline,
        options.signal,
        options.handleId,
      );
    } catch (error) {
      if (error instanceof ExecutorBusyError) {
        this.#observers.refused("queue_full");
      }
      throw error;
    }
    if (!acquired) {
      this.#observers.refused("queue_timeout");
      throw new ExecutorWaitTimeoutError(this.#maxConcurrent, timeoutMs);
    }
    const queuedMs = Math.round(performance.now() - started);
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      this.#release();
    };
    return {
      run: async <K extends Operation["kind"]>(
        job: PreparedCall<K>,
        call: ExecutorCall<K>,
        warm: ExecutorProcess | null,
      ): Promise<ExecutorOutcome<ResultOf<K>>> => {
        if (!held) {
          void warm?.dispose();
          throw new TypeError(
            "This executor reservation was used or released already; reserve a slot for every call",
          );
        }
        let run: ChildRun<K>;
        try {
          run = await this.#runPrepared(job, call, {
            deadline: Math.min(deadline, started + job.timeoutMs),
            queuedMs,
            warm,
          });
        } catch (error) {
          release();
          throw error;
        }
        // The slot stays taken until the child has exited, so running
        // children never outnumber EXECUTOR_MAX_CONCURRENT.
        this.#exiting.add(run.exited);
        void run.exited.finally(() => {
          this.#exiting.delete(run.exited);
          release();
        });
        return run.outcome;
      },
      release,
    };
  }

  /** Validates a call and builds the child's command line; spawns nothing. */
  #prepare<K extends Operation["kind"]>(
    call: ExecutorCall<K>,
  ): PreparedCall<K> {
    const target = validateTarget(call.target.host, call.target.port);
    const operation = OperationSchema.safeParse(call.operation);
    if (!operation.success) {
      throw new TypeError(
        `Invalid executor operation (at ${
          issuePaths(operation.error.issues)
        }); build it from the protocol's OperationSchema`,
      );
    }
    const kind = operation.data.kind as K;
    return {
      kind,
      target,
      operation: operation.data,
      timeoutMs: checkTimeout(call.timeoutMs ?? this.#defaultTimeoutMs),
      maxOutputBytes: checkMaxOutput(
        call.maxOutputBytes ?? this.#defaultMaxOutputBytes,
      ),
      args: this.#argsFor(kind, target),
    };
  }

  /**
   * The command line of a child of this kind for this target: the one
   * definition cold and warm children share.
   */
  #argsFor(kind: ExecutorKind, target: Target): string[] {
    if (!Object.hasOwn(EXECUTORS, kind)) {
      throw new TypeError(
        `Unknown executor kind "${
          String(kind).slice(0, 40)
        }"; add it to EXECUTORS in executors/spawner/executor_args.ts`,
      );
    }
    const modulePath = pathOf(
      this.#modules[kind] ?? new URL(EXECUTORS[kind].module, import.meta.url),
    );
    return executorArgs(kind, target, {
      configPath: this.#configPath,
      modulePath,
      maxHeapMb: executorHeapCapMb(this.#maxMemoryMb),
    });
  }

  /** Spawns a child with these arguments under its memory watchdog. */
  #launch(args: readonly string[]): ExecutorProcess {
    return new ExecutorProcess({
      args,
      env: this.#env,
      cwd: this.#projectDir,
      spawn: this.#spawn,
      monitor: this.#monitor,
      maxMemoryMb: this.#maxMemoryMb,
      maxStderrBytes: this.#maxStderrBytes,
    });
  }

  /** Seals the request and runs the child in a slot already held. */
  async #runPrepared<K extends Operation["kind"]>(
    job: PreparedCall<K>,
    call: ExecutorCall<K>,
    slot: {
      deadline: number;
      queuedMs: number;
      warm: ExecutorProcess | null;
    },
  ): Promise<ChildRun<K>> {
    if (call.signal?.aborted) {
      void slot.warm?.dispose();
      call.signal.throwIfAborted();
    }
    let sealed: SealedRequest;
    try {
      sealed = sealRequest(call.credential, {
        target: job.target,
        operation: job.operation,
        limits: {
          timeoutMs: Math.max(
            1,
            Math.round(slot.deadline - performance.now()),
          ),
          maxOutputBytes: job.maxOutputBytes,
          killGraceMs: this.#killGraceMs,
        },
      });
    } catch (error) {
      void slot.warm?.dispose();
      throw error;
    }
    if (sealed.unscrubbable) {
      logger.warn(
        "A credential secret of user {username} is shorter than {min} characters and is not scrubbed from executor output; rotate it to a longer one",
        { username: call.credential.username, min: MIN_SCRUB_LENGTH },
      );
    }
    return await this.#runChild<K>({
      kind: job.kind,
      args: job.args,
      sealed,
      deadline: slot.deadline,
      timeoutMs: job.timeoutMs,
      maxOutputBytes: job.maxOutputBytes,
      queuedMs: slot.queuedMs,
      signal: call.signal,
      warm: slot.warm,
    });
  }

  /** Waits for a slot; resolves false when the deadline passes first. */
  #acquire(
    deadline: number,
    signal: AbortSignal | undefined,
    handleId: string | undefined,
  ): Promise<boolean> {
    if (this.#running < this.#maxConcurrent && this.#queue.length === 0) {
      this.#running++;
      this.#fitWarm(handleId);
      return Promise.resolve(true);
    }
    if (this.#queue.length >= this.#maxQueued) {
      return Promise.reject(
        new ExecutorBusyError(this.#maxConcurrent, this.#maxQueued),
      );
    }
    const { promise, resolve, reject } = Promise.withResolvers<boolean>();
    const leave = (): void => {
      const index = this.#queue.indexOf(waiter);
      if (index >= 0) this.#queue.splice(index, 1);
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = (): void => {
      leave();
      reject(signal?.reason);
    };
    const waiter: Waiter = {
      grant: () => {
        leave();
        this.#fitWarm(handleId);
        resolve(true);
      },
      handleId,
    };
    const timer = setTimeout(() => {
      leave();
      resolve(false);
    }, Math.max(0, deadline - performance.now()));
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#queue.push(waiter);
    return promise;
  }

  /** Takes one warm start from the bucket; false when the pace says wait. */
  #takeWarmToken(): boolean {
    if (this.#warmPaceMs === 0) return true;
    const now = performance.now();
    this.#warmTokens = Math.min(
      this.#warm.max,
      this.#warmTokens + (now - this.#warmTokensAt) / this.#warmPaceMs,
    );
    this.#warmTokensAt = now;
    if (this.#warmTokens < 1) return false;
    this.#warmTokens -= 1;
    return true;
  }

  /**
   * Pushes out the oldest warm children until running calls and warm
   * children fit `maxConcurrent` together; the child warmed for the call
   * that just got its slot (`keep`) stays, since the call will take it.
   */
  #fitWarm(keep: string | undefined): void {
    const own = keep !== undefined && this.#warm.has(keep) ? 1 : 0;
    while (this.#running + this.#warm.size - own > this.#maxConcurrent) {
      if (!this.#warm.evictOldest(keep)) return;
    }
  }

  /** Hands the slot to the oldest waiter, or frees it. */
  #release(): void {
    const next = this.#queue[0];
    if (next === undefined) {
      this.#running--;
    } else {
      next.grant();
    }
  }

  /**
   * Runs one call's child. Resolves with the outcome as soon as the child's
   * response is complete (a whole response line); `exited` settles once the
   * child has exited and its watchdog and timers are released, and the
   * call's slot must stay taken until then. A child that answered and then
   * lingers past the kill grace is killed (it held the secret).
   */
  async #runChild<K extends Operation["kind"]>(
    job: ChildJob<K>,
  ): Promise<ChildRun<K>> {
    const { kind, sealed } = job;
    if (this.#stopped) {
      sealed.bytes.fill(0);
      void job.warm?.dispose();
      return {
        outcome: failed("internal", shuttingDown(kind), {
          queuedMs: job.queuedMs,
          runMs: 0,
          executor: "cold",
          pid: null,
        }),
        exited: Promise.resolve(),
      };
    }
    // The request is written below, and only here: a warm child has had an
    // empty stdin until now.
    let process: ExecutorProcess;
    try {
      process = job.warm ?? this.#launch(job.args);
    } catch (error) {
      sealed.bytes.fill(0);
      throw error;
    }
    const { child } = process;
    this.#active.add(process);
    const executor = job.warm === null ? "cold" : "warm";
    const spawnedAt = job.warm === null ? process.spawnedAt : performance.now();
    const stop = (reason: StopReason): void => process.stop(reason);
    const timer = setTimeout(
      () => stop("timeout"),
      Math.max(0, job.deadline - performance.now()) + this.#killGraceMs,
    );
    let linger: ReturnType<typeof setTimeout> | undefined;
    const onAbort = (): void => stop("abort");
    job.signal?.addEventListener("abort", onAbort, { once: true });
    if (job.signal?.aborted) stop("abort");

    /** Waits for the exit and releases what watched the child. */
    const exit = async (
      stdout: ResponseRead | null,
    ): Promise<{ stderr: CappedBytes; status: Deno.CommandStatus }> => {
      try {
        const [stderr, status] = await Promise.all([
          process.stderr,
          child.status,
          stdout?.drained,
        ]);
        return { stderr, status };
      } finally {
        this.#active.delete(process);
        clearTimeout(timer);
        clearTimeout(linger);
        job.signal?.removeEventListener("abort", onAbort);
        await process.unwatch();
      }
    };

    const responseLimit = responseLimitBytes(job.maxOutputBytes);
    let stdout: ResponseRead;
    try {
      [stdout] = await Promise.all([
        readResponse(child.stdout, responseLimit, () => stop("overflow")),
        writeAndClose(child.stdin, sealed.bytes),
      ]);
    } catch (error) {
      stop("abort");
      await exit(null);
      throw error;
    }
    const timing = (): ExecutorTiming => ({
      queuedMs: job.queuedMs,
      runMs: Math.round(performance.now() - spawnedAt),
      executor,
      pid: child.pid,
    });
    const { scrubber } = sealed;

    if (stdout.complete && process.stopReason === null) {
      // Answered: nothing the child does now changes the outcome, so the
      // call returns while the process finishes exiting.
      const answered = timing();
      this.#observers.ran({ kind, executor, runMs: answered.runMs });
      job.signal?.removeEventListener("abort", onAbort);
      linger = setTimeout(() => stop("lingered"), this.#killGraceMs);
      const exited = exit(stdout).then(
        ({ stderr }) => {
          this.#logStderr(kind, child.pid, stderr, scrubber);
        },
        () => {},
      );
      return {
        outcome: this.#outcomeOf(kind, stdout, answered, scrubber, null, job),
        exited,
      };
    }

    const { stderr, status } = await exit(stdout);
    const stopReason = process.stopReason;
    const unwatchable = process.unwatchable;
    const ended = timing();
    this.#observers.ran({ kind, executor, runMs: ended.runMs });
    const stderrText = this.#logStderr(kind, child.pid, stderr, scrubber);
    const done = Promise.resolve();
    const settled = (
      outcome: ExecutorOutcome<ResultOf<K>>,
    ): ChildRun<K> => ({ outcome, exited: done });

    if (stopReason === "abort") {
      job.signal?.throwIfAborted();
    }
    if (stopReason === "shutdown") {
      return settled(failed("internal", shuttingDown(kind), ended));
    }
    if (stopReason === "timeout") {
      return settled(failed(
        "timeout",
        `The ${kind} operation timed out after ${
          seconds(job.timeoutMs)
        } s and its executor was stopped; raise the timeout or make the operation shorter`,
        ended,
      ));
    }
    if (stopReason === "overflow") {
      return settled(failed(
        "internal",
        `The ${kind} executor wrote more than ${responseLimit} bytes and was stopped; lower the output of the operation (its cap is ${job.maxOutputBytes} bytes per stream)`,
        ended,
      ));
    }
    const peakRssMb = process.peakMb;
    logger.debug("Executor {kind} (pid {pid}) peaked at {peakRssMb} MiB", {
      kind,
      pid: child.pid,
      peakRssMb,
    });
    if (stopReason === "unwatchable") {
      return settled(failed(
        "internal",
        `Cannot watch the memory of the ${kind} executor (${unwatchable}), so it was stopped; the gateway needs --allow-run for deno itself, as deno.json's start task grants, to start executors/children/rss_monitor.ts`,
        ended,
      ));
    }
    const outOfHeap = !status.success && V8_OUT_OF_MEMORY.test(stderrText);
    if (stopReason === "memory" || outOfHeap) {
      const limitMb = this.#maxMemoryMb;
      const cause = stopReason === "memory"
        ? `resident ${peakRssMb} MiB`
        : `its JavaScript heap, capped at ${
          executorHeapCapMb(limitMb)
        } MiB, ran out`;
      logger.warn(
        "Executor {kind} (pid {pid}) passed its memory limit of {limitMb} MiB ({cause}; peak RSS {peakRssMb} MiB) and was stopped",
        { kind, pid: child.pid, limitMb, cause, peakRssMb },
      );
      return settled(failed(
        "resource_limit",
        `The ${kind} executor passed its memory limit of ${limitMb} MiB (${cause}) and was stopped; raise EXECUTOR_MAX_MEMORY_MB or make the ${
          DB_KINDS.has(kind)
            ? "query return less (fewer result sets, LIMIT)"
            : "operation return less output"
        }`,
        ended,
      ));
    }
    return settled(
      this.#outcomeOf(kind, stdout, ended, scrubber, status, job),
    );
  }

  /** Writes what a child wrote to stderr, scrubbed, to the debug log; returns that text. */
  #logStderr(
    kind: string,
    pid: number,
    stderr: CappedBytes,
    scrubber: SealedRequest["scrubber"],
  ): string {
    const stderrText = stderr.overflowed
      ? scrubber.scrubCut(decode(stderr.bytes))
      : scrubber.scrub(decode(stderr.bytes));
    if (stderrText.length === 0) return stderrText;
    logger.debug("Executor {kind} (pid {pid}) wrote to stderr: {stderr}", {
      kind,
      pid,
      stderr: stderr.overflowed
        ? `${stderrText}\n[stderr truncated at ${this.#maxStderrBytes} bytes]`
        : stderrText,
    });
    return stderrText;
  }

  /**
   * The outcome a child's response gives: its result or failure, scrubbed
   * and capped, or `internal` for a missing or malformed response. `status`
   * is null when the child answered before it exited.
   */
  #outcomeOf<K extends Operation["kind"]>(
    kind: K,
    stdout: ResponseRead,
    timing: ExecutorTiming,
    scrubber: SealedRequest["scrubber"],
    status: Deno.CommandStatus | null,
    job: { readonly maxOutputBytes: number },
  ): ExecutorOutcome<ResultOf<K>> {
    const text = decode(stdout.bytes);
    if (text.trim().length === 0) {
      return failed(
        "internal",
        status === null
          ? `The ${kind} executor wrote an empty response; this is a bug in the executor`
          : status.signal === null
          ? `The ${kind} executor exited with ${
            describeStatus(status)
          } without a response; see the debug log for its stderr`
          : `The ${kind} executor was killed by ${
            describeStatus(status)
          } without a response (a crash, or the system's out-of-memory killer; its own memory limit is ${this.#maxMemoryMb} MiB, EXECUTOR_MAX_MEMORY_MB); see the debug log for its stderr`,
        timing,
      );
    }
    const decoded = decodeResponse(
      text,
      (value, cut) =>
        capText(
          cut ? scrubber.scrubCut(value) : scrubber.scrub(value),
          job.maxOutputBytes,
        ).text,
    );
    if (!decoded.ok && decoded.problem === "not_json") {
      logger.debug(
        "Executor {kind} wrote a response that is not JSON: {prefix}",
        {
          kind,
          prefix: scrubber.scrubCut(text.slice(0, 200)),
        },
      );
      return failed(
        "internal",
        `The ${kind} executor wrote a response that is not JSON (${
          status === null ? "before it exited" : describeStatus(status)
        }); this is a bug in the executor, see the debug log`,
        timing,
      );
    }
    if (!decoded.ok) {
      return failed(
        "internal",
        `The ${kind} executor wrote a response that does not match ${PROTOCOL_VERSION} (at ${decoded.at}); this is a bug in the executor`,
        timing,
      );
    }
    const response = decoded.response;
    if (response.ok) {
      if (!isResultOf(kind, response.result)) {
        return failed(
          "internal",
          `The ${kind} executor returned a ${response.result.kind} result; this is a bug in the executor`,
          timing,
        );
      }
      return { ok: true, result: response.result, timing };
    }
    return { ok: false, error: response.error, timing };
  }
}

/** The failure of a call that the service's shutdown stopped or refused. */
function shuttingDown(kind: string): string {
  return `The ${kind} operation was stopped because the service is shutting down (its SHUTDOWN_GRACE_SECONDS passed); run it again, another replica or the restarted service takes it`;
}

/** What V8 writes to stderr when a heap cap is reached (it then aborts). */
const V8_OUT_OF_MEMORY =
  /Fatal JavaScript out of memory|JavaScript heap out of memory|Fatal process out of memory/;

/** Executor kinds that run a database query. */
const DB_KINDS: ReadonlySet<string> = new Set(["postgres", "mysql", "mssql"]);

function isResultOf<K extends Operation["kind"]>(
  kind: K,
  result: OperationResult,
): result is ResultOf<K> {
  return result.kind === kind;
}

/** A slot held for one call: run it once, or release it. */
interface HeldSlot {
  run<K extends Operation["kind"]>(
    job: PreparedCall<K>,
    call: ExecutorCall<K>,
    warm: ExecutorProcess | null,
  ): Promise<ExecutorOutcome<ResultOf<K>>>;
  release(): void;
}

interface PreparedCall<K extends Operation["kind"]> {
  readonly kind: K;
  readonly target: { readonly host: string; readonly port: number };
  readonly operation: Operation;
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  readonly args: string[];
}

/** A call's outcome, and when its child has exited (its slot frees then). */
interface ChildRun<K extends Operation["kind"]> {
  readonly outcome: ExecutorOutcome<ResultOf<K>>;
  readonly exited: Promise<void>;
}

interface ChildJob<K extends Operation["kind"]> {
  readonly kind: K;
  readonly args: string[];
  readonly sealed: SealedRequest;
  readonly deadline: number;
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  readonly queuedMs: number;
  readonly signal: AbortSignal | undefined;
  /** The warm child taken for this call, or null to start a cold one. */
  readonly warm: ExecutorProcess | null;
}

/** Writes the request and closes stdin; a child that exited early is not an error here. */
async function writeAndClose(
  stdin: WritableStream<Uint8Array>,
  bytes: Uint8Array,
): Promise<void> {
  const writer = stdin.getWriter();
  try {
    await writer.write(bytes);
    await writer.close();
  } catch {
    // The child closed stdin (exited or was killed); its status tells why.
    await writer.abort().catch(() => {});
  } finally {
    bytes.fill(0);
    writer.releaseLock();
  }
}

function failed(
  code: ExecutorFailure["code"],
  message: string,
  timing: ExecutorTiming,
): ExecutorOutcome<never> {
  return { ok: false, error: { code, message }, timing };
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

function describeStatus(status: Deno.CommandStatus): string {
  return status.signal === null
    ? `exit code ${status.code}`
    : `signal ${status.signal}`;
}

function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

function gatewayDenoDir(): string | undefined {
  const state =
    Deno.permissions.querySync({ name: "env", variable: "DENO_DIR" })
      .state;
  return state === "granted" ? Deno.env.get("DENO_DIR") : undefined;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`Invalid ${name} ${value}: use a positive integer`);
  }
  return value;
}

function nonNegativeInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(
      `Invalid ${name} ${value}: use an integer of 0 or more`,
    );
  }
  return value;
}

function checkTimeout(value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > MAX_TIMEOUT_MS) {
    throw new RangeError(
      `Invalid executor timeout ${value} ms: use an integer from 1 to ${MAX_TIMEOUT_MS}`,
    );
  }
  return value;
}

function checkMaxMemory(value: number): number {
  if (
    !Number.isInteger(value) || value < MIN_EXECUTOR_MEMORY_MB ||
    value > MAX_EXECUTOR_MEMORY_MB
  ) {
    throw new RangeError(
      `Invalid executor memory limit ${value} MiB: use an integer from ${MIN_EXECUTOR_MEMORY_MB} to ${MAX_EXECUTOR_MEMORY_MB}`,
    );
  }
  return value;
}

function checkMaxOutput(value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > MAX_OUTPUT_BYTES_LIMIT) {
    throw new RangeError(
      `Invalid executor output cap ${value} bytes: use an integer from 1 to ${MAX_OUTPUT_BYTES_LIMIT}`,
    );
  }
  return value;
}

function checkWarmMax(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_WARM_MAX) {
    throw new RangeError(
      `Invalid warm executor bound ${value}: use an integer from 0 (warming off) to ${MAX_WARM_MAX}`,
    );
  }
  return value;
}
