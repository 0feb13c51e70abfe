/**
 * Reading processes from the host's `/proc`: the descendants of a process
 * (those a sandbox started, whatever their pids inside its own pid
 * namespace), their command lines, and the ids they run as.
 *
 * @module
 */

/**
 * Whether a process exists and has not exited: a zombie (state Z) has
 * exited, only its parent has not reaped it yet.
 */
export function isAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // pid (comm) state ...; comm may hold spaces and parentheses.
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** The parent pid in `/proc/<pid>/stat`, or undefined once it has gone. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // pid (comm) state ppid ...; comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[1]);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Every living process below `pid`, parents before their children. */
export function descendantsOf(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const child = Number(entry.name);
    const parent = parentOf(child);
    if (parent !== undefined) parents.set(child, parent);
  }
  const found: number[] = [];
  let frontier = [pid];
  while (frontier.length > 0) {
    frontier = [...parents].filter(([, parent]) => frontier.includes(parent))
      .map(([child]) => child).sort((a, b) => a - b);
    found.push(...frontier);
  }
  return found;
}

/** The arguments of a process (`/proc/<pid>/cmdline`). */
export function commandLine(pid: number): string[] {
  const raw = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
  return raw.split("\0").slice(0, -1);
}

/** The ids a process runs as, from `/proc/<pid>/status`. */
export interface ProcessIds {
  /** Real, effective, saved and filesystem uid. */
  uids: number[];
  /** Real, effective, saved and filesystem gid. */
  gids: number[];
  /** Supplementary groups. */
  groups: number[];
}

/** The uids, gids and supplementary groups of a process, as the host sees them. */
export function processIds(pid: number): ProcessIds {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const field = (name: string): number[] => {
    const line = status.split("\n").find((l) => l.startsWith(`${name}:`));
    if (line === undefined) {
      throw new Error(`Cannot read ${name} from /proc/${pid}/status`);
    }
    return line.slice(name.length + 1).trim().split(/\s+/).filter((v) =>
      v !== ""
    ).map(Number);
  };
  return { uids: field("Uid"), gids: field("Gid"), groups: field("Groups") };
}
