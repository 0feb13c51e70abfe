/**
 * The policy in force, and how it is replaced while the service runs: on
 * SIGHUP and when the file changes. A new file that does not load is
 * refused with an error-level `policy_reload_failed` line (file, line,
 * rule) and the policy in force stays; a new one that loads is announced
 * with a `policy_loaded` audit line.
 *
 * The file's directory is watched, not the file: editors save by writing a
 * new file and renaming it over the old one, and Kubernetes swaps a
 * ConfigMap's `..data` symlink, so a watch on the file itself would go
 * blind after the first change.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { audit } from "../audit.ts";
import { loadPolicyFile } from "./load_policy.ts";
import type { Policy, PolicyHolder } from "./policy.ts";
import { PolicyError } from "./policy_error.ts";

/** Why a policy was (re)loaded, as the audit line says it. */
export type PolicyLoadReason = "start" | "sighup" | "file_change";

/** Options of {@linkcode createPolicyHolder}. */
export interface PolicyHolderOptions {
  /** `POLICY_FILE` (`~` expanded), or `undefined` when it is not set. */
  readonly file: string | undefined;
  /** The policy loaded from `file` at start-up (by the configuration). */
  readonly policy: Policy | undefined;
  /** Quiet time after the last file event before reloading; default 200 ms. */
  readonly debounceMs?: number;
  /** Reads the file; default {@linkcode loadPolicyFile}. */
  readonly load?: (path: string) => Policy;
}

/** A {@linkcode PolicyHolder} that can reload, watch and stop watching. */
export interface ReloadablePolicyHolder extends PolicyHolder {
  /**
   * Reads the file again; the new policy takes effect when it loads.
   *
   * @returns whether the new policy is now in force (false when it was refused or no file is configured)
   */
  reload(reason: Exclude<PolicyLoadReason, "start">): boolean;
  /**
   * Announces the policy in force (`policy_loaded`, reason `start`) and
   * starts reloading on SIGHUP and file changes; nothing without a file.
   */
  start(): void;
  /** Stops the watcher and the signal listener; resolves once the watcher has ended. */
  close(): Promise<void>;
}

/** Default quiet time after the last file event. */
export const DEFAULT_DEBOUNCE_MS = 200;

/** Creates the holder of the policy of `options.file`. */
export function createPolicyHolder(
  options: PolicyHolderOptions,
): ReloadablePolicyHolder {
  const { file } = options;
  const load = options.load ?? loadPolicyFile;
  const debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  let current = options.policy;
  let watcher: Deno.FsWatcher | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let watching: Promise<void> = Promise.resolve();

  const announce = (policy: Policy, reason: PolicyLoadReason): void =>
    audit("policy_loaded", {
      source: policy.source,
      sha256: policy.sha256,
      rules: policy.ruleCount,
      reason,
    });

  const reload = (reason: Exclude<PolicyLoadReason, "start">): boolean => {
    if (file === undefined) return false;
    let next: Policy;
    try {
      next = load(file);
    } catch (error) {
      audit("policy_reload_failed", {
        source: file,
        reason,
        error: error instanceof PolicyError
          ? error.message
          : `POLICY_FILE ${file}: ${
            error instanceof Error ? error.message : String(error)
          }`,
      }, "error");
      return false;
    }
    // An editor's save fires several events; the same bytes again are no news.
    if (reason === "file_change" && next.sha256 === current?.sha256) {
      return true;
    }
    current = next;
    announce(next, reason);
    return true;
  };

  const onSighup = (): void => {
    reload("sighup");
  };

  const watch = async (path: string): Promise<void> => {
    const { dir, name } = splitPath(path);
    try {
      watcher = Deno.watchFs(dir, { recursive: false });
    } catch (error) {
      getLogger(["gateway", "policy"]).warn("policy_watch_failed", {
        source: path,
        error: `POLICY_FILE ${path}: its directory ${dir} cannot be watched (${
          error instanceof Error ? error.name : String(error)
        }); a change takes effect on SIGHUP (kill -HUP <pid>)`,
      });
      return;
    }
    try {
      for await (const event of watcher) {
        if (!event.paths.some((path) => concernsFile(path, name))) continue;
        clearTimeout(timer);
        timer = setTimeout(() => {
          timer = undefined;
          if (!closed) reload("file_change");
        }, debounceMs);
      }
    } catch {
      // The watcher was closed, or the directory went away; SIGHUP still works.
    }
  };

  return {
    current: () => current,
    reload,
    start: () => {
      if (file === undefined) return;
      if (current !== undefined) announce(current, "start");
      try {
        Deno.addSignalListener("SIGHUP", onSighup);
      } catch {
        // No SIGHUP on this platform (Windows); file changes still reload.
      }
      watching = watch(file);
    },
    close: async () => {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      try {
        Deno.removeSignalListener("SIGHUP", onSighup);
      } catch {
        // It was never added.
      }
      try {
        watcher?.close();
      } catch {
        // Already closed.
      }
      watcher = undefined;
      await watching;
    },
  };
}

/**
 * Whether a watch event's path is about the policy file: the file itself
 * (also a temporary file renamed over it is reported under its name), or a
 * Kubernetes ConfigMap's `..data` link swap.
 */
function concernsFile(path: string, name: string): boolean {
  const base = path.slice(path.lastIndexOf("/") + 1);
  return base === name || base.startsWith("..");
}

function splitPath(file: string): { dir: string; name: string } {
  const slash = file.lastIndexOf("/");
  return slash < 0 ? { dir: ".", name: file } : {
    dir: slash === 0 ? "/" : file.slice(0, slash),
    name: file.slice(slash + 1),
  };
}
