/**
 * `deno task doctor`: checks this host's configuration against the operations
 * manual's hardening checklist, probes the CyberArk CCP (manual section 2.3)
 * and self-tests the executor sandbox.
 *
 * ```sh
 * deno task doctor [--probe-safe TEST] [--probe-object TEST-obj] [--skip-ccp] [--skip-sandbox]
 * ```
 *
 * Reads the configuration as the service does (ENV_FILE, default `.env`, then
 * the environment). Prints one line per check, `PASS|WARN|FAIL check: detail;
 * fix`, and a summary on stderr. Exit code: 0 when nothing failed, 1 on any
 * FAIL, 2 when the configuration is invalid (its one line, as `deno task
 * check-config` prints it).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createCcpClient } from "../gateway/ccp_setup.ts";
import {
  type Config,
  ConfigError,
  loadConfig,
  sharedRedis,
} from "../gateway/config/mod.ts";
import {
  doctorExitCode,
  formatCheck,
  runDoctor,
  type RunningUser,
} from "../gateway/doctor/mod.ts";
import { ExecutorSpawner } from "../executors/spawner/mod.ts";
import type { CcpClient } from "../vault/ccp_client.ts";
import { RedisHandleStore } from "../vault/redis_handle_store.ts";
import { complain, say } from "./_cli.ts";

const USAGE =
  "usage: deno task doctor [--probe-safe SAFE] [--probe-object OBJECT] [--skip-ccp] [--skip-sandbox]";
const EXIT_CONFIG = 2;

interface Cli {
  probeSafe: string;
  probeObject: string;
  skipCcp: boolean;
  skipSandbox: boolean;
}

function parseCli(args: string[]): Cli | string {
  try {
    const { values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        "probe-safe": { type: "string", default: "TEST" },
        "probe-object": { type: "string", default: "TEST-obj" },
        "skip-ccp": { type: "boolean", default: false },
        "skip-sandbox": { type: "boolean", default: false },
        "help": { type: "boolean", default: false },
      },
    });
    if (values.help) return USAGE;
    return {
      probeSafe: values["probe-safe"],
      probeObject: values["probe-object"],
      skipCcp: values["skip-ccp"],
      skipSandbox: values["skip-sandbox"],
    };
  } catch (error) {
    const message = error instanceof Error
      ? error.message.split("\n")[0]
      : String(error);
    return `${message}; ${USAGE}`;
  }
}

/** The login name of a uid, from /etc/passwd when readable. */
function userName(uid: number): string | undefined {
  try {
    for (const line of Deno.readTextFileSync("/etc/passwd").split("\n")) {
      const [name, , id] = line.split(":");
      if (name !== undefined && id === String(uid)) return name;
    }
  } catch {
    // No /etc/passwd (or not readable): the uid alone is shown.
  }
  return undefined;
}

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

async function main(): Promise<number> {
  const cli = parseCli(Deno.args);
  if (typeof cli === "string") {
    (cli === USAGE ? say : complain)(cli);
    return cli === USAGE ? 0 : EXIT_CONFIG;
  }

  // The same resolution as main.ts: ENV_FILE="" reads no file at all.
  const envFileSetting = Deno.env.get("ENV_FILE") ?? ".env";
  const envFile = envFileSetting === "" ? undefined : absolute(envFileSetting);
  let config: Config;
  let ccp: CcpClient;
  try {
    config = loadConfig(envFile === undefined ? {} : { envFile });
    ccp = await createCcpClient(config.cyberark);
  } catch (error) {
    complain(
      error instanceof ConfigError
        ? error.message
        : `Invalid configuration: ${
          error instanceof Error ? error.message : String(error)
        }`,
    );
    return EXIT_CONFIG;
  }

  const uid = Deno.uid() ?? -1;
  const gid = Deno.gid();
  const name = userName(uid);
  const user: RunningUser = {
    uid,
    ...(gid === null ? {} : { gid }),
    ...(name === undefined ? {} : { name }),
  };
  const redis = sharedRedis(config.handleStore);
  const handleStore = redis === undefined
    ? undefined
    : new RedisHandleStore(redis);
  try {
    const results = await runDoctor(config, {
      envFile,
      user,
      probeSafe: cli.probeSafe,
      probeObject: cli.probeObject,
      ...(cli.skipCcp ? {} : { ccp }),
      ...(handleStore === undefined ? {} : { handleStore }),
      ...(cli.skipSandbox ? {} : {
        spawner: new ExecutorSpawner({
          maxConcurrent: 1,
          maxMemoryMb: config.executors.maxMemoryMb,
        }),
      }),
    });
    for (const result of results) say(formatCheck(result));
    const count = (status: string): number =>
      results.filter((r) => r.status === status).length;
    complain(
      `doctor: ${results.length} checks, ${count("PASS")} PASS, ${
        count("WARN")
      } WARN, ${count("FAIL")} FAIL`,
    );
    return doctorExitCode(results);
  } finally {
    ccp.close();
    await handleStore?.close();
  }
}

if (import.meta.main) Deno.exit(await main());
