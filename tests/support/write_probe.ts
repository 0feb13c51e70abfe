/**
 * The script a read-only filesystem test runs inside the sandbox: it tries
 * to create and remove a file at each path and prints, as one JSON object,
 * `written` or the error's name for every path.
 *
 * @module
 */

/** A `deno eval` script that tries to write each of `paths`. */
export function writeProbeScript(paths: readonly string[]): string {
  return `const out = {};
for (const path of ${JSON.stringify(paths)}) {
  try { Deno.writeTextFileSync(path, "x"); Deno.removeSync(path); out[path] = "written"; }
  catch (error) { out[path] = error.name; }
}
console.log(JSON.stringify(out));`;
}
