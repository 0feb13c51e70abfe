/**
 * Skipping a suite loudly when the machine lacks what it needs: the reason is
 * printed, and under `CI` a missing Debian package is installed instead (or
 * the suite fails), so a CI run never skips in silence.
 *
 * @module
 */

/**
 * Prints the skip reason to stderr so a skipped suite is never silent, and
 * returns it for `Deno.test({ ignore })`.
 */
export async function announceSkip(
  reason: Promise<string | null>,
): Promise<string | null> {
  const text = await reason;
  if (text !== null) {
    Deno.stderr.writeSync(
      new TextEncoder().encode(`\n*** WARNING: ${text} ***\n\n`),
    );
  }
  return text;
}

/** Whether `path` exists. */
export async function fileExists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Installs a Debian package; returns what apt-get printed on failure, or "". */
async function aptInstall(pkg: string): Promise<string> {
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const install = (): Promise<Deno.CommandOutput> =>
    new Deno.Command("apt-get", {
      args: ["install", "-y", "--no-install-recommends", pkg],
      env,
      stdout: "null",
      stderr: "piped",
    }).output();
  let result = await install();
  if (result.code !== 0) {
    await new Deno.Command("apt-get", {
      args: ["update"],
      env,
      stdout: "null",
      stderr: "null",
    }).output();
    result = await install();
  }
  return result.code === 0 ? "" : new TextDecoder().decode(result.stderr);
}

/** Options of {@linkcode missingToolReason}. */
export interface MissingToolOptions {
  /** The Debian package that installs the tool, e.g. `openssh-server`. */
  aptPackage: string;
  /** What the skip reason calls the suite, e.g. `SSH`. */
  suite: string;
}

/**
 * Why a suite cannot run for lack of the program at `path`, or `null` when
 * it is there. Installs the package with apt-get when `CI` is set.
 *
 * @throws {Error} when `CI` is set and the package cannot be installed
 */
export async function missingToolReason(
  path: string,
  options: MissingToolOptions,
): Promise<string | null> {
  if (await fileExists(path)) return null;
  const { aptPackage, suite } = options;
  if (!Deno.env.get("CI")) {
    return `${suite} tests skipped: ${path} is missing; install it with "apt-get install -y ${aptPackage}" or set CI=1 to let the tests install it`;
  }
  const problem = await aptInstall(aptPackage);
  if (!(await fileExists(path))) {
    throw new Error(
      `Cannot install ${aptPackage} for the ${suite} tests: ${problem.trim()}; install it in the CI image`,
    );
  }
  return null;
}
