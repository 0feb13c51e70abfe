/**
 * The policy check: a POLICY_FILE is set (without one every principal may do
 * everything), and other users cannot change it. The file need not be
 * secret, so it may be readable by all; the policy itself was validated when
 * the configuration loaded.
 *
 * @module
 */
import type { PolicyConfig } from "../config/mod.ts";
import type { CheckResult } from "./check_result.ts";
import { type FileFacts, fileFacts } from "./host_checks.ts";
import { pass, warn } from "./_verdicts.ts";

/** Hex digits of the policy's SHA-256 shown in the result. */
const SHA_PREFIX = 12;

/**
 * WARN without POLICY_FILE or when the file is writable by its group or by
 * everyone; PASS with the file, its rule count and a SHA-256 prefix.
 */
export function checkPolicy(
  policy: PolicyConfig,
  facts?: FileFacts,
): CheckResult {
  const name = "policy";
  if (policy.file === undefined || policy.policy === undefined) {
    return warn(
      name,
      "POLICY_FILE is not set: every principal may fetch every account and run anything",
      "set POLICY_FILE, see README Principals and policy",
    );
  }
  const { file } = policy;
  const loaded = `${file}: ${policy.policy.ruleCount} rule(s), sha256 ${
    policy.policy.sha256.slice(0, SHA_PREFIX)
  }`;
  const seen = facts ?? fileFacts(file);
  if (seen.kind === "file" && (seen.mode & 0o022) !== 0) {
    return warn(
      name,
      `${loaded}; mode ${
        (seen.mode & 0o777).toString(8).padStart(3, "0")
      }: other users can change who may do what`,
      `chmod 644 ${file} (or 640), owned by root or the service user`,
    );
  }
  if (seen.kind !== "file") {
    return warn(
      name,
      `${loaded}; cannot examine the file now (${
        seen.kind === "missing" ? "not found" : seen.reason
      })`,
      "keep the file where POLICY_FILE points: a reload of a missing file is refused",
    );
  }
  return pass(name, loaded);
}
