/**
 * Who may do what: the policy of `POLICY_FILE`. The contract (request,
 * decision, holder) is in `policy.ts`; a file becomes a policy in
 * `load_policy.ts` (shape: `policy_schema.ts`), a request is matched in
 * `evaluate.ts`, and `policy_holder.ts` replaces the policy on SIGHUP and
 * when the file changes.
 *
 * @module
 */
export {
  type Policy,
  POLICY_TOOLS,
  type PolicyDecision,
  type PolicyEffect,
  type PolicyHolder,
  type PolicyRequest,
  type PolicyTool,
} from "./policy.ts";
export { loadPolicyFile, parsePolicy } from "./load_policy.ts";
export { PolicyError, type PolicyErrorLocation } from "./policy_error.ts";
export {
  createPolicyHolder,
  DEFAULT_DEBOUNCE_MS,
  type PolicyHolderOptions,
  type PolicyLoadReason,
  type ReloadablePolicyHolder,
} from "./policy_holder.ts";
export {
  type PolicyDocument,
  PolicyDocumentSchema,
  type PolicyRuleDocument,
} from "./policy_schema.ts";
