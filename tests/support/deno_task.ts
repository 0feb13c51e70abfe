/**
 * Running the project's `deno task`s the way operators do: from the project
 * root, configured only by a `.env` file (`ENV_FILE`), with nothing else of
 * the developer's environment.
 *
 * @module
 */
import { dirname, PROJECT_ROOT } from "./paths.ts";

/** Options of {@linkcode writeDotEnv}. */
export interface WriteDotEnvOptions {
  /** File mode; default 0600, as the manual asks. */
  mode?: number;
}

/** Writes `values` as `KEY=value` lines to the `.env` file at `path`. */
export async function writeDotEnv(
  path: string,
  values: Record<string, string>,
  options: WriteDotEnvOptions = {},
): Promise<void> {
  await Deno.writeTextFile(
    path,
    Object.entries(values).map(([k, v]) => `${k}=${v}`).join("\n") + "\n",
    { mode: 0o600 },
  );
  // The mode of writeTextFile goes through the umask; chmod sets it exactly.
  await Deno.chmod(path, options.mode ?? 0o600);
}

/**
 * The whole environment of a `deno` started as an operator would: PATH to
 * deno and the system tools, the real HOME and DENO_DIR (where `deno install`
 * put the module cache), `ENV_FILE` and `NO_COLOR`.
 */
export function operatorEnv(envFile: string): Record<string, string> {
  const denoDir = Deno.env.get("DENO_DIR");
  return {
    PATH: `${dirname(Deno.execPath())}:/usr/bin:/bin`,
    HOME: Deno.env.get("HOME") ?? dirname(envFile),
    ...(denoDir === undefined ? {} : { DENO_DIR: denoDir }),
    ENV_FILE: envFile,
    NO_COLOR: "1",
  };
}

/** What a finished `deno task` printed. */
export interface DenoTaskOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@linkcode runDenoTask}. */
export interface RunDenoTaskOptions {
  /** Arguments after the task name. */
  args?: string[];
  /** Mode of the `.env` file; default 0600. */
  envFileMode?: number;
  /**
   * Where to write the `.env` file; default a fresh temporary directory that
   * is removed afterwards (a given one is left to the caller).
   */
  dir?: string;
}

/** Runs `deno task --quiet <task>` with a `.env` file of `values`. */
export async function runDenoTask(
  task: string,
  values: Record<string, string>,
  options: RunDenoTaskOptions = {},
): Promise<DenoTaskOutput> {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "mcp-task-" });
  try {
    const envFile = `${dir}/.env`;
    await writeDotEnv(
      envFile,
      values,
      options.envFileMode === undefined ? {} : { mode: options.envFileMode },
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", task, ...(options.args ?? [])],
      cwd: PROJECT_ROOT,
      clearEnv: true,
      env: operatorEnv(envFile),
      stdin: "null",
    }).output();
    const decode = (b: Uint8Array): string => new TextDecoder().decode(b);
    return {
      code: output.code,
      stdout: decode(output.stdout),
      stderr: decode(output.stderr),
    };
  } finally {
    if (options.dir === undefined) {
      await Deno.remove(dir, { recursive: true });
    }
  }
}
