/**
 * Paths named by variables: `~` expansion and why a file could not be read.
 *
 * @module
 */

/** Expands a leading `~` to `home`. */
export function expandHome(path: string, home: string): string {
  return path === "~"
    ? home
    : path.startsWith("~/")
    ? `${home}${path.slice(1)}`
    : path;
}

/** Why a file could not be read, in words for an error message. */
export function fileErrorName(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "not found";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) {
    return "not allowed by Deno permissions";
  }
  return error instanceof Error ? error.name : "unreadable";
}
