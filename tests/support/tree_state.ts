/**
 * The state of a directory tree, to show that nothing in it changed: every
 * entry's kind, mode, owner, size, inode, modification and change times
 * (the kernel moves the change time on any write to an entry's content or
 * metadata), and where each symbolic link points.
 *
 * @module
 */

/** path (relative to the root, starting with `/`) -> state of the entry. */
export type TreeState = Map<string, string>;

/** Reads the state of every entry under `root` (symbolic links not followed). */
export async function treeState(root: string): Promise<TreeState> {
  const out: TreeState = new Map();
  const walk = async (dir: string): Promise<void> => {
    const names: string[] = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    for (const name of names.sort()) {
      const path = `${dir}/${name}`;
      const info = await Deno.lstat(path);
      const kind = info.isDirectory
        ? "d"
        : info.isSymlink
        ? `l>${await Deno.readLink(path)}`
        : info.isFile
        ? "f"
        : "o";
      out.set(
        path.slice(root.length),
        [
          kind,
          info.mode?.toString(8),
          `${info.uid}:${info.gid}`,
          info.size,
          info.ino,
          info.mtime?.getTime(),
          info.ctime?.getTime(),
        ].join(" "),
      );
      if (info.isDirectory) await walk(path);
    }
  };
  await walk(root);
  return out;
}

/** What differs between two states (at most `limit` lines). */
export function treeDifferences(
  before: TreeState,
  after: TreeState,
  limit = 20,
): string[] {
  const changed: string[] = [];
  for (const [path, state] of before) {
    const now = after.get(path);
    if (now === undefined) changed.push(`removed: ${path}`);
    else if (now !== state) {
      changed.push(`changed: ${path} (${state} -> ${now})`);
    }
  }
  for (const path of after.keys()) {
    if (!before.has(path)) changed.push(`added: ${path}`);
  }
  return changed.slice(0, limit);
}
