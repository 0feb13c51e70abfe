/**
 * Runs one PowerShell script through WinRS: Create a shell, start the
 * command, feed stdin when the script travels that way, Receive until the
 * command is Done (a `w:TimedOut` fault only means "nothing yet, ask again"),
 * then Signal terminate and Delete the shell. The clean-up runs on success,
 * on faults and on timeouts; after a timeout it opens a fresh connection,
 * because the aborted one cannot carry another NTLM message.
 *
 * @module
 */
import { capText } from "../../protocol/output_cap.ts";
import { decodeStderr } from "./clixml.ts";
import { planScriptDelivery } from "./powershell_command.ts";
import type { WinrmTransport } from "./winrm_transport.ts";
import {
  buildCommand,
  buildCreateShell,
  buildDeleteShell,
  buildReceive,
  buildSend,
  buildSignal,
  describeFault,
  isOperationTimeout,
  newMessageId,
  parseCommandId,
  parseEnvelope,
  parseFault,
  parseReceive,
  parseShellId,
  RESPONSE_ACTIONS,
  type WinrsAction,
  type WsmanEnvelope,
  WsmanError,
  type WsmanFault,
} from "./wsman.ts";

/** Longest time the server may hold a request (`w:OperationTimeout`). */
export const DEFAULT_OPERATION_TIMEOUT_SECONDS = 20;
/** Bytes of stdin per Send message (well under MaxEnvelopeSize once base64). */
export const SEND_CHUNK_BYTES = 32 * 1024;
/** Raw CLIXML stderr kept per byte of output cap: it is verbose XML. */
const STDERR_RAW_FACTOR = 4;

/** The WinRM service answered with a SOAP fault. */
export class WinrsFaultError extends Error {
  /** The request that failed. */
  readonly action: WinrsAction;
  /** The parsed fault. */
  readonly fault: WsmanFault;

  /** Creates the error. */
  constructor(action: WinrsAction, fault: WsmanFault) {
    super(`WinRM refused ${ACTION_NAMES[action]}: ${describeFault(fault)}`);
    this.name = "WinrsFaultError";
    this.action = action;
    this.fault = fault;
  }
}

/** The script did not finish before the deadline; the command was terminated (best effort). */
export class WinrsTimeoutError extends Error {
  /** Where the time ran out. */
  readonly stage: string;
  /** Whether the shell was deleted afterwards. */
  readonly shellDeleted: boolean;

  /** Creates the error. */
  constructor(stage: string, shellDeleted: boolean) {
    super(`The script did not finish in time (stopped during ${stage})`);
    this.name = "WinrsTimeoutError";
    this.stage = stage;
    this.shellDeleted = shellDeleted;
  }
}

const ACTION_NAMES: Record<WinrsAction, string> = {
  create: "to create a shell",
  command: "to start the command",
  send: "the script on stdin",
  receive: "to return output",
  signal: "to terminate the command",
  delete: "to delete the shell",
};

/** Options of {@linkcode runPowerShell}. */
export interface RunPowerShellOptions {
  /** Opens a new authenticated transport (called again for clean-up after a timeout). */
  connect: (signal: AbortSignal) => Promise<WinrmTransport>;
  script: string;
  /** `performance.now()` time by which the script must be done. */
  deadline: number;
  /** `performance.now()` time by which clean-up must be done. */
  cleanupDeadline: number;
  /** Cap on each output stream (bytes). */
  maxOutputBytes: number;
  /** Longest command line before stdin delivery (tests lower it). */
  commandLineLimit?: number;
  /** Cap on `w:OperationTimeout` of a Receive (default 20 s). */
  maxOperationTimeoutSeconds?: number;
}

/** What a finished script produced. */
export interface PowerShellRun {
  exitCode: number | null;
  /** UTF-8 stdout, `\r\n` turned into `\n`. */
  stdout: string;
  /** Readable stderr (CLIXML decoded). */
  stderr: string;
  /** Non-zero exit code, or a CLIXML error record on stderr. */
  hadErrors: boolean;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  delivery: "command_line" | "stdin";
  /** Whether the shell was deleted afterwards. */
  shellDeleted: boolean;
}

const DEADLINE = Symbol("deadline");

/**
 * Runs the script and cleans up after it.
 *
 * @throws {WinrsFaultError} for a SOAP fault other than OperationTimeout
 * @throws {WinrsTimeoutError} when the deadline passes
 * @throws {WsmanError} for a malformed or unexpected response
 * @throws the transport's errors (connection, TLS, authentication)
 */
export async function runPowerShell(
  options: RunPowerShellOptions,
): Promise<PowerShellRun> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(DEADLINE),
    Math.max(0, options.deadline - performance.now()),
  );
  const delivery = planScriptDelivery(
    options.script,
    options.commandLineLimit,
  );
  const stdout = new OutputBuffer(options.maxOutputBytes);
  const stderr = new OutputBuffer(options.maxOutputBytes * STDERR_RAW_FACTOR);
  let stage = "connect";
  let transport: WinrmTransport | null = null;
  let shellId: string | null = null;
  let commandId: string | null = null;
  let exitCode: number | null = null;
  let failure: unknown = null;
  try {
    transport = await options.connect(controller.signal);
    const client = new WinrsClient(transport, controller.signal);
    stage = "create";
    shellId = await client.createShell();
    stage = "command";
    commandId = await client.command(shellId, delivery.commandLine, {
      consoleModeStdin: delivery.stdin === null,
    });
    if (delivery.stdin !== null) {
      stage = "send";
      const data = delivery.stdin;
      for (let at = 0; at < data.length; at += SEND_CHUNK_BYTES) {
        const end = at + SEND_CHUNK_BYTES >= data.length;
        await client.send(shellId, commandId, {
          data: data.subarray(at, at + SEND_CHUNK_BYTES),
          end,
        });
      }
    }
    stage = "receive";
    const maxWait = options.maxOperationTimeoutSeconds ??
      DEFAULT_OPERATION_TIMEOUT_SECONDS;
    for (;;) {
      const left = Math.floor((options.deadline - performance.now()) / 1000);
      let received;
      try {
        received = await client.receive(shellId, commandId, {
          operationTimeoutSeconds: Math.min(maxWait, Math.max(1, left)),
        });
      } catch (error) {
        if (
          error instanceof WinrsFaultError && isOperationTimeout(error.fault)
        ) {
          controller.signal.throwIfAborted();
          continue;
        }
        throw error;
      }
      for (const stream of received.streams) {
        if (stream.name === "stdout") stdout.push(stream.data);
        else if (stream.name === "stderr") stderr.push(stream.data);
      }
      if (received.done) {
        exitCode = received.exitCode;
        break;
      }
    }
  } catch (error) {
    failure = error;
  } finally {
    clearTimeout(timer);
  }

  let shellDeleted = false;
  if (shellId !== null) {
    shellDeleted = await cleanUp({
      transport,
      connect: options.connect,
      shellId,
      commandId,
      deadline: options.cleanupDeadline,
    });
  } else {
    transport?.close();
  }

  if (failure !== null) {
    if (failure === DEADLINE || controller.signal.aborted) {
      throw new WinrsTimeoutError(stage, shellDeleted);
    }
    throw failure;
  }
  const stdoutText = capText(
    stdout.text().replace(/\r\n/g, "\n"),
    options.maxOutputBytes,
  );
  const decoded = decodeStderr(stderr.text());
  const stderrText = capText(decoded.text, options.maxOutputBytes);
  return {
    exitCode,
    stdout: stdoutText.text,
    stderr: stderrText.text,
    hadErrors: (exitCode !== null && exitCode !== 0) ||
      decoded.hadErrorRecords ||
      (stderr.truncated && stderr.sawErrorRecord),
    stdoutTruncated: stdout.truncated || stdoutText.truncated,
    stderrTruncated: stderr.truncated || stderrText.truncated,
    delivery: delivery.mode,
    shellDeleted,
  };
}

interface CleanUpOptions {
  transport: WinrmTransport | null;
  connect: (signal: AbortSignal) => Promise<WinrmTransport>;
  shellId: string;
  commandId: string | null;
  deadline: number;
}

/** Signals terminate and deletes the shell, best effort; true when the shell is gone. */
async function cleanUp(options: CleanUpOptions): Promise<boolean> {
  const signal = AbortSignal.timeout(
    Math.max(1, Math.round(options.deadline - performance.now())),
  );
  let transport = options.transport;
  try {
    if (transport === null || !transport.isOpen) {
      transport?.close();
      transport = await options.connect(signal);
    }
    const client = new WinrsClient(transport, signal);
    if (options.commandId !== null) {
      try {
        await client.signal(options.shellId, options.commandId);
      } catch (error) {
        // A finished or unknown command cannot be signalled; delete anyway.
        if (!(error instanceof WinrsFaultError)) throw error;
      }
    }
    await client.deleteShell(options.shellId);
    return true;
  } catch {
    return false;
  } finally {
    transport?.close();
  }
}

/** The WinRS requests on one transport, each checked against its response. */
export class WinrsClient {
  readonly #transport: WinrmTransport;
  readonly #signal: AbortSignal | undefined;
  readonly #sessionId = newMessageId();

  /** Uses an authenticated transport; `signal` aborts every request. */
  constructor(transport: WinrmTransport, signal?: AbortSignal) {
    this.#transport = transport;
    this.#signal = signal;
  }

  async #call(
    action: WinrsAction,
    build: (header: {
      to: string;
      messageId: string;
      sessionId: string;
      operationTimeoutSeconds: number;
    }) => string,
    operationTimeoutSeconds = DEFAULT_OPERATION_TIMEOUT_SECONDS,
  ): Promise<WsmanEnvelope> {
    const messageId = newMessageId();
    const xml = build({
      to: this.#transport.endpoint,
      messageId,
      sessionId: this.#sessionId,
      operationTimeoutSeconds,
    });
    const reply = await this.#transport.send(xml, this.#signal);
    const parsed = parseEnvelope(reply.xml);
    if (
      parsed.relatesTo !== null &&
      parsed.relatesTo.toUpperCase() !== messageId.toUpperCase()
    ) {
      throw new WsmanError(
        `The WinRM reply to ${action} relates to another message (${
          parsed.relatesTo.slice(0, 50)
        }); refusing it`,
      );
    }
    const fault = parseFault(parsed);
    if (fault !== null) throw new WinrsFaultError(action, fault);
    if (reply.status !== 200) {
      throw new WsmanError(
        `WinRM answered ${action} with HTTP ${reply.status} but no SOAP fault`,
      );
    }
    if (parsed.action !== "" && parsed.action !== RESPONSE_ACTIONS[action]) {
      throw new WsmanError(
        `WinRM answered ${action} with the unexpected action ${
          parsed.action.slice(0, 100)
        }`,
      );
    }
    return parsed;
  }

  /** Creates a cmd shell and returns its ShellId. */
  async createShell(): Promise<string> {
    return parseShellId(
      await this.#call("create", (header) => buildCreateShell(header)),
    );
  }

  /** Starts a command line and returns its CommandId. */
  async command(
    shellId: string,
    commandLine: string,
    options: { consoleModeStdin: boolean },
  ): Promise<string> {
    return parseCommandId(
      await this.#call("command", (header) =>
        buildCommand({
          ...header,
          shellId,
          command: commandLine,
          consoleModeStdin: options.consoleModeStdin,
        })),
    );
  }

  /** Writes bytes to the command's stdin; `end` closes it after them. */
  async send(
    shellId: string,
    commandId: string,
    chunk: { data: Uint8Array; end: boolean },
  ): Promise<void> {
    await this.#call(
      "send",
      (header) => buildSend({ ...header, shellId, commandId, ...chunk }),
    );
  }

  /** Receives output; throws a {@linkcode WinrsFaultError} on OperationTimeout. */
  async receive(
    shellId: string,
    commandId: string,
    options: { operationTimeoutSeconds: number },
  ): Promise<ReturnType<typeof parseReceive>> {
    const parsed = await this.#call(
      "receive",
      (header) => buildReceive({ ...header, shellId, commandId }),
      options.operationTimeoutSeconds,
    );
    return parseReceive(parsed, commandId);
  }

  /** Signals terminate to the command. */
  async signal(shellId: string, commandId: string): Promise<void> {
    await this.#call(
      "signal",
      (header) => buildSignal({ ...header, shellId, commandId }),
    );
  }

  /** Deletes the shell. */
  async deleteShell(shellId: string): Promise<void> {
    await this.#call(
      "delete",
      (header) => buildDeleteShell({ ...header, shellId }),
    );
  }
}

const ERROR_RECORD = 'S="Error"';

/** One output stream, kept up to a byte cap; remembers whether it saw an error record. */
class OutputBuffer {
  readonly #cap: number;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #truncated = false;
  #tail = "";
  #sawErrorRecord = false;

  constructor(cap: number) {
    this.#cap = cap;
  }

  push(data: Uint8Array): void {
    // Scan everything, kept or not, so a cut never hides an error record.
    const text = this.#tail + latin1(data);
    if (text.includes(ERROR_RECORD)) this.#sawErrorRecord = true;
    this.#tail = text.slice(-ERROR_RECORD.length);
    const room = this.#cap - this.#size;
    if (data.length <= room) {
      this.#chunks.push(data);
      this.#size += data.length;
      return;
    }
    if (room > 0) {
      this.#chunks.push(data.subarray(0, room));
      this.#size += room;
    }
    this.#truncated = true;
  }

  get truncated(): boolean {
    return this.#truncated;
  }

  get sawErrorRecord(): boolean {
    return this.#sawErrorRecord;
  }

  text(): string {
    const all = new Uint8Array(this.#size);
    let offset = 0;
    for (const chunk of this.#chunks) {
      all.set(chunk, offset);
      offset += chunk.length;
    }
    return new TextDecoder().decode(all);
  }
}

function latin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    out += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return out;
}
