/**
 * The whole gateway on a read-only filesystem, as `docker run --read-only
 * --tmpfs /tmp` runs the image: bubblewrap mounts `/` read-only with a fresh
 * tmpfs on /tmp; the gateway runs the Dockerfile's CMD from a copy of what
 * the image holds (the files .dockerignore lets through, and the module cache
 * filled as the Dockerfile's build step fills it, V8's code cache included);
 * get_credential and ssh_execute then work end to end
 * against the CCP emulator and a real OpenSSH server, and nothing outside
 * /tmp changes.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { assert, assertEquals } from "../support/assert.ts";
import {
  announceBwrapSkip,
  BWRAP,
  readOnlyRootArgs,
} from "../support/bwrap.ts";
import { startCcpFixture } from "../support/ccp_fixture.ts";
import { startGateway } from "../support/gateway_process.ts";
import {
  callToolText,
  connectMcp,
  issueHandle,
} from "../support/mcp_client.ts";
import { dirname, PROJECT_ROOT } from "../support/paths.ts";
import { announceSshdSkip, sshdAccount, startSshd } from "../support/sshd.ts";
import { writeProbeScript } from "../support/write_probe.ts";

const bwrapSkip = await announceBwrapSkip();
const sshdSkip = bwrapSkip === null ? await announceSshdSkip() : null;

/** The JSON array of the Dockerfile's CMD, without its leading `deno`. */
async function dockerfileCmd(): Promise<string[]> {
  const text = await Deno.readTextFile(`${PROJECT_ROOT}Dockerfile`);
  const line = text.split("\n").find((l) => l.startsWith("CMD ["));
  assert(line !== undefined, "the Dockerfile has no CMD [...] line");
  const cmd = JSON.parse(line.slice(4)) as string[];
  assertEquals(cmd[0], "deno");
  return cmd.slice(1);
}

/** The JSON array of the Dockerfile's HEALTHCHECK command. */
async function dockerfileHealthcheck(): Promise<string[]> {
  const text = await Deno.readTextFile(`${PROJECT_ROOT}Dockerfile`);
  const line = text.split("\n").find((l) =>
    l.startsWith('  CMD ["deno", "eval"')
  );
  assert(line !== undefined, "the Dockerfile has no HEALTHCHECK CMD line");
  return JSON.parse(line.slice(line.indexOf("["))) as string[];
}

/** Top-level names of the project that `COPY . .` takes, per .dockerignore. */
async function imageEntries(): Promise<string[]> {
  const rules = (await Deno.readTextFile(`${PROJECT_ROOT}.dockerignore`))
    .split("\n").map((l) => l.trim()).filter((l) =>
      l !== "" && !l.startsWith("#")
    ).map((l) => {
      const negate = l.startsWith("!");
      const pattern = (negate ? l.slice(1) : l).replace(/\/$/, "");
      const source = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replaceAll("*", "[^/]*").replaceAll("?", "[^/]");
      return { negate, regex: new RegExp(`^${source}$`) };
    });
  const names: string[] = [];
  for await (const entry of Deno.readDir(PROJECT_ROOT)) {
    let ignored = false;
    for (const rule of rules) {
      if (rule.regex.test(entry.name)) ignored = !rule.negate;
    }
    if (!ignored) names.push(entry.name);
  }
  return names.sort();
}

async function run(cmd: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array): string => new TextDecoder().decode(b);
  if (output.code !== 0) {
    throw new Error(
      `Cannot run ${cmd} ${args.slice(0, 3).join(" ")}: ${
        decode(output.stderr).trim()
      }`,
    );
  }
  return decode(output.stdout);
}

/**
 * The Dockerfile's build step on the copy of the image: `deno install` of the
 * gateway and every executor, then each executor once with an empty stdin
 * (it answers bad_request and exits 0), which fills V8's code cache in
 * `denoDir` for the children that later run read-only.
 */
async function buildModuleCache(image: string, denoDir: string): Promise<void> {
  const deno = async (args: string[]): Promise<void> => {
    const output = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: image,
      env: { DENO_DIR: denoDir },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    assertEquals(
      output.code,
      0,
      `deno ${args.slice(0, 2).join(" ")} ${args.at(-1)} failed: ${
        new TextDecoder().decode(output.stderr).trim()
      }`,
    );
  };
  const executors: string[] = [];
  for await (const entry of Deno.readDir(`${image}/executors/children`)) {
    if (entry.name.endsWith("_executor.ts")) {
      executors.push(`${image}/executors/children/${entry.name}`);
    }
  }
  await deno([
    "install",
    "--quiet",
    "--frozen-lockfile",
    "--entrypoint",
    "main.ts",
    ...executors,
  ]);
  for (const executor of executors) {
    await deno([
      "run",
      "--no-prompt",
      "--cached-only",
      "--frozen-lockfile",
      "--allow-env",
      executor,
    ]);
  }
}

/** path -> kind, size and mtime of every entry under `root`. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      const info = await Deno.lstat(path);
      out.set(
        path.slice(root.length),
        `${
          entry.isDirectory ? "d" : "f"
        }:${info.size}:${info.mtime?.getTime()}`,
      );
      if (entry.isDirectory) await walk(path);
    }
  };
  await walk(root);
  return out;
}

function differences(
  before: Map<string, string>,
  after: Map<string, string>,
): string[] {
  const changed: string[] = [];
  for (const [path, state] of before) {
    if (after.get(path) !== state) changed.push(`changed or removed: ${path}`);
  }
  for (const path of after.keys()) {
    if (!before.has(path)) changed.push(`added: ${path}`);
  }
  return changed.slice(0, 20);
}

Deno.test({
  name:
    "the gateway runs the Dockerfile's CMD on a read-only root with a tmpfs /tmp: get_credential + ssh_execute work, nothing is written",
  ignore: bwrapSkip !== null || sshdSkip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const work = await Deno.makeTempDir({ prefix: "mcp-readonly-" });
    try {
      const image = `${work}/app`;
      const denoDir = `${work}/deno-dir`;
      await Deno.mkdir(image);
      await Deno.mkdir(denoDir);
      // The image: `COPY . .` minus .dockerignore, and the module cache that
      // `deno install --entrypoint` fills at build time.
      const entries = await imageEntries();
      for (
        const required of ["deno.json", "deno.lock", "main.ts", "executors"]
      ) {
        assert(entries.includes(required), `.dockerignore drops ${required}`);
      }
      for (const secret of [".env", ".git", "tests"]) {
        assert(!entries.includes(secret), `.dockerignore lets ${secret} in`);
      }
      await run("cp", [
        "-a",
        ...entries.map((e) => `${PROJECT_ROOT}${e}`),
        image,
      ]);
      const info = JSON.parse(
        await run(Deno.execPath(), ["info", "--json"]),
      ) as {
        npmCache: string;
      };
      await run("cp", ["-a", info.npmCache, `${denoDir}/npm`]);
      await buildModuleCache(image, denoDir);

      const sshd = await startSshd();
      const ccp = await startCcpFixture("LINUX", [sshdAccount(sshd, "pw")]);
      const lockBefore = await Deno.readFile(`${PROJECT_ROOT}deno.lock`);
      const imageBefore = await snapshot(image);
      const cacheBefore = await snapshot(denoDir);
      const knownHostsDir = dirname(sshd.knownHostsPath);
      const sandbox = (extra: string[]): string[] =>
        readOnlyRootArgs([image, denoDir, knownHostsDir, ...extra], {
          chdir: image,
          env: { DENO_DIR: denoDir },
        });
      const cmd = (await dockerfileCmd()).map((arg) =>
        arg === "--allow-run=/usr/bin/deno"
          ? `--allow-run=${Deno.execPath()}`
          : arg
      );
      const { key } = ccp;
      const gateway = await startGateway({
        ...ccp.gatewayEnv,
        SSH_KNOWN_HOSTS: sshd.knownHostsPath,
      }, {
        denoArgs: cmd,
        wrap: (envDir) => [BWRAP, ...sandbox([envDir])],
      });
      let cyberark: Client | undefined;
      let ssh: Client | undefined;
      try {
        await t.step(
          "the sandbox is read-only everywhere but /tmp",
          async () => {
            const targets = [
              `${image}/written`,
              `${denoDir}/written`,
              `${PROJECT_ROOT}written`,
              `${Deno.env.get("HOME") ?? "/root"}/written`,
              "/etc/written",
              "/var/tmp/written",
              "/written",
              "/tmp/written",
            ];
            const script = writeProbeScript(targets);
            const seen = JSON.parse(
              await run(BWRAP, [
                ...sandbox([]),
                Deno.execPath(),
                "eval",
                script,
              ]),
            ) as Record<string, string>;
            for (const path of targets) {
              if (path === "/tmp/written") {
                assertEquals(seen[path], "written", "/tmp is not writable");
              } else {
                assert(seen[path] !== "written", `${path} was writable`);
              }
            }
          },
        );

        await t.step(
          "/health answers, and the Dockerfile's HEALTHCHECK passes in the sandbox",
          async () => {
            const response = await fetch(`${gateway.baseUrl}/health`);
            assertEquals(await response.json(), { status: "ok" });
            const healthcheck = await new Deno.Command(BWRAP, {
              args: [
                ...readOnlyRootArgs([image, denoDir], {
                  chdir: image,
                  env: { DENO_DIR: denoDir, PORT: String(gateway.port) },
                }),
                Deno.execPath(),
                ...(await dockerfileHealthcheck()).slice(1),
              ],
              stdout: "null",
              stderr: "piped",
            }).output();
            assertEquals(
              healthcheck.code,
              0,
              new TextDecoder().decode(healthcheck.stderr),
            );
          },
        );

        await t.step(
          "get_credential then ssh_execute run end to end",
          async () => {
            cyberark = await connectMcp(`${gateway.baseUrl}/mcp/cyberark`, key);
            ssh = await connectMcp(`${gateway.baseUrl}/mcp/ssh`, key);
            const handle = await issueHandle(cyberark, {
              safe: "LINUX",
              object_name: "pw",
            });
            const { text, isError } = await callToolText(ssh, {
              name: "ssh_execute",
              arguments: {
                host: "127.0.0.1",
                port: sshd.port,
                command: "echo read-only-ok; id -un",
                secret_handle: handle,
              },
            });
            assertEquals(isError, false, text);
            assertEquals(
              text,
              `Host: 127.0.0.1\nCommand: echo read-only-ok; id -un\nExit code: 0\n--- stdout ---\nread-only-ok\n${sshd.username}`,
            );
            await gateway.waitFor((e) => e.event === "ssh_executed");
          },
        );
      } finally {
        await cyberark?.close();
        await ssh?.close();
        await gateway.stop();
        await ccp.close();
        await sshd.stop();
      }

      await t.step(
        "nothing outside /tmp changed: image, module cache, deno.lock",
        async () => {
          assertEquals(differences(imageBefore, await snapshot(image)), []);
          assertEquals(differences(cacheBefore, await snapshot(denoDir)), []);
          assertEquals(
            await Deno.readFile(`${PROJECT_ROOT}deno.lock`),
            lockBefore,
            "deno.lock changed",
          );
          for (const line of gateway.lines) {
            assert(
              !line.includes(sshd.password),
              "the password reached the log",
            );
          }
        },
      );
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});
