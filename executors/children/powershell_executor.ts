/**
 * Executor child for `powershell` operations: runs one script on a Windows
 * host over WinRM (WinRS) and writes one response.
 *
 * Sandbox: started with `--allow-net=HOST:PORT` only. It reads the request
 * (with the password) from stdin, authenticates with NTLMv2 (messages sealed
 * over HTTP) or Basic (HTTPS only), and never prints the password: every
 * failure message is fixed text plus server-side facts, and is scrubbed of
 * the secret again before it is written.
 *
 * @module
 */
import type {
  ExecutorFailure,
  ExecutorRequest,
  ExecutorResponse,
  PowershellOperation,
} from "../protocol/mod.ts";
import {
  Deadline,
  failed,
  failure,
  isSandboxDenial,
  sandboxDenied,
  serveOneRequest,
  success,
} from "./_kit.ts";
import { HttpError } from "./winrm/http_connection.ts";
import { parseWindowsUser } from "./winrm/ntlm.ts";
import { NtlmError } from "./winrm/ntlm_crypto.ts";
import {
  WinrmTransport,
  WinrmTransportError,
} from "./winrm/winrm_transport.ts";
import {
  runPowerShell,
  WinrsFaultError,
  WinrsTimeoutError,
} from "./winrm/winrs.ts";
import { WsmanError } from "./winrm/wsman.ts";

/** Time kept back from the deadline for Signal + Delete (ms). */
const CLEANUP_RESERVE_MS = 1500;
/** Part of the parent's kill grace the cleanup may use (the rest is for the answer). */
const CLEANUP_SHARE_OF_GRACE = 0.8;

/** Runs the request's script; resolves with exactly one response, never rejects. */
export async function runPowershellRequest(
  request: ExecutorRequest,
  operation: PowershellOperation,
): Promise<ExecutorResponse> {
  const { target, credential, limits } = request;
  const where = `${target.host}:${target.port}`;
  if (operation.auth === "basic" && !operation.useSsl) {
    return failure(
      "bad_request",
      `Refusing Basic authentication to ${where} over HTTP: the password would cross the network in clear text; use HTTPS (use_ssl=true)`,
    );
  }
  if (credential.kind !== "password") {
    return failure(
      "auth_failed",
      `Cannot log in to ${where} over WinRM with a private key; WinRM needs the account's password`,
    );
  }
  let user: string;
  let domain: string;
  if (operation.auth === "ntlm") {
    try {
      ({ user, domain } = parseWindowsUser(
        credential.username,
        credential.domain ?? "",
      ));
    } catch (error) {
      return failure(
        "auth_failed",
        error instanceof TypeError ? error.message : "Invalid account name",
      );
    }
  } else {
    user = credential.username;
    domain = "";
  }

  // The script must stop before the deadline, leaving a reserve for Signal +
  // Delete; the cleanup may run into the parent's kill grace, but not to
  // its end, so the response still gets written.
  const limit = new Deadline(limits);
  const reserve = Math.min(CLEANUP_RESERVE_MS, limits.timeoutMs / 4);
  const deadline = limit.at - reserve;
  const cleanupDeadline = limit.at +
    Math.floor(limits.killGraceMs * CLEANUP_SHARE_OF_GRACE);
  try {
    const run = await runPowerShell({
      connect: (signal) =>
        WinrmTransport.connect({
          host: target.host,
          port: target.port,
          useSsl: operation.useSsl,
          auth: operation.auth,
          tls: operation.tls,
          username: user,
          domain,
          password: credential.secret,
          signal,
        }),
      script: operation.script,
      deadline,
      cleanupDeadline,
      maxOutputBytes: limits.maxOutputBytes,
    });
    return success({ kind: "powershell", ...run });
  } catch (error) {
    return failed(mapError(error, where));
  }
}

/** Turns any error of a run into a protocol failure with fixed, secret-free text. */
function mapError(error: unknown, where: string): ExecutorFailure {
  if (isSandboxDenial(error)) {
    return sandboxDenied(where);
  }
  if (error instanceof WinrsTimeoutError) {
    return {
      code: "timeout",
      message:
        `The script on ${where} did not finish before the deadline (stopped during ${error.stage}); ${
          error.shellDeleted
            ? "the command was terminated and its shell deleted"
            : "the shell could not be deleted and will close after WinRM's idle timeout"
        }`,
    };
  }
  if (error instanceof WinrmTransportError) {
    switch (error.kind) {
      case "auth_failed":
        return { code: "auth_failed", message: error.message };
      case "tls_failed":
        return { code: "tls_failed", message: error.message };
      case "connection_failed":
        return { code: "connection_failed", message: error.message };
      default:
        return { code: "driver_error", message: error.message };
    }
  }
  if (error instanceof WinrsFaultError) {
    return { code: "driver_error", message: error.message };
  }
  if (error instanceof WsmanError || error instanceof NtlmError) {
    return {
      code: "driver_error",
      message: `WinRM exchange with ${where} failed: ${error.message}`,
    };
  }
  if (error instanceof HttpError) {
    return {
      code: "connection_failed",
      message: `Connection to ${where} failed: ${error.message}`,
    };
  }
  if (error instanceof TypeError) {
    return { code: "bad_request", message: error.message };
  }
  return {
    code: "internal",
    message: `PowerShell executor failed unexpectedly: ${
      error instanceof Error ? error.name : "non-error thrown"
    }`,
  };
}

if (import.meta.main) {
  await serveOneRequest("powershell", "PowerShell", runPowershellRequest);
}
