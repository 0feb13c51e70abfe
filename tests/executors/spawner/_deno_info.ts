/**
 * Where the running deno keeps its caches, as `deno info --json` says.
 *
 * @module
 */

/** The cache folders of the running deno. */
export interface DenoInfo {
  /** DENO_DIR in effect. */
  denoDir: string;
  /** The npm package cache. */
  npmCache: string;
}

/** Asks the running deno where its caches are. */
export async function denoInfo(): Promise<DenoInfo> {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stderr: "null",
  }).output();
  return JSON.parse(new TextDecoder().decode(info.stdout)) as DenoInfo;
}
