/**
 * `deno task doctor`: the operations manual's hardening checklist (section 13)
 * and CCP reachability test (section 2.3), run from the service host.
 *
 * Each check is a pure function from what was observed (the validated
 * configuration, file modes and owners, the CCP's answer, the probe
 * executor's outcomes) to one {@linkcode CheckResult}; {@linkcode runDoctor}
 * gathers those observations. No check ever puts a key, a password or a
 * retrieved secret into its result. One file per group of checks:
 * `api_keys.ts`, `oauth.ts`, `policy.ts`, `approvals.ts`, `settings.ts`, `host_checks.ts`, `ccp_probe.ts`,
 * `handle_store_probe.ts`, `executor_sandbox.ts`, `audit_chain.ts`, `metrics.ts`.
 *
 * @module
 */
export {
  checkExecutorMemory,
  GATEWAY_MEMORY_BUDGET_MB,
  hostMemoryMb,
} from "./executor_memory.ts";
export {
  type CheckResult,
  type CheckStatus,
  doctorExitCode,
  formatCheck,
} from "./check_result.ts";
export {
  checkApiKeys,
  checkChangeme,
  type KeyStrength,
  keyStrength,
  MIN_KEY_BITS,
  type SecretValue,
} from "./api_keys.ts";
export {
  checkAllowedHosts,
  checkCyberArkTls,
  checkHandles,
  checkHandleScope,
  checkListener,
  checkLogging,
  checkRateLimits,
  checkTargetTls,
  MAX_HANDLE_TTL_SECONDS,
} from "./settings.ts";
export {
  checkEnvFile,
  checkKnownHosts,
  checkPfxFile,
  checkServiceUser,
  type FileFacts,
  fileFacts,
  type KnownHostsFacts,
  knownHostsFacts,
  type RunningUser,
} from "./host_checks.ts";
export {
  type CcpProbeContext,
  type CcpProbeOutcome,
  classifyCcpProbe,
  probeCcp,
} from "./ccp_probe.ts";
export { checkHandleStore } from "./handle_store_probe.ts";
export { checkOAuth, type CheckOAuthOptions } from "./oauth.ts";
export { checkPolicy } from "./policy.ts";
export { checkApprovals, type CheckApprovalsOptions } from "./approvals.ts";
export { checkAuditChain } from "./audit_chain.ts";
export {
  checkConnectionLimits,
  type FileLimitFacts,
  fileLimitFacts,
  SYSTEMD_UNIT_PATH,
} from "./connection_limits.ts";
export {
  checkMetrics,
  type MetricsPortFacts,
  metricsPortFacts,
  probeMetrics,
} from "./metrics.ts";
export {
  checkExecutorSandbox,
  classifySandbox,
  type SandboxObservations,
} from "./executor_sandbox.ts";
export { type DoctorOptions, runDoctor } from "./run_doctor.ts";
