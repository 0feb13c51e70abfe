/**
 * How a script reaches `powershell.exe` through WinRS.
 *
 * Normally as `powershell -NoProfile -NonInteractive -EncodedCommand
 * <base64 of UTF-16LE>`. The shell runs that through `cmd.exe`, whose command
 * line is limited to 8191 characters ("The command line is too long", pywinrm
 * #184), and base64 of UTF-16 grows a script by 8/3. A longer script is sent
 * over stdin instead, the way Ansible does: a short `-EncodedCommand`
 * bootstrap reads stdin (`$input`), base64-decodes it as UTF-8 and
 * dot-sources it, so it runs in the same scope as an encoded command would.
 * Base64 keeps the stdin payload ASCII, whatever the shell's code page.
 *
 * @module
 */
import { utf16le } from "./ntlm_crypto.ts";
import { toBase64 } from "./wsman.ts";

/** Longest command line sent as is (cmd.exe allows 8191 with its own prefix). */
export const COMMAND_LINE_LIMIT = 8000;

/** The start of every command line. */
export const POWERSHELL_PREFIX =
  "powershell -NoProfile -NonInteractive -EncodedCommand ";

/** The script that reads the real script from stdin and runs it in its own scope. */
export const STDIN_BOOTSTRAP =
  ". ([ScriptBlock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String((($input | Out-String) -replace '\\s', '')))))";

/** Base64 of the UTF-16LE script, as `-EncodedCommand` expects. */
export function encodePowerShell(script: string): string {
  return toBase64(utf16le(script));
}

/** The command line that runs a script given on it. */
export function encodedCommandLine(script: string): string {
  return POWERSHELL_PREFIX + encodePowerShell(script);
}

/** How a script is delivered. */
export interface ScriptDelivery {
  /** `command_line` (-EncodedCommand) or `stdin` (bootstrap + stdin). */
  mode: "command_line" | "stdin";
  /** The command line to start. */
  commandLine: string;
  /** Bytes for the command's stdin, closed after them; null for `command_line`. */
  stdin: Uint8Array | null;
}

const STDIN_LINE = 76;

/** Chooses the delivery of a script: on the command line when it fits, else over stdin. */
export function planScriptDelivery(
  script: string,
  limit = COMMAND_LINE_LIMIT,
): ScriptDelivery {
  const direct = encodedCommandLine(script);
  if (direct.length <= limit) {
    return { mode: "command_line", commandLine: direct, stdin: null };
  }
  const payload = toBase64(new TextEncoder().encode(script));
  let lines = "";
  for (let i = 0; i < payload.length; i += STDIN_LINE) {
    lines += `${payload.slice(i, i + STDIN_LINE)}\r\n`;
  }
  return {
    mode: "stdin",
    commandLine: encodedCommandLine(STDIN_BOOTSTRAP),
    stdin: new TextEncoder().encode(lines),
  };
}
