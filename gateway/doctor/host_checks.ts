/**
 * The host checks: the files the service reads (`.env`, the PFX,
 * known_hosts) have safe modes and owners, and the service runs as a
 * dedicated non-root user. The facts are gathered by {@linkcode fileFacts}
 * and {@linkcode knownHostsFacts}; the checks only judge them.
 *
 * @module
 */
import type { SshKnownHosts } from "../config/mod.ts";
import { parseKnownHostsDetailed } from "../known_hosts.ts";
import type { CheckResult } from "./check_result.ts";
import { fail, pass, warn } from "./_verdicts.ts";

/** Mode and owner of a file, or why it could not be examined. */
export type FileFacts =
  | {
    readonly kind: "file";
    readonly mode: number;
    readonly uid: number;
    /** The file's group; absent where the platform does not say. */
    readonly gid?: number;
  }
  | { readonly kind: "missing" }
  | { readonly kind: "unreadable"; readonly reason: string };

/** The user running the doctor (the service user, when run as documented). */
export interface RunningUser {
  readonly uid: number;
  /** Primary group id, when known (a Kubernetes Secret volume's fsGroup). */
  readonly gid?: number;
  /** Login name from /etc/passwd, when known. */
  readonly name?: string;
}

/** What reading the known_hosts file gave. */
export type KnownHostsFacts =
  | { readonly kind: "text"; readonly text: string; readonly mode: number }
  | { readonly kind: "missing" }
  | { readonly kind: "unreadable"; readonly reason: string };

/** SSH_KNOWN_HOSTS: not `disable`, readable, not writable by others, non-empty. */
export function checkKnownHosts(
  setting: SshKnownHosts,
  facts: KnownHostsFacts,
): CheckResult {
  const name = "ssh-known-hosts";
  if (setting.mode === "disable") {
    return fail(
      name,
      "SSH_KNOWN_HOSTS=disable: SSH host keys are not verified",
      "set SSH_KNOWN_HOSTS to a known_hosts file (ssh-keyscan -H HOST >> FILE)",
    );
  }
  const path = setting.path;
  const scan = `ssh-keyscan -H HOST >> ${path} (as the service user)`;
  if (facts.kind === "missing") {
    return warn(
      name,
      `${path} does not exist: ssh_execute refuses every host`,
      `add the targets' keys: ${scan}`,
    );
  }
  if (facts.kind === "unreadable") {
    return fail(
      name,
      `cannot read ${path} (${facts.reason}): ssh_execute refuses every host`,
      `make it readable by the service user: chown mcpuser ${path}; chmod 640 ${path}`,
    );
  }
  if ((facts.mode & 0o022) !== 0) {
    return fail(
      name,
      `${path} has mode ${modeText(facts.mode)}: other users can add host keys`,
      `chmod 644 ${path} (or 440, owned by the service user)`,
    );
  }
  const parsed = parseKnownHostsDetailed(facts.text);
  const keys = parsed.entries.filter((e) => !e.revoked).length;
  if (keys === 0) {
    return warn(
      name,
      `${path} holds no host key: ssh_execute refuses every host`,
      `add the targets' keys: ${scan}`,
    );
  }
  if (parsed.skipped.length > 0) {
    const lines = parsed.skipped.slice(0, 5).map((s) => s.line).join(", ");
    return warn(
      name,
      `${path}: ${keys} host key(s), ${parsed.skipped.length} unreadable line(s) (line ${lines})`,
      `fix or delete those lines; re-scan them with ${scan}`,
    );
  }
  return pass(name, `${path}: ${keys} host key(s)`);
}

function modeText(mode: number): string {
  return (mode & 0o777).toString(8).padStart(3, "0");
}

function ownerText(uid: number, user: RunningUser): string {
  return uid === user.uid
    ? `owned by ${user.name ?? `uid ${uid}`} (the user running doctor)`
    : `owned by uid ${uid}, not by ${
      user.name ?? `uid ${user.uid}`
    } who runs doctor`;
}

/**
 * The `.env` file: mode 600 (or stricter) and owned by the service user.
 * `path` is `undefined` when ENV_FILE is set empty (configuration from the
 * environment only, as in the container).
 */
export function checkEnvFile(
  path: string | undefined,
  facts: FileFacts,
  user: RunningUser,
): CheckResult {
  const name = "env-file";
  if (path === undefined) {
    return pass(name, "ENV_FILE is empty: settings come from the environment");
  }
  if (facts.kind === "missing") {
    return warn(
      name,
      `${path} does not exist: only the environment was checked`,
      "run doctor where the service runs (its ENV_FILE, or .env next to deno.json)",
    );
  }
  return checkPrivateFile(
    name,
    {
      label: path,
      path,
      exposure: "other users can read the API keys",
    },
    facts,
    user,
  );
}

/** A file that must stay private to the service user, for the checks. */
export interface PrivateFile {
  /** How messages name it, e.g. the path, or `MCP_API_KEYS_FILE <path>`. */
  readonly label: string;
  /** Its path, for the fix. */
  readonly path: string;
  /** What other users could do with it, for the failure. */
  readonly exposure: string;
}

/**
 * A private file (the `.env`, the API keys file): mode 600 or stricter and
 * owned by the user running doctor, who should be the service user.
 */
export function checkPrivateFile(
  name: string,
  file: PrivateFile,
  facts: Exclude<FileFacts, { kind: "missing" }>,
  user: RunningUser,
): CheckResult {
  const { label, path } = file;
  if (facts.kind === "unreadable") {
    return fail(
      name,
      `cannot examine ${label} (${facts.reason})`,
      `chown the file to the service user and chmod 600 ${path}`,
    );
  }
  if ((facts.mode & 0o077) !== 0) {
    return fail(
      name,
      `${label} has mode ${modeText(facts.mode)}: ${file.exposure}`,
      `chmod 600 ${path}`,
    );
  }
  if (facts.uid !== user.uid) {
    return warn(
      name,
      `${label} has mode ${modeText(facts.mode)}, ${
        ownerText(facts.uid, user)
      }`,
      `chown it to the service user and run doctor as that user (sudo -u mcpuser deno task doctor)`,
    );
  }
  return pass(
    name,
    `${label} has mode ${modeText(facts.mode)}, ${ownerText(facts.uid, user)}`,
  );
}

/** The PFX of CYBERARK_CERT_PFX_PATH: mode 400, owned by the service user. */
export function checkPfxFile(
  path: string | undefined,
  facts: FileFacts,
  user: RunningUser,
): CheckResult {
  const name = "cyberark-pfx";
  if (path === undefined) {
    return pass(
      name,
      "CYBERARK_CERT_PFX_PATH is not set (no client certificate)",
    );
  }
  if (facts.kind !== "file") {
    return fail(
      name,
      `cannot examine ${path} (${
        facts.kind === "missing" ? "not found" : facts.reason
      })`,
      `copy the PFX there, chown it to the service user and chmod 400 ${path}`,
    );
  }
  // A Kubernetes Secret volume cannot give a non-root user a file of its
  // own: it mounts it root-owned, mode 0440, group fsGroup (the service's
  // group). Read-only for that group alone is as private as mode 400.
  const ownGroupRead = (facts.mode & 0o777) === 0o440 &&
    facts.gid !== undefined && facts.gid === user.gid &&
    (facts.uid === 0 || facts.uid === user.uid);
  if ((facts.mode & 0o077) !== 0 && !ownGroupRead) {
    return fail(
      name,
      `${path} has mode ${
        modeText(facts.mode)
      }: other users can copy the client key`,
      `chmod 400 ${path}`,
    );
  }
  if (ownGroupRead) {
    return pass(
      name,
      `${path} has mode 440, group ${facts.gid} (the service's own group, as a Kubernetes Secret volume with fsGroup mounts it)`,
    );
  }
  if ((facts.mode & 0o777) !== 0o400 || facts.uid !== user.uid) {
    return warn(
      name,
      `${path} has mode ${modeText(facts.mode)}, ${ownerText(facts.uid, user)}`,
      `chown it to the service user and chmod 400 ${path}`,
    );
  }
  return pass(
    name,
    `${path} has mode 400, ${ownerText(facts.uid, user)}`,
  );
}

/** The service (and so the doctor) runs as a dedicated non-root user. */
export function checkServiceUser(user: RunningUser): CheckResult {
  const name = "service-user";
  return user.uid === 0
    ? warn(
      name,
      "doctor runs as root: the service must run as a dedicated non-root user",
      "run the service and doctor as mcpuser (sudo -u mcpuser deno task doctor)",
    )
    : pass(name, `running as ${user.name ?? "uid"} (uid ${user.uid})`);
}

/** Mode and owner of a file. */
export function fileFacts(path: string): FileFacts {
  try {
    const info = Deno.statSync(path);
    if (!info.isFile) return { kind: "unreadable", reason: "not a file" };
    return {
      kind: "file",
      mode: info.mode ?? 0,
      uid: info.uid ?? -1,
      ...(info.gid === null ? {} : { gid: info.gid }),
    };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { kind: "missing" };
    return { kind: "unreadable", reason: errorText(error) };
  }
}

/** Reads a known_hosts file with its mode. */
export function knownHostsFacts(path: string): KnownHostsFacts {
  try {
    const text = Deno.readTextFileSync(path);
    return { kind: "text", text, mode: Deno.statSync(path).mode ?? 0 };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { kind: "missing" };
    return { kind: "unreadable", reason: errorText(error) };
  }
}

function errorText(error: unknown): string {
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) {
    return "not allowed by Deno permissions";
  }
  return error instanceof Error ? error.message : String(error);
}
