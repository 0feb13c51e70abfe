/**
 * The fuzz suite's harness: one real gateway per test file (`deno task
 * start`, `LOG_FORMAT=json`, every stdout and stderr line kept) with the
 * CCP emulator serving accounts whose secrets are known random strings,
 * and, where a valid handle is used, a real sshd and a PostgreSQL login;
 * the checks after every case and at the end of a file; and
 * {@linkcode checkProperty}, which runs a fast-check property with the
 * seed and run count of `FUZZ_SEED` and `FUZZ_RUNS` and prints how to
 * replay a failure.
 *
 * @module
 */
import fc from "fast-check";
import { startCcpFixture } from "../support/ccp_fixture.ts";
import { createPostgresFixture, type DbFixture } from "../support/databases.ts";
import { eventually } from "../support/eventually.ts";
import { freePort } from "../support/free_port.ts";
import {
  type GatewayProcess,
  startGateway,
} from "../support/gateway_process.ts";
import { commandLine, descendantsOf } from "../support/proc_tree.ts";
import { sshdAccount, type SshdFixture, startSshd } from "../support/sshd.ts";
import {
  type AnswerContext,
  answerProblems,
  describeAnswer,
} from "./_answers.ts";
import { type HttpAnswer, postMcp } from "./_http.ts";
import { toolCallBody } from "./_arbitraries.ts";
import { LeakNeedles } from "./_leaks.ts";

/**
 * The log lines of a bug: an exception a tool did not expect ("Unexpected
 * error in get_credential (reference ...)") or one that reached the HTTP
 * layer ("Unhandled error ..."). Error-level audit lines (`cyberark_error`)
 * and refusals for the service's setup are not bugs.
 */
const BUG_LINE = /^(Unexpected error|Unhandled error)\b/;

/** The client address of the marker calls (TEST-NET-1, never generated). */
const MARKER_CLIENT = "192.0.2.1";

/** The seed when `FUZZ_SEED` is unset: fixed, so that CI is reproducible. */
export const DEFAULT_SEED = 160_016;

/** The Safe of every fuzz account. */
export const SAFE = "FUZZ";

/** The accounts' object names. */
export const ACCOUNTS = {
  /** Secrets with quotes, backslashes and non-ASCII characters. */
  hostile: "hostile-1",
  other: "hostile-2",
  /** A Windows account whose WinRM port on loopback has no listener. */
  winrm: "win-login",
  /** Logs in to the fixture's sshd. */
  ssh: "ssh-login",
  /** Logs in to the fixture's PostgreSQL database. */
  postgres: "pg-login",
} as const;

/** The two principals of `MCP_API_KEYS`. */
export const PRINCIPALS = ["alice", "bob"] as const;

/** A principal's name. */
export type Principal = typeof PRINCIPALS[number];

/** The seed, run count and replay path the environment asks for. */
export interface FuzzSettings {
  seed: number;
  /** Runs of every property; undefined: each property's default. */
  runs: number | undefined;
  /** A fast-check path to replay one counterexample (`FUZZ_PATH`). */
  path: string | undefined;
  /** Run only the property of this name (`FUZZ_ONLY`). */
  only: string | undefined;
}

function wholeNumberFromEnv(name: string): number | undefined {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw.trim() === "") return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) {
    throw new Error(
      `Cannot run the fuzz suite: ${name}="${raw}" is not a whole number; set it to e.g. 12345 or unset it`,
    );
  }
  return value;
}

/** Reads `FUZZ_SEED`, `FUZZ_RUNS`, `FUZZ_PATH` and `FUZZ_ONLY`. */
export function fuzzSettings(): FuzzSettings {
  const runs = wholeNumberFromEnv("FUZZ_RUNS");
  if (runs !== undefined && runs < 1) {
    throw new Error(
      `Cannot run the fuzz suite: FUZZ_RUNS=${runs}; set it to 1 or more`,
    );
  }
  const path = Deno.env.get("FUZZ_PATH")?.trim() || undefined;
  const only = Deno.env.get("FUZZ_ONLY")?.trim() || undefined;
  return {
    seed: wholeNumberFromEnv("FUZZ_SEED") ?? DEFAULT_SEED,
    runs,
    path,
    only,
  };
}

/** Options of {@linkcode checkProperty}. */
export interface CheckPropertyOptions {
  /** Runs when `FUZZ_RUNS` is unset. */
  defaultRuns: number;
  /** `import.meta.url` of the test file, for the replay command. */
  file: string;
}

/**
 * Runs an asynchronous property with the settings of the environment.
 * Nothing runs when `FUZZ_ONLY` names another property.
 *
 * @throws {Error} with the counterexample, the seed and path, and the
 *   command that replays it, when the property fails
 */
export async function checkProperty<Ts extends [unknown, ...unknown[]]>(
  name: string,
  property: fc.IAsyncProperty<Ts>,
  options: CheckPropertyOptions,
): Promise<void> {
  const settings = fuzzSettings();
  if (settings.only !== undefined && settings.only !== name) return;
  const numRuns = settings.runs ?? options.defaultRuns;
  const details = await fc.check(property, {
    seed: settings.seed,
    numRuns,
    ...(settings.path === undefined ? {} : { path: settings.path }),
  });
  if (!details.failed) return;
  const file = new URL(options.file).pathname.replace(/^.*\/tests\//, "tests/");
  const run = `deno test --frozen-lockfile --allow-all ${file}`;
  throw new Error(
    [
      `Property "${name}" failed (seed ${details.seed}, path "${details.counterexamplePath}").`,
      `Replay the shrunk case: FUZZ_ONLY='${name}' FUZZ_SEED=${details.seed} FUZZ_PATH='${details.counterexamplePath}' ${run}`,
      `Replay the whole run:   FUZZ_SEED=${details.seed} FUZZ_RUNS=${numRuns} ${run}`,
      fc.defaultReportMessage(details) ?? "",
      `The case failed with: ${
        details.errorInstance instanceof Error
          ? details.errorInstance.message
          : String(details.errorInstance)
      }`,
    ].join("\n"),
  );
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/**
 * A secret that would look different in every encoding: quotes, a
 * backslash, a slash, `+`, `<`, non-ASCII letters, and 24 random hex digits.
 */
function hostileSecret(): string {
  return `Fz"\\/+<'é€-${randomHex(12)}`;
}

/** A fresh API key (letters, digits and dashes, 74 characters). */
function apiKey(): string {
  return `fz-${crypto.randomUUID()}-${crypto.randomUUID()}`;
}

/** Options of {@linkcode startFuzzTarget}. */
export interface FuzzTargetOptions {
  /** Start a real sshd with an account that logs in to it. */
  ssh?: boolean;
  /** Create a PostgreSQL login and database with an account for it. */
  postgres?: boolean;
  /** More `.env` settings of the gateway. */
  env?: Record<string, string>;
}

/** One gateway under fuzzing and what the checks need to know about it. */
export interface FuzzTarget {
  readonly gateway: GatewayProcess;
  readonly baseUrl: string;
  readonly port: number;
  /** Each principal's API key. */
  readonly keys: Readonly<Record<Principal, string>>;
  readonly sshd: SshdFixture | undefined;
  readonly postgres: DbFixture | undefined;
  /** The WinRM port of the Windows account: nothing listens on it. */
  readonly winrmPort: number;
  /** The handle TTL the gateway runs with. */
  readonly handleTtlSeconds: number;
  /** A handle the gateway issued: it must never show in a log line. */
  noteHandle(handle: string): void;
  /** Throws when an answer breaks the rules of `_answers.ts` or leaks. */
  checkAnswer(answer: HttpAnswer, context: AnswerContext): void;
  /**
   * Runs one case, then (even when it failed) the checks after every case:
   * `/health` answers 200 and every log line the case made is a JSON
   * object, leaks nothing, and tells of no bug (an unexpected or unhandled
   * error). Throws the first failure.
   */
  runCase(body: () => Promise<void>): Promise<void>;
  /**
   * At the end of a file: no executor left below the gateway (waiting up
   * to the handle TTL for warm ones); then SIGTERM, which must find no
   * request in flight; and the whole output is JSON lines without a secret.
   */
  finish(): Promise<void>;
  /** Stops the gateway and removes every fixture. */
  stop(): Promise<void>;
}

/** Starts the CCP emulator, the optional sshd and database, and the gateway. */
export async function startFuzzTarget(
  options: FuzzTargetOptions = {},
): Promise<FuzzTarget> {
  const cleanups: (() => Promise<void>)[] = [];
  const cleanUp = async (): Promise<void> => {
    for (const undo of cleanups.reverse()) await undo().catch(() => {});
  };
  try {
    return await start(options, cleanups, cleanUp);
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

async function start(
  options: FuzzTargetOptions,
  cleanups: (() => Promise<void>)[],
  cleanUp: () => Promise<void>,
): Promise<FuzzTarget> {
  const responseNeedles = new LeakNeedles();
  const logNeedles = new LeakNeedles();
  const secret = (label: string, value: string): void => {
    responseNeedles.add(label, value);
    logNeedles.add(label, value);
  };
  const accounts: Record<string, string>[] = [];
  for (const name of [ACCOUNTS.hostile, ACCOUNTS.other]) {
    const value = hostileSecret();
    secret(`the secret of ${name}`, value);
    accounts.push({
      Name: name,
      Content: value,
      UserName: `user-${name}`,
      Address: "127.0.0.1",
      PolicyID: "UnixSSH",
      Port: "22",
    });
  }
  const winrmPort = freePort();
  const winrmSecret = hostileSecret();
  secret(`the secret of ${ACCOUNTS.winrm}`, winrmSecret);
  accounts.push({
    Name: ACCOUNTS.winrm,
    Content: winrmSecret,
    UserName: "Administrator",
    Address: "127.0.0.1",
    PolicyID: "WinServerLocal",
    Port: String(winrmPort),
  });
  let sshd: SshdFixture | undefined;
  if (options.ssh === true) {
    sshd = await startSshd();
    cleanups.push(() => sshd!.stop());
    secret("the sshd password", sshd.password);
    accounts.push(sshdAccount(sshd, ACCOUNTS.ssh));
  }
  let postgres: DbFixture | undefined;
  if (options.postgres === true) {
    postgres = await createPostgresFixture();
    cleanups.push(() => postgres!.drop());
    secret("the PostgreSQL password", postgres.password);
    accounts.push({
      Name: ACCOUNTS.postgres,
      Content: postgres.password,
      UserName: postgres.username,
      Address: postgres.host,
      PolicyID: "PostgreSQL",
      Port: String(postgres.port),
    });
  }
  const ccp = await startCcpFixture(SAFE, accounts);
  cleanups.push(() => ccp.close());
  const keys = { alice: apiKey(), bob: apiKey() };
  for (const principal of PRINCIPALS) {
    secret(`the API key of ${principal}`, keys[principal]);
  }
  const env: Record<string, string> = {
    ...ccp.gatewayEnv,
    MCP_API_KEYS: PRINCIPALS.map((p) => `${p}:${keys[p]}`).join(","),
    LOG_LEVEL: "debug",
    // Warm executors of unused handles end with the handle: a short TTL
    // keeps the end-of-file wait for "no executor left" short.
    HANDLE_TTL_SECONDS: "15",
    // A request left counted in flight shows at SIGTERM after this long.
    SHUTDOWN_GRACE_SECONDS: "3",
    ...(sshd === undefined ? {} : { SSH_KNOWN_HOSTS: sshd.knownHostsPath }),
    PG_SSLMODE: "disable",
    ...options.env,
  };
  const handleTtlSeconds = Number(env.HANDLE_TTL_SECONDS);
  const gateway = await startGateway(env);
  cleanups.push(() => gateway.stop());

  let checkedLines = 0;
  const lineProblem = (line: string): string | undefined => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return `a gateway output line is not JSON: ${line.slice(0, 300)}`;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return `a gateway output line is not a JSON object: ${
        line.slice(0, 300)
      }`;
    }
    const leak = logNeedles.find(line);
    if (leak !== undefined) return `a log line holds ${leak}`;
    return undefined;
  };

  let markers = 0;
  /**
   * Asks for an object that does not exist, whose `cyberark_error` audit
   * line the gateway writes before it answers, and waits for that line:
   * returns the index after it.
   */
  const logMarker = async (): Promise<number> => {
    const marker = `fuzz-marker-${++markers}`;
    const answer = await postMcp(
      `${gateway.baseUrl}/mcp/cyberark`,
      toolCallBody("get_credential", { safe: SAFE, object_name: marker }),
      // Behind TRUSTED_PROXIES the marker comes from an address of its
      // own, which no failed authentication of a case has blocked.
      { apiKey: keys.alice, headers: { "x-forwarded-for": MARKER_CLIENT } },
    );
    if (answer.status !== 200) {
      throw new Error(
        `The gateway answered a plain get_credential with HTTP ${answer.status}: ${answer.body}`,
      );
    }
    const quoted = `"${marker}"`;
    return await eventually(() => {
      const at = gateway.lines.findIndex((line, i) =>
        i >= checkedLines && line.includes(quoted)
      );
      if (at < 0) {
        throw new Error(`The gateway did not log the marker call ${marker}`);
      }
      return at + 1;
    }, { timeoutMs: 30_000, intervalMs: 1 });
  };

  /** The checks after every case (see `runCase`). */
  const afterCase = async (): Promise<void> => {
    const health = await fetch(`${gateway.baseUrl}/health`, {
      signal: AbortSignal.timeout(30_000),
    }).then(async (r) => ({ status: r.status, body: await r.text() }))
      .catch((error) => ({ status: 0, body: String(error) }));
    if (health.status !== 200) {
      checkedLines = gateway.lines.length;
      throw new Error(
        `The gateway no longer answers /health (${health.status} ${health.body}); its last lines:\n${
          gateway.lines.slice(-20).join("\n")
        }`,
      );
    }
    // The lines of this case end at the marker's (the gateway writes a
    // line before it answers, but this process may read it later).
    const end = await logMarker();
    const fresh = gateway.lines.slice(checkedLines, end);
    checkedLines = end;
    for (const line of fresh) {
      const problem = lineProblem(line);
      if (problem !== undefined) throw new Error(problem);
      const { event } = JSON.parse(line) as { event?: unknown };
      if (BUG_LINE.test(String(event))) {
        throw new Error(
          `A client's request hit a bug in the gateway: ${line.slice(0, 600)}`,
        );
      }
    }
  };

  return {
    gateway,
    baseUrl: gateway.baseUrl,
    port: gateway.port,
    keys,
    sshd,
    postgres,
    winrmPort,
    handleTtlSeconds,
    noteHandle: (handle) => logNeedles.add("an issued handle", handle),
    checkAnswer: (answer, context) => {
      const problems = answerProblems(answer, context);
      const leak = responseNeedles.find(
        answer.body + [...answer.headers].join("\n"),
      );
      if (leak !== undefined) problems.push(`the answer holds ${leak}`);
      if (problems.length > 0) {
        throw new Error(
          `${context.method} ${context.path}: ${problems.join("; ")}\n${
            describeAnswer(answer)
          }`,
        );
      }
    },
    runCase: async (body) => {
      let failure: { error: unknown } | undefined;
      try {
        await body();
      } catch (error) {
        failure = { error };
      }
      try {
        await afterCase();
      } catch (error) {
        failure ??= { error };
      }
      if (failure !== undefined) throw failure.error;
    },
    finish: async () => {
      const problems: string[] = [];
      try {
        await eventually(() => {
          const left = descendantsOf(gateway.pid);
          if (left.length > 0) {
            throw new Error(
              `${left.length} executor processes are left below the gateway: ${
                left.map((pid) => {
                  try {
                    return commandLine(pid).slice(-1)[0] ?? String(pid);
                  } catch {
                    return String(pid);
                  }
                }).join(", ")
              }`,
            );
          }
        }, { timeoutMs: (handleTtlSeconds + 30) * 1000, intervalMs: 200 });
      } catch (error) {
        problems.push((error as Error).message);
      }
      // SIGTERM: with nothing in flight the drain ends at once; a request
      // still counted (an answer never finished) is cut off after the grace.
      await gateway.stop();
      const events = gateway.events();
      const draining = events.find((e) => e.event === "service_draining");
      const stopped = events.find((e) => e.event === "service_stopped");
      if (draining?.in_flight !== 0 || stopped?.cut_off !== 0) {
        problems.push(
          `After SIGTERM: ${draining?.in_flight ?? "no"} requests in flight, ${
            stopped?.cut_off ?? "no"
          } cut off (expected 0 and 0)`,
        );
      }
      for (const line of gateway.lines) {
        const problem = lineProblem(line);
        if (problem !== undefined) problems.push(problem);
      }
      if (problems.length > 0) {
        throw new Error(
          `After the file's properties: ${problems.slice(0, 20).join("\n")}`,
        );
      }
    },
    stop: cleanUp,
  };
}
