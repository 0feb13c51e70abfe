/**
 * The command line of one executor child, and the allowlist it is checked
 * against: `--allow-net` for exactly the target, plus a fixed table of extra
 * flags per kind; nothing else, ever.
 *
 * @module
 */
import type { Target } from "../protocol/mod.ts";
import { allowNetFlag } from "./target.ts";

/** Flags every child gets, before `--config`. */
export const BASE_FLAGS: readonly string[] = [
  "--no-prompt",
  "--cached-only",
  "--frozen-lockfile",
];

/**
 * The only permission flags besides `--allow-net` that any executor may get.
 * Never `--allow-read`, `--allow-write`, `--allow-run`, `--allow-ffi`, a broad
 * `--allow-sys`, `--allow-import` or `-A`.
 */
export const PERMITTED_EXTRA_FLAGS: ReadonlySet<string> = new Set([
  // pg reads PGSSLMODE and friends even when every option is explicit.
  "--allow-env=PG*",
  // The `debug` package under tedious enumerates process.env at import; with
  // a cleared environment this exposes only DENO_DIR, NO_COLOR and
  // DENO_NO_UPDATE_CHECK.
  "--allow-env",
]);

/**
 * The one form of `--v8-flags` an executor may get: a cap on V8's old space
 * in MiB, `--v8-flags=--max-old-space-size=N`. It grants nothing: it makes a
 * child whose JavaScript heap outgrows its share of the memory limit
 * (`EXECUTOR_MAX_MEMORY_MB`) abort with "Fatal JavaScript out of memory"
 * instead of growing until the parent's watchdog kills it. No other V8 flag
 * is accepted (some, like `--allow-natives-syntax`, would weaken the
 * runtime).
 */
export const PERMITTED_HEAP_FLAG =
  /^--v8-flags=--max-old-space-size=[1-9][0-9]{0,5}$/;

/** The heap-cap flag for `maxHeapMb` MiB (see {@linkcode PERMITTED_HEAP_FLAG}). */
export function heapCapFlag(maxHeapMb: number): string {
  return `--v8-flags=--max-old-space-size=${maxHeapMb}`;
}

/** Child entry module (relative to this folder) and extra flags of one kind. */
export interface ExecutorSpec {
  /** Entry module, relative to `executors/`. */
  readonly module: string;
  /** Flags beyond `--allow-net`; each must be in {@linkcode PERMITTED_EXTRA_FLAGS}. */
  readonly extraFlags: readonly string[];
}

/**
 * Every executor kind, its entry module and its extra flags.
 * The mssql executor must set `options.workstationId`: without it tedious
 * calls `os.hostname()`, which would need `--allow-sys=hostname`.
 */
export const EXECUTORS = {
  probe: { module: "../children/probe_executor.ts", extraFlags: [] },
  ssh: { module: "../children/ssh_executor.ts", extraFlags: [] },
  postgres: {
    module: "../children/postgres_executor.ts",
    extraFlags: ["--allow-env=PG*"],
  },
  mysql: { module: "../children/mysql_executor.ts", extraFlags: [] },
  mssql: {
    module: "../children/mssql_executor.ts",
    extraFlags: ["--allow-env"],
  },
  powershell: { module: "../children/powershell_executor.ts", extraFlags: [] },
} as const satisfies Record<string, ExecutorSpec>;

/** Name of an executor kind; every operation kind of the protocol is one. */
export type ExecutorKind = keyof typeof EXECUTORS;

// Checked once at load, so a bad table entry stops the gateway from starting.
for (const [kind, spec] of Object.entries(EXECUTORS)) {
  for (const flag of spec.extraFlags) {
    if (!PERMITTED_EXTRA_FLAGS.has(flag)) {
      throw new TypeError(
        `Executor kind "${kind}" lists the flag "${flag}", which is not permitted; remove it or justify it in PERMITTED_EXTRA_FLAGS`,
      );
    }
  }
}

/** Absolute paths and the heap cap a child's command line needs. */
export interface ExecutorPaths {
  /** Absolute path of the project's `deno.json`. */
  readonly configPath: string;
  /** Absolute path of the child's entry module. */
  readonly modulePath: string;
  /** The V8 old-space cap (MiB); every executor runs with one. */
  readonly maxHeapMb: number;
}

/**
 * Builds and checks the arguments of `deno` for one executor:
 * `run --no-prompt --cached-only --frozen-lockfile --config CONFIG
 * --allow-net=HOST:PORT [extra flags] --v8-flags=--max-old-space-size=N
 * MODULE`.
 *
 * @throws {TypeError} when the target is invalid, the kind is unknown, or the
 *   result would hold any flag outside the fixed allowlist
 * @throws {RangeError} when `maxHeapMb` is not an integer from 1 to 999999
 */
export function executorArgs(
  kind: ExecutorKind,
  target: Target,
  paths: ExecutorPaths,
): string[] {
  if (!Object.hasOwn(EXECUTORS, kind)) {
    throw new TypeError(
      `Unknown executor kind "${
        String(kind).slice(0, 40)
      }"; add it to EXECUTORS in executors/spawner/executor_args.ts`,
    );
  }
  const spec: ExecutorSpec = EXECUTORS[kind];
  for (const path of [paths.configPath, paths.modulePath]) {
    if (!path.startsWith("/")) {
      throw new TypeError(
        `Executor path "${
          path.slice(0, 80)
        }" is not absolute; resolve it from import.meta.url`,
      );
    }
  }
  if (
    !Number.isInteger(paths.maxHeapMb) || paths.maxHeapMb < 1 ||
    paths.maxHeapMb > 999_999
  ) {
    throw new RangeError(
      `Invalid executor heap cap ${paths.maxHeapMb} MiB: use an integer from 1 to 999999`,
    );
  }
  const args = [
    "run",
    ...BASE_FLAGS,
    "--config",
    paths.configPath,
    allowNetFlag(target),
    ...spec.extraFlags,
    heapCapFlag(paths.maxHeapMb),
    paths.modulePath,
  ];
  assertSandboxArgs(args, spec);
  return args;
}

/** Refuses any argument list that grants more than the sandbox allows. */
function assertSandboxArgs(args: readonly string[], spec: ExecutorSpec): void {
  const refuse = (arg: string): never => {
    throw new TypeError(
      `Refusing to start an executor with the argument "${
        arg.slice(0, 80)
      }"; executors get --allow-net=HOST:PORT, one heap cap and flags from PERMITTED_EXTRA_FLAGS only`,
    );
  };
  if (args[0] !== "run") refuse(args[0] ?? "");
  let netFlags = 0;
  let heapFlags = 0;
  for (let i = 1; i < args.length - 1; i++) {
    const arg = args[i]!;
    if (arg === "--config") {
      i++;
      continue;
    }
    if (BASE_FLAGS.includes(arg)) continue;
    if (arg.startsWith("--allow-net=")) {
      const grant = arg.slice("--allow-net=".length);
      if (grant.includes(",") || grant.length === 0 || ++netFlags > 1) {
        refuse(arg);
      }
      continue;
    }
    if (PERMITTED_HEAP_FLAG.test(arg)) {
      if (++heapFlags > 1) refuse(arg);
      continue;
    }
    if (PERMITTED_EXTRA_FLAGS.has(arg) && spec.extraFlags.includes(arg)) {
      continue;
    }
    refuse(arg);
  }
  const module = args[args.length - 1] ?? "";
  if (netFlags !== 1 || heapFlags !== 1 || module.startsWith("-")) {
    refuse(module);
  }
}
