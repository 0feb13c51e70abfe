/**
 * Starts the real gateway the way operators do (`deno task start` with a
 * `.env` file) and collects every line it writes.
 *
 * @module
 */
import { eventually } from "./eventually.ts";
import { dirname, fromFileUrl } from "./paths.ts";

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
}

/** Root of the repository. */
export const PROJECT_ROOT = fromFileUrl(new URL("../../", import.meta.url));

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
  await Deno.writeTextFile(
    envFile,
    Object.entries({ HOST: "127.0.0.1", PORT: "0", LOG_FORMAT: "json", ...env })
      .map(([k, v]) => `${k}=${v}`).join("\n") + "\n",
    { mode: 0o600 },
  );
  const [command, ...args] = [
    ...(options.wrap?.(dir) ?? []),
    Deno.execPath(),
    ...(options.denoArgs ?? ["task", "--quiet", "start"]),
  ];
  const child = new Deno.Command(command!, {
    args,
    cwd: PROJECT_ROOT,
    clearEnv: true,
    env: {
      PATH: `${dirname(Deno.execPath())}:/usr/bin:/bin`,
      // The real HOME keeps Deno's module cache (DENO_DIR) where `deno install` put it.
      HOME: Deno.env.get("HOME") ?? dir,
      ...(Deno.env.get("DENO_DIR") === undefined
        ? {}
        : { DENO_DIR: Deno.env.get("DENO_DIR")! }),
      ENV_FILE: envFile,
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
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
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const events = (): Record<string, unknown>[] =>
    lines.flatMap((line) => {
      try {
        const value = JSON.parse(line);
        return typeof value === "object" && value !== null ? [value] : [];
      } catch {
        return [];
      }
    });
  let exited = false;
  const gone = new AbortController();
  const status = child.status.then((s) => {
    exited = true;
    gone.abort();
    return s;
  });
  const waitFor = (
    predicate: (event: Record<string, unknown>) => boolean,
    timeoutMs = 30_000,
  ): Promise<Record<string, unknown>> =>
    eventually(() => {
      const found = events().find(predicate);
      if (found !== undefined) return found;
      throw new Error(
        `Gateway log line not found${
          exited ? " (the gateway exited)" : ""
        }; output so far:\n${lines.join("\n")}`,
      );
    }, { timeoutMs, intervalMs: 25, signal: gone.signal });
  const stop = async (): Promise<void> => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
    }
    await status;
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
  };
}
