/**
 * The SSH section: `SSH_KNOWN_HOSTS`, a file path (`~` expanded, read by
 * `ssh_execute` on every call so new keys need no restart) or `disable`.
 *
 * @module
 */
import type { SshKnownHosts } from "./config.ts";
import type { EnvValues } from "./env_schema.ts";
import type { ParseContext } from "./_parse_context.ts";
import { expandHome } from "./_paths.ts";

/** The known_hosts file when `SSH_KNOWN_HOSTS` is unset. */
export const DEFAULT_SSH_KNOWN_HOSTS = "~/.ssh/known_hosts";

/** Reads `SSH_KNOWN_HOSTS` and warns when host keys are not checked. */
export function parseSshKnownHosts(
  values: EnvValues,
  context: ParseContext,
): SshKnownHosts {
  const value = values.SSH_KNOWN_HOSTS?.trim() ?? "";
  if (value.toLowerCase() === "disable") {
    context.warnings.push(
      "SSH_KNOWN_HOSTS=disable: SSH host keys are not verified; never use this in production",
    );
    return { mode: "disable" };
  }
  return {
    mode: "file",
    path: expandHome(
      value === "" ? DEFAULT_SSH_KNOWN_HOSTS : value,
      context.home,
    ),
  };
}
