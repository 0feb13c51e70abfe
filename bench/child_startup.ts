/**
 * Spawn to exit of one executor child with its real command line
 * (`executorArgs`) and an empty stdin, on which it answers `bad_request`
 * and exits: the start-up cost both `bench/main.ts` and
 * `bench/executor_startup_bench.ts` measure.
 *
 * @module
 */
import { executorArgs, EXECUTORS } from "../executors/spawner/executor_args.ts";
import { PROJECT_ROOT } from "../tests/support/gateway_process.ts";

/** An executor kind the benchmarks start. */
export type BenchKind = keyof typeof EXECUTORS;

const CONFIG_PATH = `${PROJECT_ROOT}deno.json`;

/** The entry module of a kind, as the spawner runs it. */
export function childEntryPath(kind: BenchKind): string {
  return new URL(
    EXECUTORS[kind].module,
    new URL("../executors/spawner/executor_args.ts", import.meta.url),
  ).pathname;
}

/**
 * Milliseconds from spawn to exit of `modulePath` under the flags of `kind`;
 * `extra` flags (bench only) go right after `run`.
 *
 * @throws {Error} when the child does not answer `bad_request`
 */
export async function spawnToExit(
  kind: BenchKind,
  modulePath: string = childEntryPath(kind),
  extra: readonly string[] = [],
): Promise<number> {
  const args = executorArgs(kind, { host: "127.0.0.1", port: 9 }, {
    configPath: CONFIG_PATH,
    modulePath,
    maxHeapMb: 96,
  });
  args.splice(1, 0, ...extra);
  const denoDir = Deno.env.get("DENO_DIR");
  const start = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: PROJECT_ROOT,
    clearEnv: true,
    env: {
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
      ...(denoDir === undefined ? {} : { DENO_DIR: denoDir }),
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const elapsed = performance.now() - start;
  const text = new TextDecoder().decode(out.stdout);
  if (!text.includes('"bad_request"')) {
    throw new Error(
      `${kind} child (${modulePath}) answered ${text.slice(0, 200)} ${
        new TextDecoder().decode(out.stderr).slice(0, 300)
      }`,
    );
  }
  return elapsed;
}
