/**
 * Where a tool call meets the policy: `enforcePolicy()` asks the policy in
 * force and throws {@linkcode PolicyDeniedError} for anything it denies,
 * before any secret moves (get_credential asks before the CCP is called; a
 * target tool before its handle is taken). A decision of `approve` is
 * returned: the caller sends the call to an approver (`approval_gate.ts`).
 *
 * @module
 */
import { reportPolicyDecision } from "./call_events.ts";
import type { PolicyDecision, PolicyRequest } from "./policy/policy.ts";
import type { ToolContext } from "./tool_context.ts";

/** The decision when no POLICY_FILE is configured: everything is allowed. */
const NO_POLICY: PolicyDecision = {
  effect: "allow",
  rule: undefined,
  readOnly: false,
  matched: [],
};

/**
 * A call the policy denies. Its message names the deciding rule
 * (never the policy's other contents) and the fix; the audit line is
 * written where tool errors are mapped.
 */
export class PolicyDeniedError extends Error {
  /** The request as the policy saw it (for the audit line). */
  readonly request: PolicyRequest;
  /** What the policy decided (`deny`). */
  readonly decision: PolicyDecision;
  /** The id of the handle the call presented (target tools). */
  readonly handleId: string | undefined;

  /** Creates the error with the text the model sees. */
  constructor(
    request: PolicyRequest,
    decision: PolicyDecision,
    handleId?: string,
  ) {
    super(deniedText(request, decision));
    this.name = "PolicyDeniedError";
    this.request = request;
    this.decision = decision;
    this.handleId = handleId;
  }
}

/** A call as the policy sees it, less who makes it (the context says). */
export type PolicyCall = Omit<PolicyRequest, "principal" | "groups">;

/**
 * Asks the policy in force about one call by the context's principal (with
 * its identity provider groups).
 *
 * @returns the decision, `allow` or `approve` (its `readOnly` binds db_query)
 * @throws {PolicyDeniedError} when a rule denies it or no rule allows it
 */
export function enforcePolicy(
  context: ToolContext,
  call: PolicyCall,
  handleId?: string,
): PolicyDecision {
  const { name, groups } = context.principal;
  const request: PolicyRequest = {
    principal: name,
    ...(groups === undefined || groups.length === 0 ? {} : { groups }),
    ...call,
  };
  const policy = context.services.policy.current();
  if (policy === undefined) return NO_POLICY;
  const decision = policy.evaluate(request);
  // Once per call the policy decides on (metrics; a denial is audited too).
  reportPolicyDecision(decision.effect);
  if (decision.effect === "deny") {
    throw new PolicyDeniedError(request, decision, handleId);
  }
  return decision;
}

const FIX =
  "ask an administrator to change the policy (POLICY_FILE) if this is needed";

function deniedText(request: PolicyRequest, decision: PolicyDecision): string {
  const who = `principal "${request.principal}"`;
  if (decision.rule === undefined) {
    return `Refused by policy: no rule allows ${who} to ${
      describeCall(request)
    }; ask an administrator to add a rule that allows it to the policy file (POLICY_FILE)`;
  }
  return `Refused by policy rule "${decision.rule}": ${who} may not ${
    describeCall(request)
  }; ${FIX}`;
}

/** "call db_query with an account of safe "PROD-DB" on host "db01"". */
function describeCall(request: PolicyRequest): string {
  const { tool } = request;
  const account = `account "${request.object}" of safe "${request.safe}"`;
  if (tool === "get_credential") return `fetch ${account}`;
  const what = tool === "db_query"
    ? "this query"
    : tool === "ps_execute"
    ? "this script"
    : "this command";
  return `run ${what} with ${tool} on host "${
    request.host ?? ""
  }" using ${account}`;
}
