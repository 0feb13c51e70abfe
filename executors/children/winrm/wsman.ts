/**
 * WS-Management / WinRS SOAP envelopes: builders for the six requests a
 * remote command needs (Create, Command, Send, Receive, Signal, Delete) and
 * parsers for their responses and for SOAP faults.
 *
 * The header layout follows the recorded Windows Server 2016 exchanges in
 * `fixtures/pypsrp-winrs` (MS-WSMV 3.1.4). Every value that goes into an
 * envelope is XML-escaped; every response is parsed with namespaces
 * resolved, never matched as text.
 *
 * @module
 */
import {
  attribute,
  childElement,
  childElements,
  clark,
  elementChildren,
  escapeXml,
  findDescendant,
  parseXml,
  textContent,
  type XmlElement,
  XmlError,
} from "./xml.ts";

/** XML namespaces used by WinRS. */
export const NS = {
  soap: "http://www.w3.org/2003/05/soap-envelope",
  addressing: "http://schemas.xmlsoap.org/ws/2004/08/addressing",
  wsman: "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
  wsmv: "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
  shell: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
  transfer: "http://schemas.xmlsoap.org/ws/2004/09/transfer",
  wsmanFault: "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
} as const;

/** The WinRS request actions. */
export const ACTIONS = {
  create: "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
  delete: "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete",
  command: `${NS.shell}/Command`,
  send: `${NS.shell}/Send`,
  receive: `${NS.shell}/Receive`,
  signal: `${NS.shell}/Signal`,
} as const;

/** A WinRS request action. */
export type WinrsAction = keyof typeof ACTIONS;

/** The action each successful response carries. */
export const RESPONSE_ACTIONS: Record<WinrsAction, string> = {
  create: "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse",
  delete: "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse",
  command: `${NS.shell}/CommandResponse`,
  send: `${NS.shell}/SendResponse`,
  receive: `${NS.shell}/ReceiveResponse`,
  signal: `${NS.shell}/SignalResponse`,
};

/** The resource URI of the cmd shell. */
export const CMD_RESOURCE_URI = `${NS.shell}/cmd`;
/** Signal code that ends a command. */
export const SIGNAL_TERMINATE = `${NS.shell}/signal/terminate`;
/** Command state prefix; the state names follow it. */
export const COMMAND_STATE = `${NS.shell}/CommandState/`;
/** WSManFault code of the OperationTimeout fault (`w:TimedOut`). */
export const OPERATION_TIMEOUT_CODE = 2150858793;
/** Envelope size the client announces; Windows' default is at least this. */
export const MAX_ENVELOPE_SIZE = 153600;
/** Code page the shell is created with, so output arrives as UTF-8. */
export const UTF8_CODEPAGE = 65001;

const ANONYMOUS = `${NS.addressing}/role/anonymous`;

/** A malformed or unexpected WS-Management response. */
export class WsmanError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WsmanError";
  }
}

/** What every request header holds. */
export interface HeaderOptions {
  /** The endpoint URL, e.g. `http://host:5985/wsman`. */
  to: string;
  /** `uuid:` followed by an upper-case UUID; see {@linkcode newMessageId}. */
  messageId: string;
  /** Seconds the server may hold the request (`w:OperationTimeout`). */
  operationTimeoutSeconds: number;
  /** `wsmv:SessionId`, the same for every request of one run. */
  sessionId?: string;
}

/** A new `uuid:` message or session id. */
export function newMessageId(): string {
  return `uuid:${crypto.randomUUID().toUpperCase()}`;
}

interface HeaderParts extends HeaderOptions {
  action: string;
  shellId?: string;
  options?: readonly [string, string][];
}

function envelope(parts: HeaderParts, body: string): string {
  const timeout = Math.max(1, Math.floor(parts.operationTimeoutSeconds));
  const optionSet = parts.options === undefined || parts.options.length === 0
    ? ""
    : `<wsman:OptionSet s:mustUnderstand="true">${
      parts.options.map(([name, value]) =>
        `<wsman:Option Name="${escapeXml(name)}">${
          escapeXml(value)
        }</wsman:Option>`
      ).join("")
    }</wsman:OptionSet>`;
  const selector = parts.shellId === undefined
    ? ""
    : `<wsman:SelectorSet><wsman:Selector Name="ShellId">${
      escapeXml(parts.shellId)
    }</wsman:Selector></wsman:SelectorSet>`;
  const session = parts.sessionId === undefined
    ? ""
    : `<wsmv:SessionId s:mustUnderstand="false">${
      escapeXml(parts.sessionId)
    }</wsmv:SessionId>`;
  // Byte for byte the layout of pypsrp's recorded requests: rsp is declared
  // only when the body uses it, an empty body is self-closing.
  const rsp = body.includes("<rsp:") ? `xmlns:rsp="${NS.shell}" ` : "";
  return `<s:Envelope ${rsp}xmlns:s="${NS.soap}" xmlns:wsa="${NS.addressing}" xmlns:wsman="${NS.wsman}" xmlns:wsmv="${NS.wsmv}">` +
    "<s:Header>" +
    `<wsa:Action s:mustUnderstand="true">${
      escapeXml(parts.action)
    }</wsa:Action>` +
    '<wsmv:DataLocale s:mustUnderstand="false" xml:lang="en-US" />' +
    '<wsman:Locale s:mustUnderstand="false" xml:lang="en-US" />' +
    `<wsman:MaxEnvelopeSize s:mustUnderstand="true">${MAX_ENVELOPE_SIZE}</wsman:MaxEnvelopeSize>` +
    `<wsa:MessageID>${escapeXml(parts.messageId)}</wsa:MessageID>` +
    `<wsman:OperationTimeout>PT${timeout}S</wsman:OperationTimeout>` +
    `<wsa:ReplyTo><wsa:Address s:mustUnderstand="true">${ANONYMOUS}</wsa:Address></wsa:ReplyTo>` +
    `<wsman:ResourceURI s:mustUnderstand="true">${CMD_RESOURCE_URI}</wsman:ResourceURI>` +
    session +
    `<wsa:To>${escapeXml(parts.to)}</wsa:To>` +
    optionSet +
    selector +
    "</s:Header>" +
    (body === "" ? "<s:Body />" : `<s:Body>${body}</s:Body>`) +
    "</s:Envelope>";
}

/** Options of {@linkcode buildCreateShell}. */
export interface CreateShellOptions extends HeaderOptions {
  /** `WINRS_CODEPAGE`; defaults to {@linkcode UTF8_CODEPAGE}. */
  codepage?: number;
}

/** Create a cmd shell with stdin and stdout/stderr streams. */
export function buildCreateShell(options: CreateShellOptions): string {
  return envelope(
    {
      ...options,
      action: ACTIONS.create,
      options: [
        ["WINRS_NOPROFILE", "TRUE"],
        ["WINRS_CODEPAGE", String(options.codepage ?? UTF8_CODEPAGE)],
      ],
    },
    "<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>" +
      "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>",
  );
}

/** Options of {@linkcode buildCommand}. */
export interface CommandOptions extends HeaderOptions {
  shellId: string;
  /** The whole command line, e.g. `powershell -EncodedCommand ...`. */
  command: string;
  /** `WINRS_CONSOLEMODE_STDIN`: TRUE unless the command reads piped stdin. */
  consoleModeStdin: boolean;
}

/** Start a command line in the shell. */
export function buildCommand(options: CommandOptions): string {
  return envelope(
    {
      ...options,
      action: ACTIONS.command,
      options: [
        [
          "WINRS_CONSOLEMODE_STDIN",
          options.consoleModeStdin ? "TRUE" : "FALSE",
        ],
        ["WINRS_SKIP_CMD_SHELL", "FALSE"],
      ],
    },
    `<rsp:CommandLine><rsp:Command>${
      escapeXml(options.command)
    }</rsp:Command></rsp:CommandLine>`,
  );
}

/** Options of {@linkcode buildSend}. */
export interface SendOptions extends HeaderOptions {
  shellId: string;
  commandId: string;
  /** Bytes for the command's stdin. */
  data: Uint8Array;
  /** Closes stdin after these bytes. */
  end: boolean;
}

/** Write bytes to a command's stdin. */
export function buildSend(options: SendOptions): string {
  return envelope(
    { ...options, action: ACTIONS.send },
    `<rsp:Send><rsp:Stream Name="stdin" CommandId="${
      escapeXml(options.commandId)
    }"${options.end ? ' End="true"' : ""}>${
      toBase64(options.data)
    }</rsp:Stream></rsp:Send>`,
  );
}

/** Options of {@linkcode buildReceive}. */
export interface ReceiveOptions extends HeaderOptions {
  shellId: string;
  commandId: string;
}

/** Ask for the command's stdout and stderr (held up to OperationTimeout). */
export function buildReceive(options: ReceiveOptions): string {
  return envelope(
    {
      ...options,
      action: ACTIONS.receive,
      options: [["WSMAN_CMDSHELL_OPTION_KEEPALIVE", "True"]],
    },
    `<rsp:Receive><rsp:DesiredStream CommandId="${
      escapeXml(options.commandId)
    }">stdout stderr</rsp:DesiredStream></rsp:Receive>`,
  );
}

/** Options of {@linkcode buildSignal}. */
export interface SignalOptions extends HeaderOptions {
  shellId: string;
  commandId: string;
  /** Defaults to {@linkcode SIGNAL_TERMINATE}. */
  code?: string;
}

/** Signal a command (terminate by default). */
export function buildSignal(options: SignalOptions): string {
  return envelope(
    { ...options, action: ACTIONS.signal },
    `<rsp:Signal CommandId="${escapeXml(options.commandId)}"><rsp:Code>${
      escapeXml(options.code ?? SIGNAL_TERMINATE)
    }</rsp:Code></rsp:Signal>`,
  );
}

/** Options of {@linkcode buildDeleteShell}. */
export interface DeleteShellOptions extends HeaderOptions {
  shellId: string;
}

/** Delete the shell and everything still running in it. */
export function buildDeleteShell(options: DeleteShellOptions): string {
  return envelope({ ...options, action: ACTIONS.delete }, "");
}

/** A parsed response envelope. */
export interface WsmanEnvelope {
  /** `a:Action`; "" when absent. */
  action: string;
  /** `a:RelatesTo`; null when absent. */
  relatesTo: string | null;
  header: XmlElement;
  body: XmlElement;
}

/**
 * Parses a SOAP 1.2 envelope.
 *
 * @throws {WsmanError} if it is not XML or not a SOAP 1.2 envelope
 */
export function parseEnvelope(xml: string): WsmanEnvelope {
  let root: XmlElement;
  try {
    root = parseXml(xml);
  } catch (error) {
    throw new WsmanError(
      `The WinRM response is not well-formed XML (${
        error instanceof XmlError ? error.message : "unreadable"
      })`,
      { cause: error },
    );
  }
  if (root.local !== "Envelope" || root.namespace !== NS.soap) {
    throw new WsmanError(
      `The WinRM response is not a SOAP 1.2 envelope (root element <${
        root.name.slice(0, 40)
      }>)`,
    );
  }
  const header = childElement(root, clark(NS.soap, "Header"));
  const body = childElement(root, clark(NS.soap, "Body"));
  if (header === undefined || body === undefined) {
    throw new WsmanError(
      "The WinRM response envelope lacks its Header or Body",
    );
  }
  const action = childElement(header, clark(NS.addressing, "Action"));
  const relatesTo = childElement(header, clark(NS.addressing, "RelatesTo"));
  return {
    action: action === undefined ? "" : textContent(action).trim(),
    relatesTo: relatesTo === undefined ? null : textContent(relatesTo).trim(),
    header,
    body,
  };
}

/** A SOAP fault from the WinRM service. */
export interface WsmanFault {
  /** `s:Code/s:Value`, e.g. `s:Receiver`. */
  code: string;
  /** `s:Subcode/s:Value`, e.g. `w:TimedOut`; null when absent. */
  subcode: string | null;
  /** `s:Reason/s:Text`, whitespace collapsed. */
  reason: string;
  /** `WSManFault@Code`, e.g. 2150858793; null when absent. */
  wsmanCode: number | null;
  /** `WSManFault@Machine`; null when absent. */
  machine: string | null;
  /** The most specific message: WSManFault's, else the WMI error's, else the reason. */
  message: string;
}

function collapse(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** The fault in an envelope, or null when the body holds none. */
export function parseFault(parsed: WsmanEnvelope): WsmanFault | null {
  const fault = childElement(parsed.body, clark(NS.soap, "Fault"));
  if (fault === undefined) return null;
  const code = childElement(fault, clark(NS.soap, "Code"));
  const value = code === undefined
    ? undefined
    : childElement(code, clark(NS.soap, "Value"));
  const sub = code === undefined
    ? undefined
    : childElement(code, clark(NS.soap, "Subcode"));
  const subValue = sub === undefined
    ? undefined
    : childElement(sub, clark(NS.soap, "Value"));
  const reasonElement = childElement(fault, clark(NS.soap, "Reason"));
  const reasonText = reasonElement === undefined
    ? undefined
    : childElement(reasonElement, clark(NS.soap, "Text"));
  const reason = collapse(
    reasonText === undefined ? "" : textContent(reasonText),
  );
  const detail = childElement(fault, clark(NS.soap, "Detail"));
  const wsmanFault = detail === undefined
    ? undefined
    : findDescendant(detail, clark(NS.wsmanFault, "WSManFault"));
  let message = "";
  if (wsmanFault !== undefined) {
    // The innermost WSManFault message is the most specific one.
    let inner: XmlElement = wsmanFault;
    for (
      let next = findDescendant(inner, clark(NS.wsmanFault, "WSManFault"));
      next !== undefined;
      next = findDescendant(inner, clark(NS.wsmanFault, "WSManFault"))
    ) {
      inner = next;
    }
    const messageElement = childElement(inner, clark(NS.wsmanFault, "Message"));
    if (messageElement !== undefined) {
      const provider = childElement(
        messageElement,
        clark(NS.wsmanFault, "ProviderFault"),
      );
      message = collapse(
        textContent(provider ?? messageElement),
      );
    }
  }
  if (message === "" && detail !== undefined) {
    const wmi = elementChildren(detail).find((e) =>
      e.local === "MSFT_WmiError"
    );
    const wmiMessage = wmi === undefined
      ? undefined
      : elementChildren(wmi).find((e) => e.local === "Message");
    if (wmiMessage !== undefined) message = collapse(textContent(wmiMessage));
  }
  const codeText = wsmanFault === undefined
    ? undefined
    : attribute(wsmanFault, "Code");
  const wsmanCode = codeText !== undefined && /^\d{1,12}$/.test(codeText)
    ? Number(codeText)
    : null;
  return {
    code: value === undefined ? "" : collapse(textContent(value)),
    subcode: subValue === undefined ? null : collapse(textContent(subValue)),
    reason,
    wsmanCode,
    machine: wsmanFault === undefined
      ? null
      : attribute(wsmanFault, "Machine") ?? null,
    message: message === "" ? reason : message,
  };
}

/** Whether a fault is the OperationTimeout a Receive gets while a command is quiet. */
export function isOperationTimeout(fault: WsmanFault): boolean {
  return fault.wsmanCode === OPERATION_TIMEOUT_CODE ||
    (fault.subcode !== null && /(^|:)TimedOut$/.test(fault.subcode));
}

const MAX_FAULT_MESSAGE = 600;

/** One readable line for a fault, e.g. `w:QuotaLimit (WSManFault 2150859173): The maximum ...`. */
export function describeFault(fault: WsmanFault): string {
  const name = fault.subcode ?? fault.code;
  const code = fault.wsmanCode === null
    ? ""
    : ` (WSManFault ${fault.wsmanCode})`;
  const message = fault.message.length > MAX_FAULT_MESSAGE
    ? `${fault.message.slice(0, MAX_FAULT_MESSAGE)}...`
    : fault.message;
  return `${name || "SOAP fault"}${code}: ${message || "no message"}`;
}

/**
 * The ShellId of a Create response (selector, or `rsp:ShellId`).
 *
 * @throws {WsmanError} if there is none
 */
export function parseShellId(parsed: WsmanEnvelope): string {
  const created = childElement(
    parsed.body,
    clark(NS.transfer, "ResourceCreated"),
  );
  const selector = created === undefined
    ? undefined
    : findDescendant(created, clark(NS.wsman, "SelectorSet"));
  const fromSelector = selector === undefined
    ? undefined
    : childElements(selector, clark(NS.wsman, "Selector")).find((s) =>
      attribute(s, "Name") === "ShellId"
    );
  const shell = childElement(parsed.body, clark(NS.shell, "Shell"));
  const fromShell = shell === undefined
    ? undefined
    : childElement(shell, clark(NS.shell, "ShellId"));
  const found = fromSelector ?? fromShell;
  const id = found === undefined ? "" : collapse(textContent(found));
  if (!isIdentifier(id)) {
    throw new WsmanError(
      "The WinRM Create response carries no ShellId; the service may not be a WinRS endpoint",
    );
  }
  return id;
}

/**
 * The CommandId of a Command response.
 *
 * @throws {WsmanError} if there is none
 */
export function parseCommandId(parsed: WsmanEnvelope): string {
  const response = childElement(
    parsed.body,
    clark(NS.shell, "CommandResponse"),
  );
  const id = response === undefined
    ? undefined
    : childElement(response, clark(NS.shell, "CommandId"));
  const value = id === undefined ? "" : collapse(textContent(id));
  if (!isIdentifier(value)) {
    throw new WsmanError("The WinRM Command response carries no CommandId");
  }
  return value;
}

function isIdentifier(value: string): boolean {
  return /^(uuid:)?[0-9A-Za-z-]{1,64}$/.test(value);
}

/** One `rsp:Stream` of a Receive response. */
export interface ReceivedStream {
  name: string;
  /** Decoded bytes (empty for an `End` marker). */
  data: Uint8Array;
  end: boolean;
}

/** A parsed Receive response. */
export interface ReceiveResult {
  streams: ReceivedStream[];
  /** The state name after {@linkcode COMMAND_STATE}, e.g. `Running` or `Done`. */
  state: string;
  done: boolean;
  /** Only a `Done` state carries one. */
  exitCode: number | null;
}

/**
 * The streams and command state of a Receive response for one command.
 *
 * @throws {WsmanError} if the body is not a ReceiveResponse or a stream is not base64
 */
export function parseReceive(
  parsed: WsmanEnvelope,
  commandId: string,
): ReceiveResult {
  const response = childElement(
    parsed.body,
    clark(NS.shell, "ReceiveResponse"),
  );
  if (response === undefined) {
    throw new WsmanError(
      "The WinRM Receive response has no ReceiveResponse body",
    );
  }
  const streams: ReceivedStream[] = [];
  for (const stream of childElements(response, clark(NS.shell, "Stream"))) {
    const id = attribute(stream, "CommandId");
    if (id !== undefined && id.toUpperCase() !== commandId.toUpperCase()) {
      continue;
    }
    const text = textContent(stream).replace(/\s+/g, "");
    let data: Uint8Array;
    try {
      data = fromBase64(text);
    } catch (error) {
      throw new WsmanError(
        "A WinRM output stream is not valid base64",
        { cause: error },
      );
    }
    streams.push({
      name: attribute(stream, "Name") ?? "",
      data,
      end: /^true$/i.test(attribute(stream, "End") ?? ""),
    });
  }
  const stateElement = childElement(response, clark(NS.shell, "CommandState"));
  const stateUri = stateElement === undefined
    ? ""
    : attribute(stateElement, "State") ?? "";
  const state = stateUri.startsWith(COMMAND_STATE)
    ? stateUri.slice(COMMAND_STATE.length)
    : stateUri;
  const exitElement = stateElement === undefined
    ? undefined
    : childElement(stateElement, clark(NS.shell, "ExitCode"));
  const exitText = exitElement === undefined
    ? ""
    : textContent(exitElement).trim();
  const exitCode = /^-?\d{1,10}$/.test(exitText) ? Number(exitText) : null;
  return { streams, state, done: state === "Done", exitCode };
}

/** Standard base64 of bytes. */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * Bytes of standard base64.
 *
 * @throws {Error} (a DOMException) if the text is not base64
 */
export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
