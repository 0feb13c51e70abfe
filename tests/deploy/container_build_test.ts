/**
 * The real Dockerfile, built and run without Docker (issue 15): buildah
 * builds it, with chroot isolation, on a Deno base image assembled locally
 * from Debian packages and Deno's npm binary (scripts/container/build_base.sh,
 * cached once per machine); then the built image runs as a read-only
 * container would, under bubblewrap over its mounted root filesystem: as
 * its USER, in its WORKDIR, with its ENV, ENTRYPOINT + CMD as PID 1, and its
 * HEALTHCHECK beside it, all read from the image's configuration.
 * get_credential and ssh_execute then work end to end against the CCP
 * emulator and a real OpenSSH server on the host's loopback, every process
 * runs as the image's user, SIGTERM to PID 1 (`docker stop`) ends it
 * cleanly, and nothing in the container's root filesystem changes.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { assert, assertEquals } from "../support/assert.ts";
import {
  announceContainerSkip,
  buildBaseImage,
  buildImage,
  hostExtraCaBundle,
  type ImageConfig,
  imageConfig,
  mountContainer,
  type MountedContainer,
  removeImage,
} from "../support/buildah.ts";
import { startCcpFixture } from "../support/ccp_fixture.ts";
import { type Daemon, spawnDaemon } from "../support/daemon.ts";
import { eventually } from "../support/eventually.ts";
import { freePort } from "../support/free_port.ts";
import { parseLogLines } from "../support/log_lines.ts";
import {
  callToolText,
  connectMcp,
  issueHandle,
} from "../support/mcp_client.ts";
import {
  containerProcess,
  type ContainerSpec,
  createMountPoint,
  exposeRootfs,
  healthcheckProcess,
  mainProcess,
  resolveImageUser,
  runInContainer,
  sandboxSkipReason,
  unexposeRootfs,
} from "../support/oci_sandbox.ts";
import { PROJECT_ROOT } from "../support/paths.ts";
import {
  commandLine,
  descendantsOf,
  processIds,
} from "../support/proc_tree.ts";
import { announceSkip } from "../support/skip.ts";
import { announceSshdSkip, sshdAccount, startSshd } from "../support/sshd.ts";
import { treeDifferences, treeState } from "../support/tree_state.ts";
import { writeProbeScript } from "../support/write_probe.ts";

const buildSkip = await announceContainerSkip();
const runSkip = buildSkip === null
  ? await announceSkip(sandboxSkipReason())
  : null;
const sshdSkip = buildSkip === null && runSkip === null
  ? await announceSshdSkip()
  : null;

/**
 * The image under test and its container, named per run so that runs on one
 * machine do not meet; both are removed at the end (the base image stays).
 */
const RUN_ID = crypto.randomUUID().slice(0, 8);
const IMAGE = `localhost/mcp-privileged:test-${RUN_ID}`;
const CONTAINER = `mcp-privileged-test-${RUN_ID}`;
/** Where docs/docker.md mounts the known_hosts file. */
const KNOWN_HOSTS = "/etc/mcp/ssh_known_hosts";

const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** Prints a measurement (how long a build took) without asserting it. */
function note(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`[container] ${text}\n`));
}

function secondsSince(start: number): string {
  return ((performance.now() - start) / 1000).toFixed(1);
}

/** The Dockerfile's instructions that the image's configuration must carry. */
async function dockerfileExpectations(): Promise<Partial<ImageConfig>> {
  const text = await Deno.readTextFile(`${PROJECT_ROOT}Dockerfile`);
  const lines = text.split("\n");
  const value = (prefix: string): string => {
    const found = lines.filter((l) => l.startsWith(prefix));
    assert(found.length === 1, `the Dockerfile has no single ${prefix} line`);
    return found[0]!.slice(prefix.length).trim();
  };
  const health = lines.find((l) => l.startsWith('  CMD ["deno", "eval"'));
  assert(health !== undefined, "the Dockerfile has no HEALTHCHECK CMD line");
  return {
    user: value("USER "),
    workingDir: value("WORKDIR "),
    cmd: JSON.parse(value("CMD ")) as string[],
    healthcheck: [
      "CMD",
      ...JSON.parse(health.slice(health.indexOf("["))) as string[],
    ],
  };
}

/** Appends every line of `stream` to `lines`. */
async function collectLines(
  stream: ReadableStream<Uint8Array>,
  lines: string[],
): Promise<void> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      lines.push(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  }
  if (buffer !== "") lines.push(buffer);
}

Deno.test({
  name:
    "the real Dockerfile builds with buildah on a local Deno base and runs read-only as its USER: CMD, HEALTHCHECK, get_credential + ssh_execute, nothing written",
  ignore: buildSkip !== null || runSkip !== null || sshdSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const work = await Deno.makeTempDir({ prefix: "mcp-container-" });
    let container: MountedContainer | undefined;
    let rootfs: string | undefined;
    try {
      let base = "";
      await t.step(
        "the local Deno base image is built, or reused from the cache",
        async () => {
          const start = performance.now();
          base = await buildBaseImage();
          note(`base image ${base} ready in ${secondsSince(start)} s`);
          const env = (await imageConfig(base)).env;
          assert(env.includes("DENO_DIR=/deno-dir/"), env.join(" "));
        },
      );

      await t.step(
        "buildah builds the real Dockerfile with BASE_IMAGE set to it",
        async () => {
          const start = performance.now();
          const caBundle = hostExtraCaBundle();
          await buildImage({
            baseImage: base,
            tag: IMAGE,
            ...(caBundle === undefined ? {} : { caBundle }),
          });
          note(`image ${IMAGE} built in ${secondsSince(start)} s`);
        },
      );

      const config = await imageConfig(IMAGE);
      container = await mountContainer(IMAGE, CONTAINER);
      const image = container.rootfs;

      await t.step(
        "the image carries the Dockerfile's USER, WORKDIR, CMD and HEALTHCHECK, and only what .dockerignore lets in",
        async () => {
          const expected = await dockerfileExpectations();
          assertEquals(
            {
              user: config.user,
              workingDir: config.workingDir,
              cmd: config.cmd,
              healthcheck: config.healthcheck,
            },
            expected,
          );
          const deno = await Deno.lstat(`${image}/usr/bin/deno`);
          assert(deno.isFile, "/usr/bin/deno is not a regular file");
          const workdir = `${image}${config.workingDir}`;
          for (const required of ["main.ts", "deno.json", "deno.lock"]) {
            await Deno.stat(`${workdir}/${required}`);
          }
          for (
            const absent of [
              `${workdir}/.git`,
              `${workdir}/.env`,
              `${workdir}/tests`,
              `${workdir}/scripts/container`,
            ]
          ) {
            await Deno.lstat(absent).then(
              () => {
                throw new Error(`${absent} is in the image`);
              },
              (error) => {
                if (!(error instanceof Deno.errors.NotFound)) throw error;
              },
            );
          }
          // The build secret was mounted for one step only: at most its
          // empty mount point remains.
          const secrets = await Array.fromAsync(
            Deno.readDir(`${image}/run/secrets`),
          ).catch((error) => {
            if (error instanceof Deno.errors.NotFound) return [];
            throw error;
          });
          assertEquals(secrets.map((e) => e.name), []);
        },
      );

      // As an engine creates the mount point of `-v FILE:TARGET:ro` in the
      // container's own layer; the states compared at the end include it.
      await createMountPoint(image, KNOWN_HOSTS);
      const user = await resolveImageUser(image, config.user);
      assert(user.uid !== 0, `USER ${config.user} is root`);
      rootfs = await exposeRootfs(image, work);
      const imageBefore = await treeState(image);
      const layerBefore = await treeState(container.upperDir);

      const sshd = await startSshd();
      const ccp = await startCcpFixture("LINUX", [sshdAccount(sshd, "pw")]);
      // A copy the image's user can read (the fixture's directory is 0700).
      const knownHosts = `${work}/ssh_known_hosts`;
      await Deno.copyFile(sshd.knownHostsPath, knownHosts);
      await Deno.chmod(knownHosts, 0o644);
      const port = freePort();
      const spec: ContainerSpec = {
        rootfs,
        config,
        user,
        env: {
          ...ccp.gatewayEnv,
          SSH_KNOWN_HOSTS: KNOWN_HOSTS,
          HOST: "127.0.0.1",
          PORT: String(port),
          LOG_FORMAT: "json",
        },
        readOnlyMounts: [{ source: knownHosts, target: KNOWN_HOSTS }],
        hostname: CONTAINER,
      };
      const lines: string[] = [];
      const main = containerProcess(spec, mainProcess(config), {
        pid1: true,
        stdio: { stdin: "null", stdout: "piped", stderr: "piped" },
      });
      const running: Daemon = spawnDaemon(main.command, main.options);
      const pumps = Promise.all([
        collectLines(running.child.stdout, lines),
        collectLines(running.child.stderr, lines),
      ]);
      const waitFor = (
        event: string,
      ): Promise<Record<string, unknown>> =>
        eventually(() => {
          const found = parseLogLines(lines).find((e) => e.event === event);
          if (found !== undefined) return found;
          throw new Error(
            `No ${event} line from the container${
              running.exited() ? " (it exited)" : ""
            }; output so far:\n${lines.join("\n")}`,
          );
        }, { timeoutMs: 60_000, signal: running.exitSignal });
      let cyberark: Client | undefined;
      let ssh: Client | undefined;
      try {
        await waitFor("service_started");
        const baseUrl = `http://127.0.0.1:${port}`;
        const [pid1] = descendantsOf(running.child.pid);
        assert(pid1 !== undefined, "the sandbox started no process");

        await t.step(
          "PID 1 runs ENTRYPOINT + CMD, and every process runs as the image's USER",
          () => {
            assertEquals(commandLine(pid1), mainProcess(config));
            const processes = [pid1, ...descendantsOf(pid1)];
            assert(
              processes.some((pid) =>
                JSON.stringify(commandLine(pid)) ===
                  JSON.stringify(config.cmd)
              ),
              "no process runs the image's CMD",
            );
            for (const pid of processes) {
              const ids = processIds(pid);
              assertEquals(ids, {
                uids: [user.uid, user.uid, user.uid, user.uid],
                gids: [user.gid, user.gid, user.gid, user.gid],
                groups: user.groups,
              }, `process ${pid}: ${commandLine(pid).join(" ")}`);
            }
          },
        );

        await t.step(
          "the root is read-only: the image's user can write nowhere but /tmp",
          async () => {
            const denoDir = config.env.find((e) => e.startsWith("DENO_DIR="))
              ?.slice("DENO_DIR=".length);
            assert(denoDir !== undefined, "the image sets no DENO_DIR");
            const targets = [
              `${config.workingDir}/written`,
              `${denoDir.replace(/\/$/, "")}/written`,
              `${user.home}/written`,
              "/etc/written",
              "/var/tmp/written",
              "/written",
              "/tmp/written",
            ];
            const script = writeProbeScript(targets);
            const probe = await runInContainer(spec, ["deno", "eval", script]);
            assertEquals(probe.code, 0, decode(probe.stderr));
            const seen = JSON.parse(decode(probe.stdout)) as Record<
              string,
              string
            >;
            for (const path of targets) {
              if (path === "/tmp/written") {
                assertEquals(seen[path], "written", "/tmp is not writable");
              } else {
                assert(seen[path] !== "written", `${path} was writable`);
              }
            }
          },
        );

        await t.step("the image's HEALTHCHECK passes", async () => {
          const health = await runInContainer(spec, healthcheckProcess(config));
          assertEquals(health.code, 0, decode(health.stderr));
          const response = await fetch(`${baseUrl}/health`);
          assertEquals(await response.json(), { status: "ok" });
        });

        await t.step(
          "get_credential then ssh_execute run end to end",
          async () => {
            cyberark = await connectMcp(`${baseUrl}/mcp/cyberark`, ccp.key);
            ssh = await connectMcp(`${baseUrl}/mcp/ssh`, ccp.key);
            const handle = await issueHandle(cyberark, {
              safe: "LINUX",
              object_name: "pw",
            });
            const { text, isError } = await callToolText(ssh, {
              name: "ssh_execute",
              arguments: {
                host: "127.0.0.1",
                port: sshd.port,
                command: "echo container-ok; id -un",
                secret_handle: handle,
              },
            });
            assertEquals(isError, false, text);
            assertEquals(
              text,
              `Host: 127.0.0.1\nCommand: echo container-ok; id -un\nExit code: 0\n--- stdout ---\ncontainer-ok\n${sshd.username}`,
            );
            await waitFor("ssh_executed");
          },
        );

        await t.step("the container's /tmp holds nothing", async () => {
          const names: string[] = [];
          for await (const entry of Deno.readDir(`/proc/${pid1}/root/tmp`)) {
            names.push(entry.name);
          }
          assertEquals(names, []);
        });

        await cyberark?.close();
        await ssh?.close();
        cyberark = ssh = undefined;

        await t.step(
          "SIGTERM to PID 1 (docker stop) ends the service with exit 0, and the HEALTHCHECK then fails",
          async () => {
            Deno.kill(pid1, "SIGTERM");
            const status = await running.status;
            await pumps;
            // Killed by the signal, tini would exit 143: 0 means the gateway
            // handled SIGTERM and shut down on its own.
            assertEquals(status.code, 0, lines.slice(-5).join("\n"));
            const health = await runInContainer(
              spec,
              healthcheckProcess(config),
            );
            assert(health.code !== 0, "the HEALTHCHECK passed with no service");
          },
        );
      } finally {
        await cyberark?.close();
        await ssh?.close();
        await running.stop("SIGKILL");
        await pumps;
        await ccp.close();
        await sshd.stop();
      }

      await t.step(
        "nothing was written: the root filesystem and the container's layer are unchanged",
        async () => {
          assertEquals(
            treeDifferences(imageBefore, await treeState(image)),
            [],
          );
          assertEquals(
            treeDifferences(layerBefore, await treeState(container!.upperDir)),
            [],
          );
          for (const line of lines) {
            assert(
              !line.includes(sshd.password),
              "the password reached the log",
            );
            assert(!line.includes(ccp.key), "the API key reached the log");
          }
        },
      );
    } finally {
      if (rootfs !== undefined) await unexposeRootfs(rootfs);
      await container?.remove();
      await removeImage(IMAGE);
      await Deno.remove(work, { recursive: true });
    }
  },
});
