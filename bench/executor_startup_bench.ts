/**
 * Where an executor child's start-up goes: spawn to exit of the child's real
 * command line (`executorArgs`) with an empty stdin (it answers
 * `bad_request` and exits), next to variants that take one cost away at a
 * time, interleaved in one run. Prints medians and p90 in ms.
 *
 *   deno run -A bench/executor_startup_bench.ts [N] [BUNDLE_DIR]
 *
 * Variants per executor (postgres, mysql, ssh):
 * - `entry`: the TypeScript entry module, as the spawner runs it today;
 * - `entry, no code cache`: the same with `--no-code-cache` (what a child
 *   pays when V8's code cache in DENO_DIR is missing or unreadable);
 * - `bundle`: BUNDLE_DIR/KIND.js when given (one file from `deno bundle`);
 * - `empty module`: a module that only answers, with the same flags (the
 *   floor: Deno's own start-up, the config and the lockfile).
 *
 * @module
 */
import { childEntryPath, spawnToExit } from "./child_startup.ts";
import { quantile } from "./stats.ts";

const n = Number(Deno.args[0] ?? "20");
const bundleDir = Deno.args[1];
const kinds = ["postgres", "mysql", "ssh"] as const;
const floorDir = await Deno.makeTempDir({ prefix: "mcp-startup-" });
const floorModule = `${floorDir}/empty.js`;
await Deno.writeTextFile(
  floorModule,
  "await Deno.stdout.write(new TextEncoder().encode('\"bad_request\"'));\n",
);

const cases: [string, () => Promise<number>][] = [];
for (const kind of kinds) {
  cases.push([`${kind}: entry`, () => spawnToExit(kind, childEntryPath(kind))]);
  cases.push([
    `${kind}: entry, no code cache`,
    () => spawnToExit(kind, childEntryPath(kind), ["--no-code-cache"]),
  ]);
  if (bundleDir !== undefined) {
    cases.push([
      `${kind}: bundle`,
      () => spawnToExit(kind, `${bundleDir}/${kind}.js`),
    ]);
  }
}
cases.push(["empty module (floor)", () => spawnToExit("probe", floorModule)]);

const samples = new Map<string, number[]>(cases.map(([name]) => [name, []]));
try {
  for (const [, run] of cases) await run();
  for (let i = 0; i < n; i++) {
    for (const [name, run] of cases) samples.get(name)!.push(await run());
  }
} finally {
  await Deno.remove(floorDir, { recursive: true });
}
// deno-lint-ignore no-console
const say = (line: string): void => console.log(line);
say(`n=${n} per case, interleaved, spawn to exit in ms`);
say("| case | median | p90 |");
say("|---|---|---|");
for (const [name, values] of samples) {
  say(
    `| ${name} | ${quantile(values, 0.5).toFixed(1)} | ${
      quantile(values, 0.9).toFixed(1)
    } |`,
  );
}
