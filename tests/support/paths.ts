/**
 * Path helpers for tests (node:path, since std lives on JSR).
 *
 * @module
 */
import { dirname as nodeDirname } from "node:path";
import { fileURLToPath } from "node:url";

/** Directory part of a path. */
export function dirname(path: string): string {
  return nodeDirname(path);
}

/** File path of a file: URL. */
export function fromFileUrl(url: URL): string {
  return fileURLToPath(url);
}

/** Root of the repository, with a trailing slash. */
export const PROJECT_ROOT = fromFileUrl(new URL("../../", import.meta.url));
