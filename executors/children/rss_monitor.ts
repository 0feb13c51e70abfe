/**
 * The resident-memory monitor: a helper process the spawner starts while
 * executors run, to read their `/proc/<pid>/status` for the memory watchdog.
 * It runs on the child side of the process boundary, but it is not an
 * executor: it never sees a request, a credential or a target.
 *
 * Why a process of its own, with `--allow-all`: Deno 2.9 refuses every read
 * under `/proc/<pid>/` ("Requires all access") unless the whole process runs
 * with `--allow-all`; `--allow-read`, `--allow-read=/proc`, and `--allow-all`
 * with any `--deny-*` flag were each refused on this machine. The gateway
 * must not run with `--allow-all`, and it may already start `deno` (its
 * `--allow-run`), so this small fixed module runs with it instead. It imports
 * nothing, touches no secret and no network, and trusts only its parent:
 * it reads process ids from stdin and writes numbers to stdout.
 *
 * Protocol, one command a line on stdin: `+PID` watch, `-PID` stop watching.
 * Every `INTERVAL_MS` (the first argument) it writes one line per watched
 * process: `PID HWM_KB RSS_KB` (`VmHWM` and `VmRSS`), `PID gone` once the
 * process has exited, or `PID error NAME` when its status cannot be read.
 * It exits when stdin closes.
 *
 * @module
 */

const interval = Number(Deno.args[0] ?? "100");
const watched = new Set<number>();
const encoder = new TextEncoder();
let open = true;

function kbOf(status: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status);
  return match === null ? 0 : Number(match[1]);
}

async function readCommands(): Promise<void> {
  let pending = "";
  try {
    for await (
      const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())
    ) {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const match = /^([+-])([1-9][0-9]{0,9})$/.exec(line);
        if (match === null) continue;
        const pid = Number(match[2]);
        if (match[1] === "+") watched.add(pid);
        else watched.delete(pid);
      }
    }
  } finally {
    open = false;
  }
}

async function sample(pid: number): Promise<string> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    return `${pid} ${kbOf(status, "VmHWM")} ${kbOf(status, "VmRSS")}`;
  } catch (error) {
    watched.delete(pid);
    return error instanceof Deno.errors.NotFound
      ? `${pid} gone`
      : `${pid} error ${error instanceof Error ? error.name : "unknown"}`;
  }
}

if (import.meta.main) {
  const commands = readCommands();
  while (open) {
    const lines = await Promise.all([...watched].map(sample));
    if (lines.length > 0) {
      await Deno.stdout.write(encoder.encode(`${lines.join("\n")}\n`));
    }
    await Promise.race([
      commands,
      new Promise((resolve) => setTimeout(resolve, interval)),
    ]);
  }
  Deno.exit(0);
}
