/**
 * Starts the real gateway the way operators do (`deno task start` with a
 * `.env` file) and collects every line it writes.
 *
 * @module
 */
import { spawnDaemon } from "./daemon.ts";
import { operatorEnv, writeDotEnv } from "./deno_task.ts";
import { eventually } from "./eventually.ts";
import { parseLogLines } from "./log_lines.ts";
import { PROJECT_ROOT } from "./paths.ts";

export { PROJECT_ROOT };

/** A running gateway process. */
export interface GatewayProcess {
  baseUrl: string;
  port: number;
  /** Every stdout and stderr line written so far. */
  lines: string[];
  /** Parsed JSON log lines written so far. */
  events(): Record<string, unknown>[];
  /** Waits until a JSON line matches, or throws after `timeoutMs`. */
  waitFor(
    predicate: (event: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
  /**
   * The service's own process id (`service_started`'s `pid`); under
   * `deno task start` it is a child of the task runner.
   */
  pid: number;
  /**
   * Sends a signal to the task runner, which passes it on to the service
   * (as `kill` of the started process does); nothing once it has exited.
   */
  kill(signal: Deno.Signal): void;
  /** Resolves with the exit status of the started process once it has exited. */
  status: Promise<Deno.CommandStatus>;
}

/** How {@linkcode startGateway} runs the gateway. */
export interface StartGatewayOptions {
  /** Arguments of `deno` (default `task --quiet start`, as operators run it). */
  denoArgs?: string[];
  /**
   * A command that wraps `deno` (e.g. `bwrap ...`), built from the temporary
   * directory that holds the `.env` file so the wrapper can expose it.
   */
  wrap?: (envDir: string) => string[];
}

/** Starts `deno task start` with these `.env` values (PORT=0 unless given). */
export async function startGateway(
  env: Record<string, string>,
  options: StartGatewayOptions = {},
): Promise<GatewayProcess> {
  const dir = await Deno.makeTempDir({ prefix: "mcp-gw-" });
  const envFile = `${dir}/.env`;
  await writeDotEnv(envFile, {
    HOST: "127.0.0.1",
    PORT: "0",
    LOG_FORMAT: "json",
    ...env,
  });
  const [command, ...args] = [
    ...(options.wrap?.(dir) ?? []),
    Deno.execPath(),
    ...(options.denoArgs ?? ["task", "--quiet", "start"]),
  ];
  const gateway = spawnDaemon(command!, {
    args,
    cwd: PROJECT_ROOT,
    clearEnv: true,
    env: operatorEnv(envFile),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const lines: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>): Promise<void> => {
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
  };
  const pumps = Promise.all([
    pump(gateway.child.stdout),
    pump(gateway.child.stderr),
  ]);
  const events = (): Record<string, unknown>[] => parseLogLines(lines);
  const waitFor = (
    predicate: (event: Record<string, unknown>) => boolean,
    timeoutMs = 30_000,
  ): Promise<Record<string, unknown>> =>
    eventually(() => {
      const found = events().find(predicate);
      if (found !== undefined) return found;
      throw new Error(
        `Gateway log line not found${
          gateway.exited() ? " (the gateway exited)" : ""
        }; output so far:\n${lines.join("\n")}`,
      );
    }, { timeoutMs, intervalMs: 25, signal: gateway.exitSignal });
  const stop = async (): Promise<void> => {
    await gateway.stop();
    await pumps;
    await Deno.remove(dir, { recursive: true });
  };
  let started: Record<string, unknown>;
  try {
    started = await waitFor((e) => e.event === "service_started");
  } catch (error) {
    await stop();
    throw error;
  }
  const port = Number(started.port);
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    lines,
    events,
    waitFor,
    stop,
    pid: Number(started.pid),
    kill: (signal) => {
      if (gateway.exited()) return;
      try {
        gateway.child.kill(signal);
      } catch {
        // It exited in the meantime.
      }
    },
    status: gateway.status,
  };
}
