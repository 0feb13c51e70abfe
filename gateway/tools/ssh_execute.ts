/**
 * `ssh_execute(host, command, secret_handle[, port, timeout_seconds])` on
 * `/mcp/ssh`: redeems a handle and runs one command in a sandboxed SSH
 * executor, with host keys checked against `SSH_KNOWN_HOSTS`.
 *
 * @module
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { getLogger } from "@logtape/logtape";
import { z } from "zod";
import type {
  ExecutorFailure,
  HostKeyPolicy,
  SshResult,
} from "../../executors/protocol/mod.ts";
import { validateTarget } from "../../executors/spawner/mod.ts";
import { audit } from "../audit.ts";
import type { SshKnownHosts } from "../config/mod.ts";
import {
  keyscanFix,
  lookupHostKeys,
  parseKnownHostsDetailed,
} from "../known_hosts.ts";
import type { ToolContext } from "../tool_context.ts";
import { mapToolError, toolError } from "../tool_errors.ts";
import {
  executorCredential,
  genericFailureText,
  secretHandleArgument,
  timeoutArgument,
  timeoutMs,
} from "./_operation.ts";

/** Tool name, as in the operations manual. */
export const SSH_EXECUTE = "ssh_execute";

const log = getLogger(["gateway", "ssh"]);
const MAX_COMMAND_CHARS = 64 * 1024;

interface SshArgs {
  host: string;
  command: string;
  secret_handle: string;
  port?: number | undefined;
  timeout_seconds?: number | undefined;
}

/** Registers the tool on an MCP server for one request. */
export function registerSshExecute(
  server: McpServer,
  context: ToolContext,
): void {
  const limits = context.services.config.executors;
  server.registerTool(SSH_EXECUTE, {
    title: "Run a command over SSH",
    description:
      "Run one shell command on a Linux host over SSH with a credential handle from get_credential. " +
      "Use the host from the handle's Address. A non-zero exit code is reported, not treated as a failure. " +
      "Output is capped; the secret never appears in it. When handles are single-use, call get_credential again before each ssh_execute.",
    inputSchema: {
      host: z.string().min(1).max(253).describe(
        "Target host name or IP address (the credential's Address)",
      ),
      command: z.string().min(1).max(MAX_COMMAND_CHARS).describe(
        'Shell command to run, e.g. "df -h"',
      ),
      secret_handle: secretHandleArgument,
      port: z.number().int().min(1).max(65535).optional().describe(
        "SSH port (default 22)",
      ),
      timeout_seconds: timeoutArgument(limits),
    },
    annotations: { destructiveHint: true, openWorldHint: true },
  }, (args: SshArgs): Promise<CallToolResult> => sshExecute(args, context));
}

async function sshExecute(
  args: SshArgs,
  context: ToolContext,
): Promise<CallToolResult> {
  const port = args.port ?? 22;
  const scope = { tool: SSH_EXECUTE, fields: { host: args.host, port } };
  const started = performance.now();
  try {
    // Validate before redeeming: a malformed host neither consumes the handle nor spawns anything.
    const target = validateTarget(args.host, port);
    const { config, vault, executors } = context.services;
    const hostKeys = await hostKeyPolicy(
      config.sshKnownHosts,
      target.host,
      target.port,
    );
    const redeemed = await vault.redeem(args.secret_handle, {
      host: target.host,
    });
    if (hostKeys.mode === "disabled") {
      log.warn(
        "SSH_KNOWN_HOSTS=disable: host key of {host}:{port} not verified",
        {
          host: target.host,
          port: target.port,
        },
      );
    }
    const limitMs = timeoutMs(args.timeout_seconds, config.executors);
    const outcome = await executors.run({
      target,
      credential: executorCredential(redeemed),
      operation: { kind: "ssh", command: args.command, hostKeys },
      timeoutMs: limitMs,
      maxOutputBytes: config.executors.maxOutputBytes,
    });
    const durationMs = Math.round(performance.now() - started);
    const base = {
      host: target.host,
      port: target.port,
      username: redeemed.username,
      command: args.command,
      handle_id: redeemed.handleId,
      client_ip: context.clientIp,
      duration_ms: durationMs,
    };
    if (!outcome.ok || outcome.result.kind !== "ssh") {
      const failure: ExecutorFailure = outcome.ok
        ? {
          code: "internal",
          message: "The SSH executor returned another kind of result",
        }
        : outcome.error;
      audit("ssh_executed", {
        ...base,
        exit_code: null,
        error_code: failure.code,
        host_key_fingerprint: failure.presentedHostKey?.fingerprint ?? null,
      }, "warning");
      return toolError(
        sshFailureText(failure, target, config.sshKnownHosts, limitMs),
      );
    }
    const result = outcome.result;
    audit("ssh_executed", {
      ...base,
      exit_code: result.exitCode,
      signal: result.signal,
      stdout_bytes: byteLength(result.stdout),
      stderr_bytes: byteLength(result.stderr),
      output_truncated: result.stdoutTruncated || result.stderrTruncated,
      host_key_fingerprint: result.hostKeyFingerprint,
    });
    return {
      content: [{
        type: "text",
        text: formatResult(
          target.host,
          args.command,
          result,
          config.executors.maxOutputBytes,
        ),
      }],
    };
  } catch (error) {
    return mapToolError(error, context, scope);
  }
}

async function hostKeyPolicy(
  setting: SshKnownHosts,
  host: string,
  port: number,
): Promise<HostKeyPolicy> {
  if (setting.mode === "disable") return { mode: "disabled" };
  let text = "";
  try {
    text = await Deno.readTextFile(setting.path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new TypeError(
        `Cannot read SSH_KNOWN_HOSTS file ${setting.path} (${
          error instanceof Error ? error.name : "error"
        }); make it readable by the service user`,
      );
    }
  }
  const parsed = parseKnownHostsDetailed(text);
  if (parsed.skipped.length > 0 || parsed.certAuthorityLines.length > 0) {
    log.warn(
      "SSH_KNOWN_HOSTS file {path}: {skipped} malformed line(s) and {ca} @cert-authority line(s) ignored",
      {
        path: setting.path,
        skipped: parsed.skipped.length,
        ca: parsed.certAuthorityLines.length,
        lines: [
          ...parsed.skipped.map((s) => s.line),
          ...parsed.certAuthorityLines,
        ].slice(0, 20),
      },
    );
  }
  return { mode: "verify", ...lookupHostKeys(parsed.entries, host, port) };
}

function sshFailureText(
  failure: ExecutorFailure,
  target: { host: string; port: number },
  setting: SshKnownHosts,
  limitMs: number,
): string {
  const where = port22(target);
  const path = setting.mode === "file" ? setting.path : "~/.ssh/known_hosts";
  const fix = keyscanFix(target.host, target.port, path);
  const presented = failure.presentedHostKey === undefined
    ? ""
    : ` The server presented ${failure.presentedHostKey.type} ${failure.presentedHostKey.fingerprint}.`;
  switch (failure.code) {
    case "host_key_unknown":
      return `Host key verification failed: ${where} is not in the known_hosts file ${path}.${presented} ` +
        `Check the fingerprint with the host's owner, then add it with: ${fix}`;
    case "host_key_mismatch":
      return `Host key verification failed: the host key of ${where} does not match ${path} (it changed, or someone is intercepting the connection).${presented} ` +
        `If the host was legitimately rebuilt, confirm the new fingerprint, remove the old entry with: ssh-keygen -R ${
          target.port === 22 ? target.host : `'[${target.host}]:${target.port}'`
        } -f ${path} and add the new one with: ${fix}`;
    case "host_key_revoked":
      return `Host key verification failed: the key presented by ${where} is marked @revoked in ${path}.${presented} Do not connect; ask the host's owner to replace its host key`;
    case "auth_failed":
      return `Permission denied for this account on ${where}: ${failure.message}. Check the credential in CyberArk (PVWA test retrieval), ` +
        "that the host allows password authentication (PasswordAuthentication yes in /etc/ssh/sshd_config), " +
        "and that the account is not locked (passwd -S <username> on the target)";
    default:
      return genericFailureText(failure, target, limitMs);
  }
}

function port22(target: { host: string; port: number }): string {
  return target.port === 22 ? target.host : `${target.host}:${target.port}`;
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

const TRUNCATION = /\[output truncated at \d+ bytes\]\s*$/;

function formatResult(
  host: string,
  command: string,
  result: SshResult,
  cap: number,
): string {
  const stream = (text: string, truncated: boolean): string =>
    truncated && !TRUNCATION.test(text)
      ? `${text}\n[output truncated at ${cap} bytes]`
      : text;
  const lines = [
    `Host: ${host}`,
    `Command: ${command}`,
    `Exit code: ${
      result.exitCode ?? `none (killed by signal ${result.signal ?? "unknown"})`
    }`,
    "--- stdout ---",
    stream(result.stdout, result.stdoutTruncated).replace(/\n$/, ""),
  ];
  if (result.stderr !== "" || result.stderrTruncated) {
    lines.push(
      "--- stderr ---",
      stream(result.stderr, result.stderrTruncated).replace(/\n$/, ""),
    );
  }
  return lines.join("\n");
}
