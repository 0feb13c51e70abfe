/**
 * buildah for tests that build the real Dockerfile without a Docker engine:
 * the local Deno base image (scripts/container/build_base.sh), `buildah bud`
 * with chroot isolation, the built image's configuration as an engine reads
 * it (User, WorkingDir, Env, Entrypoint, Cmd, Healthcheck), and a working
 * container whose root filesystem is mounted on the host.
 *
 * Needs root, buildah, mmdebstrap and npm. When buildah or mmdebstrap is
 * missing it is installed with apt-get if `CI` is set; otherwise
 * {@linkcode containerSkipReason} explains why the tests are skipped.
 *
 * @module
 */
import { announceSkip, missingToolReason } from "./skip.ts";
import { PROJECT_ROOT } from "./paths.ts";

/** Where Debian's `buildah` package installs the binary. */
export const BUILDAH = "/usr/bin/buildah";

/** The script that assembles the local base image. */
export const BUILD_BASE_SCRIPT =
  `${PROJECT_ROOT}scripts/container/build_base.sh`;

let checked: Promise<string | null> | undefined;

/**
 * Why the container build tests cannot run here, or `null` when they can.
 *
 * Installs buildah and mmdebstrap with apt-get when `CI` is set.
 *
 * @throws {Error} when `CI` is set and the tests cannot run
 */
export function containerSkipReason(): Promise<string | null> {
  checked ??= findSkipReason();
  return checked;
}

async function findSkipReason(): Promise<string | null> {
  const suite = "container build";
  if (Deno.build.os !== "linux") {
    return `${suite} tests skipped: buildah and mmdebstrap run on Linux only`;
  }
  if (Deno.uid() !== 0) {
    const why =
      `${suite} tests skipped: buildah mount and mmdebstrap need root; run the tests as root`;
    if (Deno.env.get("CI")) throw new Error(`Cannot run the ${why}`);
    return why;
  }
  for (
    const [path, aptPackage] of [
      [BUILDAH, "buildah"],
      ["/usr/bin/mmdebstrap", "mmdebstrap"],
      ["/usr/bin/npm", "npm"],
    ] as const
  ) {
    const missing = await missingToolReason(path, { aptPackage, suite });
    if (missing !== null) return missing;
  }
  return null;
}

/**
 * Prints the skip reason to stderr so a skipped suite is never silent.
 * Returns the reason, for `Deno.test({ ignore })`.
 */
export function announceContainerSkip(): Promise<string | null> {
  return announceSkip(containerSkipReason());
}

/** What a finished command printed. */
interface Output {
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to its end and returns what it printed.
 *
 * @throws {Error} naming the command and quoting its stderr when it fails
 */
async function run(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Output> {
  const output = await new Deno.Command(command, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array): string => new TextDecoder().decode(b);
  const result = {
    stdout: decode(output.stdout),
    stderr: decode(output.stderr),
  };
  if (output.code !== 0) {
    throw new Error(
      `Cannot run ${command} ${
        args.slice(0, 2).join(" ")
      }: exit ${output.code}: ${
        result.stderr.trim().split("\n").slice(-15).join("\n")
      }`,
    );
  }
  return result;
}

/** Runs buildah with these arguments and returns its stdout. */
export async function buildah(args: string[]): Promise<string> {
  return (await run(BUILDAH, args)).stdout;
}

/**
 * Builds (once per machine) or reuses the local Deno base image and returns
 * its name, e.g. `localhost/deno-base:debian-2.9.6`.
 */
export async function buildBaseImage(): Promise<string> {
  const { stdout } = await run(BUILD_BASE_SCRIPT, []);
  const name = stdout.trim().split("\n").at(-1) ?? "";
  if (name === "") {
    throw new Error(
      `Cannot build the base image: ${BUILD_BASE_SCRIPT} printed no image name`,
    );
  }
  return name;
}

/**
 * The CA bundle this machine's Deno trusts beyond its own roots
 * (`DENO_CERT`, else `NODE_EXTRA_CA_CERTS`): behind a TLS-inspecting proxy,
 * `deno install` in the build needs it as the build secret `build_ca`.
 */
export function hostExtraCaBundle(): string | undefined {
  for (const name of ["DENO_CERT", "NODE_EXTRA_CA_CERTS"]) {
    const path = Deno.env.get(name);
    if (path !== undefined && path !== "") return path;
  }
  return undefined;
}

/** Options of {@linkcode buildImage}. */
export interface BuildImageOptions {
  /** The value of the Dockerfile's `ARG BASE_IMAGE`. */
  baseImage: string;
  /** The name of the built image. */
  tag: string;
  /** A PEM file passed as the build secret `build_ca`. */
  caBundle?: string;
}

/**
 * `buildah bud` of the repository's Dockerfile with the repository as the
 * build context, chroot isolation (no container runtime needed) and the
 * Docker image format (the OCI format has no HEALTHCHECK). Never pulls.
 */
export async function buildImage(options: BuildImageOptions): Promise<void> {
  await run(BUILDAH, [
    "bud",
    "--isolation",
    "chroot",
    "--format",
    "docker",
    "--pull=never",
    "--quiet",
    "--build-arg",
    `BASE_IMAGE=${options.baseImage}`,
    ...(options.caBundle === undefined
      ? []
      : ["--secret", `id=build_ca,src=${options.caBundle}`]),
    "--file",
    `${PROJECT_ROOT}Dockerfile`,
    "--tag",
    options.tag,
    PROJECT_ROOT,
  ]);
}

/** What a container engine reads from an image to run it. */
export interface ImageConfig {
  /** `USER`: a name or uid, with an optional `:group`; "" means root. */
  user: string;
  /** `WORKDIR`; "" means `/`. */
  workingDir: string;
  /** `ENV`, as `NAME=value` strings. */
  env: string[];
  entrypoint: string[];
  cmd: string[];
  /** `HEALTHCHECK`'s test (`["CMD", ...]` or `["CMD-SHELL", "..."]`), if any. */
  healthcheck: string[] | undefined;
}

/** The configuration of a Docker-format image in buildah's storage. */
export async function imageConfig(image: string): Promise<ImageConfig> {
  const inspected = JSON.parse(
    await buildah(["inspect", "--type", "image", image]),
  ) as {
    Docker?: {
      config?: {
        User?: string;
        WorkingDir?: string;
        Env?: string[] | null;
        Entrypoint?: string[] | null;
        Cmd?: string[] | null;
        Healthcheck?: { Test?: string[] | null } | null;
      };
    };
  };
  const config = inspected.Docker?.config;
  if (config === undefined) {
    throw new Error(
      `Cannot read the configuration of ${image}: it has no Docker config; build it with --format docker`,
    );
  }
  return {
    user: config.User ?? "",
    workingDir: config.WorkingDir ?? "",
    env: config.Env ?? [],
    entrypoint: config.Entrypoint ?? [],
    cmd: config.Cmd ?? [],
    healthcheck: config.Healthcheck?.Test ?? undefined,
  };
}

/** Removes an image; does nothing when it is not there. */
export async function removeImage(image: string): Promise<void> {
  await new Deno.Command(BUILDAH, {
    args: ["rmi", "--force", image],
    stdout: "null",
    stderr: "null",
  }).output();
}

/** A buildah working container with its root filesystem mounted. */
export interface MountedContainer {
  /** The container's name. */
  name: string;
  /** Where its root filesystem (the overlay's merged view) is mounted. */
  rootfs: string;
  /** The container's own writable layer, where any write to it would land. */
  upperDir: string;
  /** Unmounts and removes the container (the image stays). */
  remove(): Promise<void>;
}

/** The `upperdir=` of the overlay mounted at `mountPoint`. */
async function overlayUpperDir(mountPoint: string): Promise<string> {
  const mountInfo = await Deno.readTextFile("/proc/self/mountinfo");
  for (const line of mountInfo.split("\n")) {
    const [mountFields, superFields] = line.split(" - ");
    if (mountFields?.split(" ")[4] !== mountPoint) continue;
    const options = superFields?.split(" ")[2] ?? "";
    const upper = options.split(",").find((o) => o.startsWith("upperdir="));
    if (upper !== undefined) return upper.slice("upperdir=".length);
  }
  throw new Error(
    `Cannot find the overlay mounted at ${mountPoint} in /proc/self/mountinfo; use buildah's overlay storage driver`,
  );
}

/**
 * Creates a working container named `name` from `image` (replacing one left
 * by an earlier run) and mounts its root filesystem.
 */
export async function mountContainer(
  image: string,
  name: string,
): Promise<MountedContainer> {
  await removeContainer(name);
  await buildah(["from", "--pull=never", "--quiet", "--name", name, image]);
  try {
    const rootfs = (await buildah(["mount", name])).trim();
    const upperDir = await overlayUpperDir(rootfs);
    return { name, rootfs, upperDir, remove: () => removeContainer(name) };
  } catch (error) {
    await removeContainer(name);
    throw error;
  }
}

async function removeContainer(name: string): Promise<void> {
  for (const args of [["umount", name], ["rm", name]]) {
    await new Deno.Command(BUILDAH, {
      args,
      stdout: "null",
      stderr: "null",
    }).output();
  }
}
