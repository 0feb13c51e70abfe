/**
 * `get_credential(safe, object_name[, folder, reason])` on `/mcp/cyberark`:
 * retrieves an account from CyberArk and returns a handle, never the secret.
 *
 * When the handle's scope names exactly one executor and target (one
 * protocol, one port, an Address), the executor for that call is started
 * here, ahead of it (`EXECUTOR_WARM_MAX`): sandboxed for that target only,
 * holding no secret until the call runs (`executors/spawner/warm_pool.ts`).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { type CcpQuery, validateCcpQuery } from "../../vault/ccp_client.ts";
import { validateTarget } from "../../executors/spawner/mod.ts";
import {
  describeScope,
  type HandleProtocol,
} from "../../vault/handle_scope.ts";
import {
  type IssuedHandle,
  type IssueInput,
  UnmappedPlatformError,
} from "../../vault/handle_vault.ts";
import { audit } from "../audit.ts";
import { validateInput } from "../input_error.ts";
import { approvedLine, awaitApproval } from "../approval_gate.ts";
import type { ApprovalOutcome } from "../approvals/approval.ts";
import {
  type CallControl,
  callControl,
  NO_CONTROL,
  type ToolExtra,
} from "../call_control.ts";
import { enforcePolicy } from "../policy_gate.ts";
import { SetupError } from "../setup_error.ts";
import { limitToolCall } from "../rate_limits.ts";
import { callerFields, type ToolContext } from "../tool_context.ts";
import { observedToolCall } from "../call_events.ts";
import { mapToolError } from "../tool_errors.ts";
import type { TargetKind } from "./_operation.ts";
import { checkStringArguments } from "./_string_rules.ts";

const log = getLogger(["gateway", "executors"]);

/** The executor that runs the calls of each handle protocol. */
const EXECUTOR_OF: Readonly<Record<HandleProtocol, TargetKind>> = {
  ssh: "ssh",
  winrm: "powershell",
  postgres: "postgres",
  mysql: "mysql",
  mssql: "mssql",
};

/** Tool name, as in the operations manual. */
export const GET_CREDENTIAL = "get_credential";

/** The tool's arguments. */
export const GetCredentialArguments = z.object({
  safe: z.string().min(1).max(28).describe(
    'CyberArk Safe name, exactly as in PVWA (case-sensitive), e.g. "PROD-LINUX"',
  ),
  object_name: z.string().min(1).max(256).describe(
    'Account object name (the account\'s Name in CyberArk, not its address or user name), e.g. "linux-root"',
  ),
  folder: z.string().min(1).max(256).optional().describe(
    'Folder inside the Safe; defaults to "Root"',
  ),
  reason: z.string().max(512).optional().describe(
    "Why the credential is needed; written to the CyberArk audit log (some accounts require it)",
  ),
});

/** The arguments of one call. */
export type GetCredentialArgs = z.infer<typeof GetCredentialArguments>;

function description(singleUse: boolean, ttlSeconds: number): string {
  return [
    "Retrieve a privileged credential from CyberArk and get an opaque handle for it. The secret itself is never shown.",
    "Pass the returned Handle (secret://...) as secret_handle to ssh_execute, ps_execute or db_query, against the host in the returned Address.",
    "A handle works only with the tool and on the ports named in its Use with line (they come from the account's platform in CyberArk).",
    singleUse
      ? "Handles are single-use: each handle works for exactly one operation, so call get_credential again before every ssh_execute, ps_execute or db_query call, even for the same account."
      : "Handles can be reused until they expire.",
    `A handle expires ${ttlSeconds} seconds after it is issued; if a tool says it expired or was consumed, call get_credential again.`,
  ].join(" ");
}

/** Registers the tool on an MCP server for one request. */
export function registerGetCredential(
  server: McpServer,
  context: ToolContext,
): void {
  const { ttlSeconds, singleUse } = context.services.vault.settings;
  server.registerTool(
    GET_CREDENTIAL,
    {
      title: "Get a CyberArk credential handle",
      description: description(singleUse, ttlSeconds),
      inputSchema: GetCredentialArguments.shape,
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    (args: GetCredentialArgs, extra: ToolExtra): Promise<CallToolResult> =>
      observedToolCall(
        GET_CREDENTIAL,
        () => getCredential(args, context, callControl(extra)),
      ),
  );
}

async function getCredential(
  args: GetCredentialArgs,
  context: ToolContext,
  control: CallControl = NO_CONTROL,
): Promise<CallToolResult> {
  const { ccp } = context.services;
  const scope = {
    tool: GET_CREDENTIAL,
    fields: { safe: args.safe, object_name: args.object_name },
  };
  try {
    // Before anything else: a principal over TOOL_CALL_LIMIT asks the CCP nothing.
    await limitToolCall(
      context.services.rateLimits.toolCalls,
      context.principal.name,
    );
    checkStringArguments(GET_CREDENTIAL, args);
    const query: CcpQuery = {
      safe: args.safe,
      object: args.object_name,
      ...(args.folder === undefined ? {} : { folder: args.folder }),
      ...(args.reason === undefined ? {} : { reason: args.reason }),
    };
    validateInput(() => validateCcpQuery(query));
    // Before the CCP is asked: a denied principal moves no secret, and a
    // rule that asks for approval waits for a second person first.
    const decision = enforcePolicy(context, {
      tool: GET_CREDENTIAL,
      safe: args.safe,
      object: args.object_name,
    });
    let approval: ApprovalOutcome | undefined;
    if (decision.effect === "approve") {
      approval = await awaitApproval(context, control, {
        principal: context.principal.name,
        clientIp: context.clientIp,
        tool: GET_CREDENTIAL,
        safe: args.safe,
        object: args.object_name,
        rule: decision.rule ?? "",
        ...(args.reason === undefined ? {} : { reason: args.reason }),
      });
    }
    const account = await ccp.retrieve(query);
    const issued = await issue(context, {
      secret: account.content,
      ...(account.passphrase === undefined
        ? {}
        : { passphrase: account.passphrase }),
      username: account.userName,
      address: account.address,
      safe: account.safe,
      objectName: args.object_name,
      folder: account.folder,
      properties: account.properties,
      // Only this principal may redeem the handle.
      principal: context.principal.name,
      // Shown to an approver of a call that uses the handle.
      ...(args.reason === undefined ? {} : { reason: args.reason }),
    });
    audit("credential_fetched", {
      app_id: ccp.appId,
      safe: args.safe,
      object_name: args.object_name,
      handle_id: issued.handleId,
      ttl_seconds: issued.ttlSeconds,
      ...callerFields(context),
      ...(approval === undefined
        ? {}
        : { approval_id: approval.id, approved_by: approval.approver ?? null }),
    });
    warmExecutor(context, issued);
    const lines = [
      ...(approval === undefined ? [] : [approvedLine(approval)]),
      `Handle: ${issued.handle}`,
      `Username: ${issued.username}`,
      `Address: ${issued.address}`,
      useWithLine(issued),
      `Expires: in ${issued.ttlSeconds} seconds (${issued.expiresAt.toISOString()})`,
      issued.singleUse
        ? "Single-use: yes (valid for one ssh_execute, ps_execute or db_query call; call get_credential again for the next operation)"
        : "Single-use: no (reusable until it expires)",
    ];
    if (account.passwordChangeInProcess) {
      lines.push(
        "Note: CyberArk reports a password change in progress for this account; if the operation fails to authenticate, wait a minute and call get_credential again",
      );
    }
    return { content: [{ type: "text", text: lines.join("\n") }] };
  } catch (error) {
    return mapToolError(error, context, scope);
  }
}

/**
 * Issues the handle; an account whose platform maps to no protocol is
 * refused as a matter of the service's setup (the operators map platforms).
 *
 * @throws {SetupError} the account's platform maps to no protocol of this service
 */
async function issue(
  context: ToolContext,
  input: IssueInput,
): Promise<IssuedHandle> {
  try {
    return await context.services.vault.issue(input);
  } catch (error) {
    if (error instanceof UnmappedPlatformError) {
      throw new SetupError(error.message, { cause: error });
    }
    throw error;
  }
}

/**
 * Starts the executor of the handle's one predicted call, when its scope
 * leaves no doubt which: one protocol, exactly one port, and an Address the
 * sandbox accepts. Speculative: nothing here can fail the call.
 *
 * Not while the gateway is busy: with more MCP requests in flight than
 * executors may run at once (`EXECUTOR_MAX_CONCURRENT`), a warm start's
 * CPU (a Deno start, about 90 ms) is taken from the calls being answered,
 * and a model that waits seconds between calls is not what is calling.
 */
function warmExecutor(context: ToolContext, issued: IssuedHandle): void {
  const { executors, lifecycle, config } = context.services;
  const { protocol, ports } = issued.scope;
  const port = ports[0];
  if (
    executors.warm === undefined || protocol === null || ports.length !== 1 ||
    port === undefined || issued.address === ""
  ) {
    return;
  }
  if (lifecycle.inFlight.count > config.executors.maxConcurrent) {
    log.debug(
      "No warm executor for handle {handle_id}: {in_flight} requests in flight",
      { handle_id: issued.handleId, in_flight: lifecycle.inFlight.count },
    );
    return;
  }
  try {
    executors.warm({
      handleId: issued.handleId,
      kind: EXECUTOR_OF[protocol],
      target: validateTarget(issued.address, port),
      ttlMs: issued.ttlSeconds * 1000,
    });
  } catch (error) {
    // An Address the sandbox refuses is refused again, to the model, by
    // the call that tries it; a spawn failure shows up there too.
    log.debug("No warm executor for handle {handle_id}: {error}", {
      handle_id: issued.handleId,
      error: error instanceof Error ? error.message : String(error),
    });
  }
}

/** `Use with: db_query (postgres) on db01.corp:5432`: what the handle is for. */
function useWithLine(issued: IssuedHandle): string {
  const line = `Use with: ${describeScope(issued.scope, issued.address)}`;
  return issued.scopeBinding
    ? line
    : `${line} (not enforced: HANDLE_SCOPE_BINDING=false)`;
}
