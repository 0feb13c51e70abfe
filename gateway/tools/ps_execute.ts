/**
 * `ps_execute(host, script, secret_handle[, port, use_ssl, timeout_seconds])`
 * on `/mcp/powershell`: redeems a handle and runs one PowerShell script on a
 * Windows host over WinRM in a sandboxed executor.
 *
 * `WINRM_AUTH=ntlm` works over HTTP (every message sealed with NTLMv2
 * session security) and HTTPS; `WINRM_AUTH=basic` only over HTTPS, and a
 * Basic call over HTTP is refused before the handle is redeemed.
 * HTTPS certificates are verified unless `WINRM_VERIFY_SSL=false`, which
 * logs a warning on every call.
 *
 * @module
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { getLogger } from "@logtape/logtape";
import { z } from "zod";
import {
  type ExecutorFailure,
  MAX_POWERSHELL_SCRIPT_CHARS,
  type PowershellOperation,
  type PowershellResult,
  type WinrmTls,
} from "../../executors/protocol/mod.ts";
import type { RedeemedCredential } from "../../vault/handle_vault.ts";
import type { WinrmTlsConfig } from "../config/mod.ts";
import { InputError } from "../input_error.ts";
import { isIp } from "../ip_address.ts";
import { callControl, type ToolExtra } from "../call_control.ts";
import { observedToolCall } from "../call_events.ts";
import type { ToolContext } from "../tool_context.ts";
import {
  hostArgument,
  hostPort,
  portArgument,
  runTargetOperation,
  secretHandleArgument,
  type TargetTool,
  timeoutArgument,
} from "./_operation.ts";

/** Tool name, as in the operations manual. */
export const PS_EXECUTE = "ps_execute";

/** WinRM's HTTP port. */
export const WINRM_HTTP_PORT = 5985;
/** WinRM's HTTPS port. */
export const WINRM_HTTPS_PORT = 5986;

const log = getLogger(["gateway", "powershell"]);

/** The refusal of Basic over HTTP, with the manual's explanation (section 12). */
export const BASIC_OVER_HTTP_TEXT =
  "Refused: WINRM_AUTH=basic requires HTTPS. Basic authentication over HTTP is rejected by WinRM by default " +
  "(AllowUnencrypted=false) and would send the password in clear text. Call ps_execute again with use_ssl=true " +
  `(port ${WINRM_HTTPS_PORT} unless the HTTPS listener uses another); the operators can instead set WINRM_AUTH=ntlm, ` +
  "which seals every message over HTTP. The handle was not used";

/**
 * The tool's arguments. `timeout_seconds` is bounded by configuration when
 * the tool is registered ({@linkcode registerPsExecute}).
 */
export const PsExecuteArguments = z.object({
  host: hostArgument("Target Windows"),
  script: z.string().min(1).max(MAX_POWERSHELL_SCRIPT_CHARS).describe(
    "PowerShell script to run, e.g. \"Get-Service | Where-Object {$_.Status -eq 'Stopped'}\"",
  ),
  secret_handle: secretHandleArgument,
  port: portArgument(
    `WinRM port (default ${WINRM_HTTP_PORT}, or ${WINRM_HTTPS_PORT} with use_ssl)`,
  ),
  use_ssl: z.boolean().optional().describe(
    "Connect over HTTPS (default false: HTTP with NTLM message encryption). Required when the service uses WINRM_AUTH=basic",
  ),
  timeout_seconds: z.number().int().min(1).optional(),
});

/** The arguments of one call. */
export type PsExecuteArgs = z.infer<typeof PsExecuteArguments>;

/** Registers the tool on an MCP server for one request. */
export function registerPsExecute(
  server: McpServer,
  context: ToolContext,
): void {
  server.registerTool(PS_EXECUTE, {
    title: "Run a PowerShell script over WinRM",
    description:
      "Run one PowerShell script on a Windows host over WinRM with a credential handle from get_credential. " +
      "Use the host from the handle's Address. Errors written by the script (Write-Error, exceptions) and a non-zero exit code " +
      "are reported as 'Had errors: True', not as a failure. Output is capped; the secret never appears in it. " +
      "When handles are single-use, call get_credential again before each ps_execute.",
    inputSchema: {
      ...PsExecuteArguments.shape,
      timeout_seconds: timeoutArgument(context.services.config.executors),
    },
    annotations: { destructiveHint: true, openWorldHint: true },
  }, (args: PsExecuteArgs, extra: ToolExtra): Promise<CallToolResult> => {
    const useSsl = args.use_ssl ?? false;
    return observedToolCall(PS_EXECUTE, () =>
      runTargetOperation(
        psTool(args, context),
        {
          host: args.host,
          port: args.port ?? (useSsl ? WINRM_HTTPS_PORT : WINRM_HTTP_PORT),
          secretHandle: args.secret_handle,
          timeoutSeconds: args.timeout_seconds,
          args,
        },
        context,
        callControl(extra),
      ));
  });
}

/** What ps_execute adds to the shared pipeline. */
export function psTool(
  args: Pick<PsExecuteArgs, "script" | "use_ssl">,
  context: ToolContext,
): TargetTool<"powershell", WinrmTls> {
  const { config } = context.services;
  const auth = config.winrmAuth;
  const useSsl = args.use_ssl ?? false;
  return {
    name: PS_EXECUTE,
    command: args.script,
    event: "ps_executed",
    protocol: "winrm",
    prepare: (target) => {
      if (auth === "basic" && !useSsl) {
        log.warn(
          "ps_execute refused Basic authentication over HTTP to {host}:{port}",
          { host: target.host, port: target.port },
        );
        throw new InputError(BASIC_OVER_HTTP_TEXT);
      }
      return useSsl ? winrmTls(config.winrmTls) : { verify: true };
    },
    warnInsecure: ({ target, prepared }) => {
      if (useSsl && !prepared.verify) {
        log.warn(
          "WINRM_VERIFY_SSL=false: certificate of {host}:{port} not verified",
          { host: target.host, port: target.port },
        );
      }
    },
    operation: (tls): PowershellOperation => ({
      kind: "powershell",
      script: args.script,
      useSsl,
      auth,
      tls,
    }),
    domain: (redeemed, target) => windowsDomain(redeemed, target.host),
    auditFields: () => ({
      script_length: scriptLength(args.script),
      // `auth` names how the caller authenticated; this is the WinRM scheme.
      winrm_auth: auth,
      use_ssl: useSsl,
    }),
    succeeded: (result, { target }) => ({
      audit: {
        had_errors: result.hadErrors,
        exit_code: result.exitCode,
        stdout_bytes: new TextEncoder().encode(result.stdout).length,
        stderr_bytes: new TextEncoder().encode(result.stderr).length,
        output_truncated: result.stdoutTruncated || result.stderrTruncated,
        delivery: result.delivery,
        shell_deleted: result.shellDeleted,
      },
      level: result.hadErrors ? "warning" : "info",
      text: formatPsResult(result, {
        host: target.host,
        script: args.script,
        cap: config.executors.maxOutputBytes,
      }),
    }),
    failed: (failure, { target, limitMs }) => ({
      audit: { had_errors: null, exit_code: null, error_code: failure.code },
      text: psFailureText(failure, target, {
        auth,
        tls: config.winrmTls,
        limitMs,
      }),
    }),
  };
}

/** The TLS settings for the executor; the CA bundle was read at start-up. */
function winrmTls(setting: WinrmTlsConfig): WinrmTls {
  if (!setting.verifyTls) return { verify: false };
  return setting.caPem === undefined
    ? { verify: true }
    : { verify: true, caPem: setting.caPem };
}

/**
 * The logon domain for NTLM: the account's LogonDomain property; else none
 * when the user name carries one (`DOMAIN\user`, `user@domain`, split by the
 * executor); else the account's Address when it is a DNS domain the target
 * host belongs to (a domain account); else none (a local account).
 */
export function windowsDomain(
  account: Pick<RedeemedCredential, "username" | "address" | "properties">,
  host: string,
): string | undefined {
  for (const [name, value] of Object.entries(account.properties)) {
    if (name.toLowerCase() === "logondomain" && value.trim() !== "") {
      return value.trim();
    }
  }
  if (/[\\@]/.test(account.username)) return undefined;
  const address = account.address.trim().toLowerCase().replace(/\.$/, "");
  const target = host.toLowerCase();
  if (
    address.includes(".") && !isIp(address) && target !== address &&
    target.endsWith(`.${address}`)
  ) {
    return address;
  }
  return undefined;
}

/** Characters as a person counts them (code points). */
function scriptLength(script: string): number {
  return [...script].length;
}

/** What a failure text of ps_execute depends on besides the failure. */
export interface PsFailureContext {
  auth: "ntlm" | "basic";
  tls: WinrmTlsConfig;
  limitMs: number;
}

/** The tool error text for a PowerShell executor failure. */
export function psFailureText(
  failure: ExecutorFailure,
  target: { host: string; port: number },
  context: PsFailureContext,
): string {
  const where = hostPort(target);
  const message = failure.message.replace(/[.\s]+$/, "");
  switch (failure.code) {
    case "auth_failed":
      return `Access denied on ${where} (WinRM, ${context.auth}): ${message}. Check the credential in CyberArk (PVWA test retrieval) and that the account is not locked; ` +
        (context.auth === "ntlm"
          ? "for a domain account make sure the domain is right (the account's LogonDomain, or DOMAIN\\user / user@domain as user name); "
          : "Basic works for local accounts only and must be enabled on the WinRM service (Set-Item WSMan:\\localhost\\Service\\Auth\\Basic -Value $true); ") +
        "the account must be allowed to use WinRM (Administrators or Remote Management Users)";
    case "tls_failed":
      return `The WinRM HTTPS certificate of ${where} is not trusted: ${message}. ` +
        (context.tls.caBundlePath === undefined
          ? "Set WINRM_VERIFY_SSL to the PEM CA bundle that issued the listener's certificate"
          : `Check that ${context.tls.caBundlePath} (WINRM_VERIFY_SSL) holds the CA that issued the listener's certificate`) +
        ", and connect with a host name the certificate names";
    case "connection_failed":
      return `WinRM connection to ${where} failed: ${message}. On the Windows host check that WinRM is running (Get-Service WinRM), ` +
        `that a listener serves this port (winrm enumerate winrm/config/listener; ${WINRM_HTTP_PORT} HTTP, ${WINRM_HTTPS_PORT} HTTPS with use_ssl=true) ` +
        `and that the firewall admits the gateway (Test-NetConnection -ComputerName localhost -Port ${target.port})`;
    case "timeout":
      return `PowerShell on ${where} timed out after ${
        Math.round(context.limitMs / 1000)
      } s: ${message}. Pass a larger timeout_seconds, or start long work in the background (Start-Job, or a scheduled task)`;
    case "driver_error":
      return `WinRM error on ${where}: ${message}`;
    default:
      return message;
  }
}

const TRUNCATION = /\[output truncated at \d+ bytes\]\s*$/;

/** The manual's result format of ps_execute. */
export function formatPsResult(
  result: PowershellResult,
  options: { host: string; script: string; cap: number },
): string {
  const { host, script, cap } = options;
  const section = (text: string, truncated: boolean): string => {
    const body = text.replace(/^(?:[ \t]*\n)+/, "").trimEnd();
    return truncated && !TRUNCATION.test(body)
      ? `${body}\n[output truncated at ${cap} bytes]`
      : body;
  };
  const lines = [
    `Host: ${host}`,
    `Script length: ${scriptLength(script)} chars`,
    `Had errors: ${result.hadErrors ? "True" : "False"}`,
    "--- output ---",
    section(result.stdout, result.stdoutTruncated),
  ];
  const errors = section(result.stderr, result.stderrTruncated);
  const exitNote = result.exitCode !== null && result.exitCode !== 0
    ? `Exit code: ${result.exitCode}`
    : "";
  if (errors !== "" || exitNote !== "") {
    lines.push(
      "--- errors ---",
      [errors, exitNote].filter((part) => part !== "").join("\n"),
    );
  }
  return lines.join("\n");
}
