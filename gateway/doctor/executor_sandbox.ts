/**
 * The executor sandbox self-test: a probe executor, started by the real
 * spawner, must reach its own target and be denied everything else.
 *
 * @module
 */
import type {
  ProbeOperation,
  ProbeResult,
} from "../../executors/protocol/mod.ts";
import type {
  ExecutorOutcome,
  ExecutorSpawner,
} from "../../executors/spawner/mod.ts";
import type { CheckResult } from "./check_result.ts";
import { fail, pass } from "./_verdicts.ts";

/** What the probe executor did for each action of the sandbox self-test. */
export interface SandboxObservations {
  /** Its own target; must be `allowed`. */
  readonly target: string;
  readonly connectTarget: ProbeResult | string;
  /** Another port on 127.0.0.1; must be `denied`. */
  readonly other: string;
  readonly connectOther: ProbeResult | string;
  /** A file the gateway can read; must be `denied`. */
  readonly file: string;
  readonly readFile: ProbeResult | string;
  /** The environment; must be `denied`. */
  readonly readEnv: ProbeResult | string;
}

/**
 * Judges the executor sandbox self-test: the probe reaches its target and
 * is denied (NotCapable) another port, a file read and the environment.
 * A string observation is why the probe could not run at all.
 */
export function classifySandbox(seen: SandboxObservations): CheckResult {
  const name = "executor-sandbox";
  const target = seen.connectTarget;
  if (typeof target === "string") {
    return fail(
      name,
      `cannot run the probe executor: ${target}`,
      "run doctor with --allow-run=<the real path of deno> as `deno task doctor` does (deno eval 'console.log(Deno.execPath())'), and fill the module cache with deno task cache",
    );
  }
  if (target.outcome !== "allowed") {
    return fail(
      name,
      `the probe executor could not reach its own target ${seen.target} (${target.outcome}: ${target.detail})`,
      "check that this Deno is 2.9.6 and that executors/spawner/executor_args.ts grants --allow-net=HOST:PORT",
    );
  }
  const escapes: string[] = [];
  const expectDenied = (what: string, result: ProbeResult | string): void => {
    if (typeof result === "string") {
      escapes.push(`${what} could not be tried (${result})`);
    } else if (
      result.outcome !== "denied" || result.errorName !== "NotCapable"
    ) {
      escapes.push(`${what} was ${result.outcome} (${result.detail})`);
    }
  };
  expectDenied(`connecting to ${seen.other}`, seen.connectOther);
  expectDenied(`reading ${seen.file}`, seen.readFile);
  expectDenied("reading the environment", seen.readEnv);
  if (escapes.length > 0) {
    return fail(
      name,
      `the executor sandbox is not closed: ${escapes.join("; ")}`,
      "run the service with the Deno version and flags of deno.json's start task; never add permissions to executors/spawner/executor_args.ts",
    );
  }
  return pass(
    name,
    `a probe executor reached its target ${seen.target} and was denied ${seen.other}, reading ${seen.file} and the environment`,
  );
}

/** Runs the sandbox self-test through the real spawner and judges it. */
export async function checkExecutorSandbox(
  spawner: ExecutorSpawner,
  options: { readonly file?: string } = {},
): Promise<CheckResult> {
  const file = options.file ?? "/etc/passwd";
  using target = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  using other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  // Accept and drop whatever connects, so a connect never hangs.
  const drain = (listener: Deno.Listener): void => {
    (async () => {
      try {
        for await (const connection of listener) connection.close();
      } catch {
        // Closed at the end of the check.
      }
    })();
  };
  drain(target);
  drain(other);
  const host = { host: "127.0.0.1", port: target.addr.port };
  const otherAddress = { host: "127.0.0.1", port: other.addr.port };
  const run = async (
    operation: Omit<ProbeOperation, "kind">,
  ): Promise<ProbeResult | string> => {
    let outcome: ExecutorOutcome;
    try {
      outcome = await spawner.run({
        target: host,
        credential: {
          username: "doctor",
          kind: "password",
          secret: { reveal: () => "doctor-probe-not-a-secret" },
        },
        operation: { kind: "probe", ...operation },
        timeoutMs: 20_000,
      });
    } catch (error) {
      return error instanceof Error
        ? `${error.name}: ${error.message}`
        : String(error);
    }
    if (!outcome.ok) return `${outcome.error.code}: ${outcome.error.message}`;
    return outcome.result.kind === "probe"
      ? outcome.result
      : `unexpected ${outcome.result.kind} result`;
  };
  const connectTarget = await run({ action: "connect_target" });
  const observations: SandboxObservations = typeof connectTarget === "string"
    ? {
      target: `${host.host}:${host.port}`,
      connectTarget,
      other: `${otherAddress.host}:${otherAddress.port}`,
      connectOther: "not tried",
      file,
      readFile: "not tried",
      readEnv: "not tried",
    }
    : {
      target: `${host.host}:${host.port}`,
      connectTarget,
      other: `${otherAddress.host}:${otherAddress.port}`,
      connectOther: await run({
        action: "connect_other",
        other: otherAddress,
      }),
      file,
      readFile: await run({ action: "read_file", path: file }),
      readEnv: await run({ action: "read_env" }),
    };
  return classifySandbox(observations);
}
