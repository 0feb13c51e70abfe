/**
 * promtool (Debian's `prometheus` package) for the tests of
 * `deploy/prometheus/`: checks rule files and configurations and runs rule
 * unit tests. When it is missing it is installed with apt-get if `CI` is set;
 * otherwise the suites skip loudly.
 *
 * @module
 */

import { PROJECT_ROOT } from "./paths.ts";
import { announceSkip, missingToolReason } from "./skip.ts";

/** Debian's promtool binary. */
export const PROMTOOL = "/usr/bin/promtool";

let checked: Promise<string | null> | undefined;

/** Prints why promtool tests cannot run here (or nothing) and returns it, for `Deno.test({ ignore })`. */
export function announcePromtoolSkip(): Promise<string | null> {
  checked ??= announceSkip(missingToolReason(PROMTOOL, {
    aptPackage: "prometheus",
    suite: "promtool",
  }));
  return checked;
}

/** What a promtool run returned. */
export interface PromtoolResult {
  code: number;
  /** stdout and stderr together. */
  output: string;
}

/** Runs `promtool ...args` in `cwd` (default: the repository root). */
export async function promtool(
  args: string[],
  cwd: string = PROJECT_ROOT,
): Promise<PromtoolResult> {
  const { code, stdout, stderr } = await new Deno.Command(PROMTOOL, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code, output: text.decode(stdout) + text.decode(stderr) };
}
