/**
 * `get_credential(safe, object_name[, folder, reason])` on `/mcp/cyberark`:
 * retrieves an account from CyberArk and returns a handle, never the secret.
 *
 * @module
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { type CcpQuery, validateCcpQuery } from "../../vault/ccp_client.ts";
import { audit } from "../audit.ts";
import { validateInput } from "../input_error.ts";
import type { ToolContext } from "../tool_context.ts";
import { mapToolError } from "../tool_errors.ts";

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
    (args: GetCredentialArgs): Promise<CallToolResult> =>
      getCredential(args, context),
  );
}

async function getCredential(
  args: GetCredentialArgs,
  context: ToolContext,
): Promise<CallToolResult> {
  const { ccp, vault } = context.services;
  const scope = {
    tool: GET_CREDENTIAL,
    fields: { safe: args.safe, object_name: args.object_name },
  };
  try {
    const query: CcpQuery = {
      safe: args.safe,
      object: args.object_name,
      ...(args.folder === undefined ? {} : { folder: args.folder }),
      ...(args.reason === undefined ? {} : { reason: args.reason }),
    };
    validateInput(() => validateCcpQuery(query));
    const account = await ccp.retrieve(query);
    const issued = await vault.issue({
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
    });
    audit("credential_fetched", {
      app_id: ccp.appId,
      safe: args.safe,
      object_name: args.object_name,
      handle_id: issued.handleId,
      ttl_seconds: issued.ttlSeconds,
      client_ip: context.clientIp,
    });
    const lines = [
      `Handle: ${issued.handle}`,
      `Username: ${issued.username}`,
      `Address: ${issued.address}`,
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
