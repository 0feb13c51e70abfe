/**
 * Resident memory of a process and of its whole tree, read from /proc
 * (Linux only): `VmRSS` of `/proc/PID/status`, and a sampler that keeps the
 * peak of a tree while a burst runs.
 *
 * @module
 */

/** `VmRSS` of one process in KiB, or 0 once it has exited. */
export function vmRssKb(pid: number): number {
  let status: string;
  try {
    status = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return 0;
  }
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return match === null ? 0 : Number(match[1]);
}

/** The parent pid of every process now running. */
function parentPids(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parents.set(Number(entry.name), Number(fields[1]));
    } catch {
      // It exited while the list was read.
    }
  }
  return parents;
}

/** `pid` and every process below it. */
export function processTree(pid: number): number[] {
  const parents = parentPids();
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parents) {
      if (parent === tree[i]) tree.push(child);
    }
  }
  return tree;
}

/** What {@linkcode TreeRssSampler.stop} found. */
export interface TreeRssPeak {
  /** Highest sum of `VmRSS` over the tree, in KiB. */
  readonly treeKb: number;
  /** Highest `VmRSS` of the root process alone, in KiB. */
  readonly rootKb: number;
  /** Most processes seen in the tree at once (the root included). */
  readonly processes: number;
}

/** Samples the RSS of a process tree every `intervalMs` until stopped. */
export class TreeRssSampler {
  readonly #pid: number;
  readonly #timer: ReturnType<typeof setInterval>;
  #treeKb = 0;
  #rootKb = 0;
  #processes = 0;

  /** Starts sampling the tree under `pid`. */
  constructor(pid: number, intervalMs = 20) {
    this.#pid = pid;
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), intervalMs);
  }

  #sample(): void {
    const tree = processTree(this.#pid);
    const sizes = tree.map(vmRssKb);
    this.#treeKb = Math.max(this.#treeKb, sizes.reduce((a, b) => a + b, 0));
    this.#rootKb = Math.max(this.#rootKb, sizes[0] ?? 0);
    this.#processes = Math.max(this.#processes, tree.length);
  }

  /** Stops sampling (after one last sample) and returns the peaks. */
  stop(): TreeRssPeak {
    clearInterval(this.#timer);
    this.#sample();
    return {
      treeKb: this.#treeKb,
      rootKb: this.#rootKb,
      processes: this.#processes,
    };
  }
}
