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
  SshOperation,
  SshResult,
  Target,
} from "../../executors/protocol/mod.ts";
import type { SshKnownHosts } from "../config/mod.ts";
import {
  keyscanFix,
  lookupHostKeys,
  parseKnownHostsDetailed,
} from "../known_hosts.ts";
import { SetupError } from "../setup_error.ts";
import { callControl, type ToolExtra } from "../call_control.ts";
import { observedToolCall } from "../call_events.ts";
import type { ToolContext } from "../tool_context.ts";
import {
  genericFailureText,
  hostArgument,
  hostPort,
  portArgument,
  runTargetOperation,
  secretHandleArgument,
  type TargetTool,
  timeoutArgument,
} from "./_operation.ts";

/** Tool name, as in the operations manual. */
export const SSH_EXECUTE = "ssh_execute";

/** SSH's port. */
export const SSH_PORT = 22;

const log = getLogger(["gateway", "ssh"]);
const MAX_COMMAND_CHARS = 64 * 1024;

/**
 * The tool's arguments. `timeout_seconds` is bounded by configuration when
 * the tool is registered ({@linkcode registerSshExecute}).
 */
export const SshExecuteArguments = z.object({
  host: hostArgument("Target"),
  command: z.string().min(1).max(MAX_COMMAND_CHARS).describe(
    'Shell command to run, e.g. "df -h"',
  ),
  secret_handle: secretHandleArgument,
  port: portArgument(`SSH port (default ${SSH_PORT})`),
  timeout_seconds: z.number().int().min(1).optional(),
});

/** The arguments of one call. */
export type SshExecuteArgs = z.infer<typeof SshExecuteArguments>;

/** Registers the tool on an MCP server for one request. */
export function registerSshExecute(
  server: McpServer,
  context: ToolContext,
): void {
  server.registerTool(
    SSH_EXECUTE,
    {
      title: "Run a command over SSH",
      description:
        "Run one shell command on a Linux host over SSH with a credential handle from get_credential. " +
        "Use the host from the handle's Address. A non-zero exit code is reported, not treated as a failure. " +
        "Output is capped; the secret never appears in it. When handles are single-use, call get_credential again before each ssh_execute.",
      inputSchema: {
        ...SshExecuteArguments.shape,
        timeout_seconds: timeoutArgument(context.services.config.executors),
      },
      annotations: { destructiveHint: true, openWorldHint: true },
    },
    (args: SshExecuteArgs, extra: ToolExtra): Promise<CallToolResult> =>
      observedToolCall(SSH_EXECUTE, () =>
        runTargetOperation(
          sshTool(args, context),
          {
            host: args.host,
            port: args.port ?? SSH_PORT,
            secretHandle: args.secret_handle,
            timeoutSeconds: args.timeout_seconds,
            args,
          },
          context,
          callControl(extra),
        )),
  );
}

/** What ssh_execute adds to the shared pipeline. */
export function sshTool(
  args: Pick<SshExecuteArgs, "command">,
  context: ToolContext,
): TargetTool<"ssh", HostKeyPolicy> {
  const { config } = context.services;
  return {
    name: SSH_EXECUTE,
    command: args.command,
    event: "ssh_executed",
    protocol: "ssh",
    prepare: async (target) => {
      const hostKeys = await hostKeyPolicy(
        config.sshKnownHosts,
        target.host,
        target.port,
      );
      if (hostKeys.mode === "verify" && hostKeys.allowed.length === 0) {
        // No key to accept: the call can only fail, so refuse it before the
        // handle is taken, naming the key the host presents.
        throw new SetupError(await unknownHostText(target, hostKeys, context));
      }
      return hostKeys;
    },
    warnInsecure: ({ target, prepared }) => {
      if (prepared.mode === "disabled") {
        log.warn(
          "SSH_KNOWN_HOSTS=disable: host key of {host}:{port} not verified",
          { host: target.host, port: target.port },
        );
      }
    },
    operation: (hostKeys): SshOperation => ({
      kind: "ssh",
      command: args.command,
      hostKeys,
    }),
    auditFields: () => ({ command: args.command }),
    succeeded: (result, { target }) => ({
      audit: {
        exit_code: result.exitCode,
        signal: result.signal,
        stdout_bytes: byteLength(result.stdout),
        stderr_bytes: byteLength(result.stderr),
        output_truncated: result.stdoutTruncated || result.stderrTruncated,
        host_key_fingerprint: result.hostKeyFingerprint,
      },
      text: formatSshResult(
        target.host,
        args.command,
        result,
        config.executors.maxOutputBytes,
      ),
    }),
    failed: (failure, { target, limitMs }) => ({
      audit: {
        exit_code: null,
        error_code: failure.code,
        host_key_fingerprint: failure.presentedHostKey?.fingerprint ?? null,
      },
      text: sshFailureText(failure, target, config.sshKnownHosts, limitMs),
    }),
  };
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
      throw new SetupError(
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

/** The tool error text for an SSH executor failure. */
export function sshFailureText(
  failure: ExecutorFailure,
  target: { host: string; port: number },
  setting: SshKnownHosts,
  limitMs: number,
): string {
  const where = sshWhere(target);
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

/** No secret at all: the host-key probe never gets as far as logging in. */
const NO_CREDENTIAL = {
  username: "",
  kind: "password",
  secret: { reveal: (): string => "" },
} as const;

/**
 * Connects without a credential to learn the key an unknown host presents
 * (the executor stops at the host-key check, before any authentication)
 * and returns the refusal text with the fix.
 */
async function unknownHostText(
  target: Target,
  hostKeys: HostKeyPolicy,
  context: ToolContext,
): Promise<string> {
  const { config, executors } = context.services;
  const limitMs = config.executors.defaultTimeoutSeconds * 1000;
  const probe = await executors.run({
    target,
    credential: NO_CREDENTIAL,
    operation: { kind: "ssh", command: "true", hostKeys },
    timeoutMs: limitMs,
    maxOutputBytes: 1024,
  });
  const failure: ExecutorFailure = probe.ok
    ? {
      code: "internal",
      message:
        `The SSH executor accepted ${target.host}:${target.port} with no known key; this is a bug, report it`,
    }
    : probe.error;
  log.warn(
    "ssh_execute refused before using the handle: {host}:{port} has no key in known_hosts ({code}, presented {fingerprint})",
    {
      host: target.host,
      port: target.port,
      code: failure.code,
      fingerprint: failure.presentedHostKey?.fingerprint ?? null,
    },
  );
  return sshFailureText(failure, target, config.sshKnownHosts, limitMs);
}

/** The host alone on SSH's port, else host:port. */
function sshWhere(target: { host: string; port: number }): string {
  return target.port === SSH_PORT ? target.host : hostPort(target);
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

const TRUNCATION = /\[output truncated at \d+ bytes\]\s*$/;

/** The manual's result format of ssh_execute. */
export function formatSshResult(
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
