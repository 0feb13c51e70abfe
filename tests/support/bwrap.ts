/**
 * bubblewrap (`bwrap`) for tests that run a process the way a read-only
 * container would: `/` mounted read-only, a fresh tmpfs on /tmp, the network
 * shared with the host.
 *
 * When bwrap is missing it is installed with apt-get if `CI` is set;
 * otherwise {@linkcode bwrapSkipReason} explains why the tests are skipped.
 *
 * @module
 */
import { announceSkip, missingToolReason } from "./skip.ts";

/** Where Debian's `bubblewrap` package installs the binary. */
export const BWRAP = "/usr/bin/bwrap";

let checked: Promise<string | null> | undefined;

/**
 * Why bwrap tests cannot run here, or `null` when they can.
 *
 * Installs bubblewrap with apt-get when `CI` is set and bwrap is missing.
 */
export function bwrapSkipReason(): Promise<string | null> {
  checked ??= findSkipReason();
  return checked;
}

async function findSkipReason(): Promise<string | null> {
  if (Deno.build.os !== "linux") {
    return "read-only filesystem tests skipped: bubblewrap runs on Linux only";
  }
  const missing = await missingToolReason(BWRAP, {
    aptPackage: "bubblewrap",
    suite: "read-only filesystem",
  });
  if (missing !== null) return missing;
  const probe = await new Deno.Command(BWRAP, {
    args: [...readOnlyRootArgs([]), "/bin/true"],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (probe.code !== 0) {
    const why = new TextDecoder().decode(probe.stderr).trim();
    if (Deno.env.get("CI")) {
      throw new Error(
        `Cannot use bubblewrap: ${why}; run CI as root or allow unprivileged user namespaces`,
      );
    }
    return `read-only filesystem tests skipped: bwrap cannot create its sandbox here (${why}); run as root`;
  }
  return null;
}

/**
 * Prints the skip reason to stderr so a skipped suite is never silent.
 * Returns the reason, for `Deno.test({ ignore })`.
 */
export function announceBwrapSkip(): Promise<string | null> {
  return announceSkip(bwrapSkipReason());
}

/**
 * bwrap arguments for a read-only root with a private tmpfs on /tmp (as
 * `docker run --read-only --tmpfs /tmp`), then each of `readOnlyPaths`
 * mounted read-only at its own path on top (so files under /tmp stay
 * visible). The network is not unshared. Ends with `--`.
 */
export function readOnlyRootArgs(
  readOnlyPaths: readonly string[],
  options: { chdir?: string; env?: Record<string, string> } = {},
): string[] {
  return [
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
    "--tmpfs",
    "/tmp",
    ...readOnlyPaths.flatMap((path) => ["--ro-bind", path, path]),
    ...Object.entries(options.env ?? {}).flatMap(([k, v]) => [
      "--setenv",
      k,
      v,
    ]),
    ...(options.chdir === undefined ? [] : ["--chdir", options.chdir]),
    "--die-with-parent",
    "--",
  ];
}
