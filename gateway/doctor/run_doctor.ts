/**
 * `runDoctor()`: gathers what the checks judge (file facts, the CCP's and
 * the handle store's answers, the sandbox self-test) and runs every check
 * in the order of the operations manual's checklist.
 *
 * @module
 */
import type { CcpClient } from "../../vault/ccp_client.ts";
import type { HandleStore } from "../../vault/handle_store.ts";
import type { ExecutorSpawner } from "../../executors/spawner/mod.ts";
import { approveRuleNames, type Config } from "../config/mod.ts";
import { checkApiKeys, checkChangeme } from "./api_keys.ts";
import { checkApprovals } from "./approvals.ts";
import { checkAuditChain } from "./audit_chain.ts";
import {
  checkConnectionLimits,
  type FileLimitFacts,
  fileLimitFacts,
} from "./connection_limits.ts";
import { probeCcp } from "./ccp_probe.ts";
import type { CheckResult } from "./check_result.ts";
import { checkExecutorMemory, hostMemoryMb } from "./executor_memory.ts";
import { checkExecutorSandbox } from "./executor_sandbox.ts";
import { checkHandleStore } from "./handle_store_probe.ts";
import { probeMetrics } from "./metrics.ts";
import { checkOAuth, type CheckOAuthOptions } from "./oauth.ts";
import { checkPolicy } from "./policy.ts";
import {
  checkEnvFile,
  checkKnownHosts,
  checkPfxFile,
  checkServiceUser,
  fileFacts,
  knownHostsFacts,
  type RunningUser,
} from "./host_checks.ts";
import { pass } from "./_verdicts.ts";
import {
  checkAllowedHosts,
  checkCyberArkTls,
  checkHandles,
  checkListener,
  checkLogging,
  checkRateLimits,
  checkTargetTls,
} from "./settings.ts";

/** Everything {@linkcode runDoctor} needs besides the configuration. */
export interface DoctorOptions {
  /** The `.env` read, or `undefined` when ENV_FILE is empty. */
  readonly envFile: string | undefined;
  readonly user: RunningUser;
  /** The CCP client built from the configuration; omit to skip the probe. */
  readonly ccp?: CcpClient;
  readonly probeSafe: string;
  readonly probeObject: string;
  /** The spawner for the sandbox self-test; omit to skip it. */
  readonly spawner?: ExecutorSpawner;
  /** The shared handle store (HANDLE_STORE=redis) to probe; omit for memory. */
  readonly handleStore?: HandleStore;
  /** The host's memory in MiB (default: asked of the system, when allowed). */
  readonly hostMemoryMb?: number;
  /** How the OAuth check reaches the issuer (default: as the gateway does). */
  readonly oauth?: CheckOAuthOptions;
  /** The service's open-file limit (default: the systemd unit's, or this process's). */
  readonly fileLimits?: FileLimitFacts;
}

/** Runs every check in the order of the manual's checklist. */
export async function runDoctor(
  config: Config,
  options: DoctorOptions,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [
    config.oauth.mode === "oauth"
      ? pass("api-keys", "API keys off (MCP_AUTH=oauth)")
      : checkApiKeys(config.apiKeys),
    await checkOAuth(config.oauth, options.oauth),
    checkPolicy(config.policy),
    checkApprovals(config.approvals, {
      approveRules: approveRuleNames(config.policy.policy),
      user: options.user,
    }),
    checkChangeme(config.cyberark.pfxPassword),
    ...checkHandles(config.handles),
    checkCyberArkTls(config.cyberark),
    checkPfxFile(
      config.cyberark.pfxPath,
      config.cyberark.pfxPath === undefined
        ? { kind: "missing" }
        : fileFacts(config.cyberark.pfxPath),
      options.user,
    ),
    checkKnownHosts(
      config.sshKnownHosts,
      config.sshKnownHosts.mode === "disable"
        ? { kind: "missing" }
        : knownHostsFacts(config.sshKnownHosts.path),
    ),
    checkLogging(config.log),
    checkAuditChain(config.auditChain, config.log),
    checkTargetTls(config),
    checkEnvFile(
      options.envFile,
      options.envFile === undefined
        ? { kind: "missing" }
        : fileFacts(options.envFile),
      options.user,
    ),
    checkAllowedHosts(config.http),
    checkListener(config.http),
    checkConnectionLimits(
      config.http,
      config.executors,
      options.fileLimits ?? fileLimitFacts(),
    ),
    await probeMetrics(config.metrics),
    checkRateLimits(config),
    checkServiceUser(options.user),
    checkExecutorMemory(
      config.executors,
      options.hostMemoryMb ?? hostMemoryMb(),
    ),
  ];
  if (options.ccp !== undefined) {
    results.push(
      await probeCcp(options.ccp, {
        appId: config.cyberark.appId,
        endpoint: config.cyberark.ccpUrl.host,
        safe: options.probeSafe,
        object: options.probeObject,
      }),
    );
  }
  results.push(await checkHandleStore(config.handleStore, options.handleStore));
  if (options.spawner !== undefined) {
    // The most sensitive file the gateway reads is the best thing to try.
    const envFileExists = options.envFile !== undefined &&
      fileFacts(options.envFile).kind === "file";
    results.push(
      await checkExecutorSandbox(options.spawner, {
        file: envFileExists ? options.envFile! : "/etc/passwd",
      }),
    );
  }
  return results;
}
