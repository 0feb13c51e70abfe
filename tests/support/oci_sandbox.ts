/**
 * Running a process of a built image the way a container engine runs it
 * with `--read-only --tmpfs /tmp`, without the engine: bubblewrap over the
 * image's mounted root filesystem, read-only, with fresh /proc, /dev and a
 * tmpfs on /tmp, its own pid, IPC and UTS namespaces, and the network shared
 * with the host (so the container reaches fixtures on the host's loopback).
 *
 * Everything comes from the image's configuration, as an engine reads it:
 * the process runs as the image's `USER`, resolved in the image's own
 * /etc/passwd and /etc/group (uid, primary gid, supplementary groups, HOME);
 * in its `WORKDIR`; with its `ENV`, then what `docker run --env-file` would
 * add; the main process is `ENTRYPOINT` + `CMD` as PID 1, a health check is
 * `HEALTHCHECK`'s test run beside it (as `docker exec` runs it).
 *
 * The user is set by `setpriv` before bubblewrap starts, so the processes
 * really run as that uid and gid on the host (bubblewrap then maps the same
 * ids into its user namespace): files of the image owned by root show up as
 * owned by `nobody` inside, but every permission check is the one the engine
 * would make. As root, bind-mount the image's root filesystem somewhere the
 * user can reach first ({@linkcode exposeRootfs}): buildah's storage is
 * readable by root only.
 *
 * @module
 */
import type { ImageConfig } from "./buildah.ts";
import { BWRAP, bwrapSkipReason } from "./bwrap.ts";

const SETPRIV = "/usr/bin/setpriv";
const DEFAULT_PATH =
  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The account a process of the image runs as. */
export interface ImageUser {
  uid: number;
  gid: number;
  /** Supplementary groups: the image's groups that list the user. */
  groups: number[];
  /** The home directory in the image's /etc/passwd. */
  home: string;
}

/** `name:x:...` lines of a passwd or group file, split into fields. */
async function colonFile(path: string): Promise<string[][]> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.split(":"));
}

/**
 * Resolves `USER` (`name`, `uid`, `name:group` or `uid:gid`; "" for root) in
 * the image's /etc/passwd and /etc/group, as an engine does.
 *
 * @throws {Error} when the user or group is not in the image
 */
export async function resolveImageUser(
  rootfs: string,
  user: string,
): Promise<ImageUser> {
  const [who = "", group] = (user === "" ? "root" : user).split(":");
  const passwd = await colonFile(`${rootfs}/etc/passwd`);
  const groups = await colonFile(`${rootfs}/etc/group`);
  const entry = passwd.find((f) => f[0] === who || f[2] === who);
  if (entry === undefined && !/^\d+$/.test(who)) {
    throw new Error(
      `Cannot run as USER ${user}: ${who} is not in the image's /etc/passwd`,
    );
  }
  const uid = Number(entry?.[2] ?? who);
  const name = entry?.[0];
  let gid = Number(entry?.[3] ?? 0);
  if (group !== undefined) {
    const found = groups.find((f) => f[0] === group || f[2] === group);
    if (found === undefined && !/^\d+$/.test(group)) {
      throw new Error(
        `Cannot run as USER ${user}: ${group} is not in the image's /etc/group`,
      );
    }
    gid = Number(found?.[2] ?? group);
  }
  const supplementary = name === undefined
    ? []
    : groups.filter((f) => (f[3] ?? "").split(",").includes(name)).map((f) =>
      Number(f[2])
    );
  return {
    uid,
    gid,
    groups: [...new Set(supplementary)].filter((g) => g !== gid),
    home: entry?.[5] || "/",
  };
}

/** A host file or directory mounted read-only (`-v SOURCE:TARGET:ro`). */
export interface ReadOnlyMount {
  source: string;
  target: string;
}

/** How to run processes of one image. */
export interface ContainerSpec {
  /** The image's root filesystem, where the user can reach it. */
  rootfs: string;
  config: ImageConfig;
  user: ImageUser;
  /** Added to the image's ENV, as `docker run --env-file` adds them. */
  env: Record<string, string>;
  /** Each target must exist in the image (see {@linkcode createMountPoint}). */
  readOnlyMounts: readonly ReadOnlyMount[];
  hostname: string;
}

/**
 * The environment of the container's processes: the image's ENV, PATH and
 * HOME when the image sets none, HOSTNAME, then `spec.env`.
 */
export function containerEnv(spec: ContainerSpec): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of spec.config.env) {
    const at = entry.indexOf("=");
    if (at > 0) env[entry.slice(0, at)] = entry.slice(at + 1);
  }
  env.PATH ??= DEFAULT_PATH;
  env.HOME ??= spec.user.home;
  env.HOSTNAME = spec.hostname;
  return { ...env, ...spec.env };
}

/** The main process: ENTRYPOINT followed by CMD. */
export function mainProcess(config: ImageConfig): string[] {
  const argv = [...config.entrypoint, ...config.cmd];
  if (argv.length === 0) {
    throw new Error("Cannot run the image: it has neither ENTRYPOINT nor CMD");
  }
  return argv;
}

/** The HEALTHCHECK's command (`CMD` as given, `CMD-SHELL` through /bin/sh -c). */
export function healthcheckProcess(config: ImageConfig): string[] {
  const [kind, ...rest] = config.healthcheck ?? [];
  if (kind === "CMD" && rest.length > 0) return rest;
  if (kind === "CMD-SHELL" && rest.length === 1) {
    return ["/bin/sh", "-c", rest[0]!];
  }
  throw new Error(
    `Cannot run the image's HEALTHCHECK: its test is ${
      JSON.stringify(config.healthcheck ?? null)
    }`,
  );
}

/** Options of {@linkcode containerProcess}. */
export interface ContainerProcessOptions {
  /** Run `argv` as PID 1 of the sandbox (the main process); default false. */
  pid1?: boolean;
  /** Where the streams go; default "inherit" each. */
  stdio?: Pick<Deno.CommandOptions, "stdin" | "stdout" | "stderr">;
}

/** A program and its options, for `new Deno.Command()` or `spawnDaemon()`. */
export interface ProcessSpec {
  command: string;
  options: Deno.CommandOptions;
}

/**
 * How to run `argv` in the container: setpriv sets the image's user,
 * bubblewrap builds the read-only root. The environment is passed as the
 * process environment, never on a command line.
 */
export function containerProcess(
  spec: ContainerSpec,
  argv: readonly string[],
  options: ContainerProcessOptions = {},
): ProcessSpec {
  const { pid1 = false, stdio = {} } = options;
  const { uid, gid, groups } = spec.user;
  const setpriv = [
    `--reuid=${uid}`,
    `--regid=${gid}`,
    groups.length === 0 ? "--clear-groups" : `--groups=${groups.join(",")}`,
    "--",
  ];
  const bwrap = [
    "--unshare-user",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--hostname",
    spec.hostname,
    "--ro-bind",
    spec.rootfs,
    "/",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--perms",
    "1777",
    "--tmpfs",
    "/tmp",
    ...spec.readOnlyMounts.flatMap((m) => ["--ro-bind", m.source, m.target]),
    "--chdir",
    spec.config.workingDir || "/",
    "--die-with-parent",
    ...(pid1 ? ["--as-pid-1"] : []),
    "--",
  ];
  return {
    command: SETPRIV,
    options: {
      ...stdio,
      args: [...setpriv, BWRAP, ...bwrap, ...argv],
      clearEnv: true,
      env: containerEnv(spec),
    },
  };
}

/** Runs `argv` in the container to its end (stdin empty, output collected). */
export function runInContainer(
  spec: ContainerSpec,
  argv: readonly string[],
): Promise<Deno.CommandOutput> {
  const { command, options } = containerProcess(spec, argv, {
    stdio: { stdin: "null", stdout: "piped", stderr: "piped" },
  });
  return new Deno.Command(command, options).output();
}

let probed: Promise<string | null> | undefined;

/**
 * Why a container process cannot run here as a non-root user, or `null`
 * when it can: needs bubblewrap (installed when `CI` is set, see
 * {@linkcode bwrapSkipReason}) and user namespaces for unprivileged users.
 *
 * @throws {Error} when `CI` is set and the sandbox cannot run
 */
export function sandboxSkipReason(): Promise<string | null> {
  probed ??= (async () => {
    const missing = await bwrapSkipReason();
    if (missing !== null) return missing;
    const nobody = { uid: 65534, gid: 65534, groups: [], home: "/" };
    const output = await runInContainer({
      rootfs: "/",
      config: {
        user: "",
        workingDir: "/",
        env: [],
        entrypoint: [],
        cmd: [],
        healthcheck: undefined,
      },
      user: nobody,
      env: {},
      readOnlyMounts: [],
      hostname: "probe",
    }, ["/bin/true"]);
    if (output.code === 0) return null;
    const why = `bwrap cannot build a sandbox for an unprivileged user: ${
      new TextDecoder().decode(output.stderr).trim()
    }; allow unprivileged user namespaces (sysctl user.max_user_namespaces > 0)`;
    if (Deno.env.get("CI")) throw new Error(`Cannot run containers: ${why}`);
    return `container run tests skipped: ${why}`;
  })();
  return probed;
}

/**
 * Bind-mounts `rootfs` read-only at `<dir>/rootfs`, and opens `dir` to every
 * user, so the image's user can reach the root filesystem. Returns the new
 * mount point; {@linkcode unexposeRootfs} removes it.
 */
export async function exposeRootfs(
  rootfs: string,
  dir: string,
): Promise<string> {
  const target = `${dir}/rootfs`;
  await Deno.chmod(dir, 0o755);
  await Deno.mkdir(target);
  for (
    const args of [
      ["--bind", rootfs, target],
      ["-o", "remount,bind,ro", target],
    ]
  ) {
    const output = await new Deno.Command("mount", {
      args,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (output.code !== 0) {
      throw new Error(
        `Cannot bind-mount the image's root filesystem at ${target}: ${
          new TextDecoder().decode(output.stderr).trim()
        }; run the tests as root`,
      );
    }
  }
  return target;
}

/** Undoes {@linkcode exposeRootfs}. */
export async function unexposeRootfs(target: string): Promise<void> {
  await new Deno.Command("umount", {
    args: [target],
    stdout: "null",
    stderr: "null",
  }).output();
}

/**
 * Creates an empty file at `target` in a working container's writable
 * layer, where a read-only file mount will go: an engine creates the mount
 * points of `-v` in the container's layer the same way. Missing parent
 * directories are created with mode 0755.
 */
export async function createMountPoint(
  containerRootfs: string,
  target: string,
): Promise<void> {
  const path = `${containerRootfs}${target}`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), {
    recursive: true,
    mode: 0o755,
  });
  await Deno.writeTextFile(path, "", { mode: 0o644 });
}
