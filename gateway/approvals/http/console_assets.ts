/**
 * The console's files, read once from `gateway/approvals/console/` next to
 * this folder (relative to this module, so it works from any working
 * directory and on a read-only filesystem), with their content types.
 *
 * @module
 */

/** One file of the console. */
export interface ConsoleAsset {
  readonly body: string;
  readonly contentType: string;
}

/** The console's pages, script and style sheet. */
export interface ConsoleAssets {
  /** The console page; fills itself from the API. */
  readonly index: ConsoleAsset;
  /** The login page with `<!--login-error-->` where an error goes. */
  readonly login: ConsoleAsset;
  readonly script: ConsoleAsset;
  readonly style: ConsoleAsset;
}

const HTML = "text/html; charset=utf-8";

let cached: ConsoleAssets | undefined;

/**
 * Reads the console's files (once per process).
 *
 * @throws {Deno.errors.NotFound} when a file is missing from the installation
 */
export function loadConsoleAssets(): ConsoleAssets {
  cached ??= {
    index: { body: read("index.html"), contentType: HTML },
    login: { body: read("login.html"), contentType: HTML },
    script: {
      body: read("console.js"),
      contentType: "text/javascript; charset=utf-8",
    },
    style: {
      body: read("console.css"),
      contentType: "text/css; charset=utf-8",
    },
  };
  return cached;
}

function read(name: string): string {
  return Deno.readTextFileSync(new URL(`../console/${name}`, import.meta.url));
}
