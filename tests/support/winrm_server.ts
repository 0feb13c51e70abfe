/**
 * A wire-level WinRM (WinRS) test server on loopback that answers with the
 * recorded Windows responses in `tests/testdata/winrm`.
 *
 * - `auth: "ntlm"` (HTTP): a 401 `Negotiate` handshake per TCP connection;
 *   the client's NTLMv2 response and MIC are verified as a server would
 *   (`ntlm_server.ts`), and the user and domain must match. Afterwards every
 *   request must be sealed (`multipart/encrypted`) and every reply is sealed
 *   with the server-to-client keys. Unsealed requests are refused.
 * - `auth: "basic"` (HTTPS with a throwaway certificate): `Authorization:
 *   Basic` on every request.
 *
 * The script is recovered from `-EncodedCommand` (or from stdin when the
 * client sends the bootstrap) and picks the recorded Receive responses:
 *
 * | script contains | replies (fixture) |
 * | --- | --- |
 * | `Write-Error` | pywinrm `get_ps_output_response` (CLIXML error, exit 1) |
 * | `Start-Sleep` | pypsrp `test_winrs_operation_timeout` fault, forever |
 * | `hi again` | pypsrp `test_winrs_operation_timeout`: Running, 2 faults, Done |
 * | `[Console]::Error` | pypsrp `test_winrs_stderr_rc` (plain stderr, exit 1) |
 * | `Write-Progress` | `test_winrs_standard` plus the pypsrp no-error CLIXML on stderr |
 * | `Get-Service` | `test_winrs_standard` with the manual's Example 2 text as stdout |
 * | `こんにちは` | pypsrp `test_winrs_unicode` |
 * | `Get-BadCommand` | pypsrp `test_winrs_bad_cmd_id` (w:InvalidSelectors fault) |
 * | anything else | pypsrp `test_winrs_standard` (`hi`, exit 0) |
 *
 * ShellId, CommandId and RelatesTo of the recordings are replaced by the
 * live ones. `failNextCreate = "quota"` answers the next Create with WinRb's
 * recorded QuotaLimit fault; `tamper = "unsealed_reply"` answers the next
 * sealed request with a plain SOAP 200, as an attacker on the path would.
 *
 * @module
 */
import {
  ENCRYPTED_CONTENT_TYPE,
  isEncryptedContentType,
  sealBody,
  unsealBody,
} from "../../executors/children/winrm/encrypted_body.ts";
import { fromUtf16le } from "../../executors/children/winrm/ntlm_crypto.ts";
import { NtlmSession } from "../../executors/children/winrm/ntlm_session.ts";
import { respondToNegotiate, verifyAuthenticate } from "./ntlm_server.ts";

/** Where the recorded fixtures live (`tests/testdata/winrm/`). */
export const WINRM_FIXTURES = new URL(
  "../testdata/winrm/",
  import.meta.url,
);

/** Options of {@linkcode startWinrmServer}. */
export interface WinrmServerOptions {
  auth: "ntlm" | "basic";
  /** Account name the server accepts (NTLM: without domain; Basic: as sent). */
  username: string;
  password: string;
  /** NTLM: the domain the client must send; undefined accepts any. */
  domain?: string;
  /** HTTPS with this certificate (required for Basic). */
  tls?: { certPem: string; keyPem: string };
  /** Longest time a Receive is held before the OperationTimeout fault (ms, default 1500). */
  maxHoldMs?: number;
}

/** One request the server answered (after unsealing). */
export interface WinrmServerRequest {
  /** `remoteAddr` of the TCP connection, e.g. `127.0.0.1:40512`. */
  connection: string;
  /** `Create`, `Command`, `Send`, `Receive`, `Signal`, `Delete`. */
  action: string;
  /** The request's plaintext XML. */
  xml: string;
  /** Whether it arrived sealed. */
  sealed: boolean;
}

/** A running server. */
export interface WinrmServer {
  port: number;
  /** `http(s)://127.0.0.1:PORT/wsman`. */
  url: string;
  /** Every WinRS request, in order. */
  requests: WinrmServerRequest[];
  /** Every script the server recovered, in order. */
  scripts: string[];
  /** NTLM logons that verified: user, domain, whether a MIC was checked, and on which connection. */
  logons: {
    user: string;
    domain: string;
    micVerified: boolean;
    connection: string;
  }[];
  /** Failed logons (401 after an AUTHENTICATE or a wrong Basic header). */
  failedLogons: number;
  /** Shells created and deleted. */
  shells: { created: string[]; deleted: string[] };
  /** Signal codes received, with their CommandId. */
  signals: { commandId: string; code: string }[];
  /** Requests the server could not answer (a broken expectation); empty when all went well. */
  errors: string[];
  /** Answer the next Create with the recorded QuotaLimit fault. */
  failNextCreate: "quota" | null;
  /** Answer the next sealed request with an unsealed 200. */
  tamper: "unsealed_reply" | null;
  close(): Promise<void>;
}

interface Recorded {
  create: string;
  command: string;
  send: string;
  signal: string;
  delete: string;
  quota: string;
  receive: Record<Scenario, string[]>;
  /** ShellId and CommandId as recorded, per template, for substitution. */
  ids: string[];
}

type Scenario =
  | "standard"
  | "write_error"
  | "sleep"
  | "operation_timeout"
  | "stderr_rc"
  | "progress"
  | "example2"
  | "unicode"
  | "bad_command";

/** The stdout of the manual's Example 2 (section 10), as Windows would send it. */
export const EXAMPLE2_STDOUT = "\r\nName        DisplayName\r\n" +
  "----        -----------\r\n" +
  "wuauserv    Windows Update\r\n" +
  "XblGameSave Xbox Game Bar Saving Service\r\n\r\n\r\n";

async function loadRecorded(): Promise<Recorded> {
  const read = (path: string): Promise<string> =>
    Deno.readTextFile(new URL(path, WINRM_FIXTURES));
  const winrs = (test: string, file: string): Promise<string> =>
    read(`pypsrp-winrs/${test}/${file}`);
  const standardReceive = await winrs(
    "test_winrs_standard",
    "02-Receive-response.xml",
  );
  const progressClixml = await read(
    "pypsrp-clixml/test_sanitise_clixml_with_no_errors.xml",
  );
  const standardCommandId = "CF84C20A-0A35-43FA-AF78-0B4711DA5F30";
  // Composed from recorded parts: the standard reply with the recorded
  // progress-only CLIXML added as a stderr chunk.
  const progress = standardReceive.replace(
    '<rsp:Stream Name="stdout" CommandId="CF84C20A-0A35-43FA-AF78-0B4711DA5F30" End="true">',
    `<rsp:Stream Name="stderr" CommandId="${standardCommandId}">${
      btoa(progressClixml.replace(/\n/g, "\r\n"))
    }</rsp:Stream><rsp:Stream Name="stdout" CommandId="${standardCommandId}" End="true">`,
  );
  const example2 = standardReceive.replace(
    "aGkNCg==",
    btoa(EXAMPLE2_STDOUT),
  );
  const timeoutFault = await winrs(
    "test_winrs_operation_timeout",
    "03-Receive-response.xml",
  );
  return {
    create: await winrs("test_winrs_standard", "00-Create-response.xml"),
    command: await winrs("test_winrs_standard", "01-Command-response.xml"),
    send: await winrs("test_winrs_send", "02-Send-response.xml"),
    signal: await winrs("test_winrs_standard", "03-Signal-response.xml"),
    delete: await winrs("test_winrs_standard", "04-Delete-response.xml"),
    quota: await read("winrb-winrm/wmi_error_v2.xml"),
    receive: {
      standard: [standardReceive],
      write_error: [await read("pywinrm-conftest/get_ps_output_response.xml")],
      sleep: [timeoutFault],
      operation_timeout: [
        await winrs("test_winrs_operation_timeout", "02-Receive-response.xml"),
        timeoutFault,
        await winrs("test_winrs_operation_timeout", "04-Receive-response.xml"),
        await winrs("test_winrs_operation_timeout", "05-Receive-response.xml"),
      ],
      stderr_rc: [
        await winrs("test_winrs_stderr_rc", "02-Receive-response.xml"),
      ],
      progress: [progress],
      example2: [example2],
      unicode: [await winrs("test_winrs_unicode", "02-Receive-response.xml")],
      bad_command: [
        await winrs("test_winrs_bad_cmd_id", "02-Receive-response.xml"),
      ],
    },
    ids: [
      // test_winrs_standard shell and command
      "4283CBDC-3706-415B-88BD-B385F3E51A53",
      standardCommandId,
      // pywinrm get_ps_output_response command
      "11111111-1111-1111-1111-111111111124",
      // test_winrs_operation_timeout command
      "D644AE56-61E5-4C1A-A135-E599B76B3035",
      // test_winrs_stderr_rc, test_winrs_unicode, test_winrs_send commands
      ...await recordedCommandIds([
        "test_winrs_stderr_rc/01-Command-response.xml",
        "test_winrs_unicode/01-Command-response.xml",
        "test_winrs_send/01-Command-response.xml",
      ]),
    ],
  };
}

async function recordedCommandIds(paths: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const path of paths) {
    const xml = await Deno.readTextFile(
      new URL(`pypsrp-winrs/${path}`, WINRM_FIXTURES),
    );
    const match = /<rsp:CommandId>([^<]+)<\/rsp:CommandId>/.exec(xml);
    if (match !== null) ids.push(match[1]!);
  }
  return ids;
}

function pickScenario(script: string): Scenario {
  if (script.includes("Write-Error")) return "write_error";
  if (script.includes("Start-Sleep")) return "sleep";
  if (script.includes("hi again")) return "operation_timeout";
  if (script.includes("[Console]::Error")) return "stderr_rc";
  if (script.includes("Write-Progress")) return "progress";
  if (script.includes("Get-Service")) return "example2";
  if (script.includes("こんにちは")) return "unicode";
  if (script.includes("Get-BadCommand")) return "bad_command";
  return "standard";
}

interface Command {
  shellId: string;
  scenario: Scenario | null;
  stdin: string;
  replies: string[];
  step: number;
}

interface ConnectionState {
  negotiate?: Uint8Array;
  challenge?: Uint8Array;
  session?: NtlmSession;
}

const SOAP_TYPE = "application/soap+xml;charset=UTF-8";
const BOOTSTRAP_MARKER = "$input";
const PREFIX = "powershell -NoProfile -NonInteractive -EncodedCommand ";

/** Starts the server on 127.0.0.1 and an ephemeral port. */
export async function startWinrmServer(
  options: WinrmServerOptions,
): Promise<WinrmServer> {
  if (options.auth === "basic" && options.tls === undefined) {
    throw new TypeError("Basic authentication needs HTTPS: pass tls");
  }
  const recorded = await loadRecorded();
  const connections = new Map<string, ConnectionState>();
  const commands = new Map<string, Command>();
  const openShells = new Set<string>();
  const stop = new AbortController();
  const maxHoldMs = options.maxHoldMs ?? 1500;

  const state: WinrmServer = {
    port: 0,
    url: "",
    requests: [],
    scripts: [],
    logons: [],
    failedLogons: 0,
    shells: { created: [], deleted: [] },
    signals: [],
    errors: [],
    failNextCreate: null,
    tamper: null,
    close: async () => {},
  };

  const challengeHeaders = (): Headers => {
    const headers = new Headers();
    if (options.auth === "ntlm") {
      headers.append("WWW-Authenticate", "Negotiate");
      headers.append("WWW-Authenticate", "Kerberos");
    } else {
      headers.append("WWW-Authenticate", 'Basic realm="WSMAN"');
    }
    return headers;
  };
  const unauthorized = (): Response =>
    new Response(null, { status: 401, headers: challengeHeaders() });

  const substitute = (
    template: string,
    messageId: string,
    shellId: string,
    commandId: string | null,
  ): string => {
    let xml = template.replace(
      /(<a:RelatesTo>)[^<]*(<\/a:RelatesTo>)/,
      `$1${messageId}$2`,
    );
    xml = xml.replaceAll(recorded.ids[0]!, shellId);
    if (commandId !== null) {
      for (const id of recorded.ids.slice(1)) {
        xml = xml.replaceAll(id, commandId);
      }
    }
    return xml;
  };

  /** Answers one plaintext WinRS request: [status, xml]. */
  const answer = async (
    xml: string,
    signal: AbortSignal,
  ): Promise<[number, string]> => {
    const action = /<(?:\w+:)?Action[^>]*>([^<]+)</.exec(xml)?.[1] ?? "";
    const messageId = /<(?:\w+:)?MessageID>([^<]+)</.exec(xml)?.[1] ?? "";
    const shellId =
      /<(?:\w+:)?Selector Name="ShellId">([^<]+)</.exec(xml)?.[1] ??
        "";
    const name = action.slice(action.lastIndexOf("/") + 1);
    const unknownShell = (): [number, string] => [
      500,
      substitute(
        recorded.receive.bad_command[0]!,
        messageId,
        shellId,
        null,
      ),
    ];
    switch (name) {
      case "Create": {
        if (!/<(?:\w+:)?Option Name="WINRS_CODEPAGE">65001</.test(xml)) {
          throw new Error("Create without WINRS_CODEPAGE=65001");
        }
        if (state.failNextCreate === "quota") {
          state.failNextCreate = null;
          return [500, recorded.quota];
        }
        const id = crypto.randomUUID().toUpperCase();
        openShells.add(id);
        state.shells.created.push(id);
        return [200, substitute(recorded.create, messageId, id, null)];
      }
      case "Command": {
        if (!openShells.has(shellId)) return unknownShell();
        const line = /<(?:\w+:)?Command>([^<]*)</.exec(xml)?.[1] ?? "";
        if (!line.startsWith(PREFIX)) {
          throw new Error(`Unexpected command line ${line.slice(0, 80)}`);
        }
        if (line.length > 8191) {
          throw new Error("The command line is too long.");
        }
        const script = fromUtf16le(
          Uint8Array.from(
            atob(line.slice(PREFIX.length)),
            (c) => c.charCodeAt(0),
          ),
        );
        const commandId = crypto.randomUUID().toUpperCase();
        const viaStdin = script.includes(BOOTSTRAP_MARKER);
        const scenario = viaStdin ? null : pickScenario(script);
        if (!viaStdin) state.scripts.push(script);
        commands.set(commandId, {
          shellId,
          scenario,
          stdin: "",
          replies: scenario === null ? [] : recorded.receive[scenario],
          step: 0,
        });
        return [
          200,
          substitute(recorded.command, messageId, shellId, commandId),
        ];
      }
      case "Send": {
        const stream = /<(?:\w+:)?Stream([^>]*)>([^<]*)</.exec(xml);
        const attributes = stream?.[1] ?? "";
        const commandId = /CommandId="([^"]+)"/.exec(attributes)?.[1] ?? "";
        const command = commands.get(commandId);
        if (command === undefined || command.shellId !== shellId) {
          return unknownShell();
        }
        command.stdin += atob(stream?.[2] ?? "");
        if (/End="true"/i.test(attributes)) {
          const script = new TextDecoder().decode(
            Uint8Array.from(
              atob(command.stdin.replace(/\s+/g, "")),
              (c) => c.charCodeAt(0),
            ),
          );
          state.scripts.push(script);
          command.scenario = pickScenario(script);
          command.replies = recorded.receive[command.scenario];
        }
        return [200, substitute(recorded.send, messageId, shellId, commandId)];
      }
      case "Receive": {
        const commandId = /DesiredStream CommandId="([^"]+)"/.exec(xml)?.[1] ??
          "";
        const command = commands.get(commandId);
        if (
          command === undefined || command.shellId !== shellId ||
          command.scenario === null
        ) {
          return unknownShell();
        }
        const reply = command.replies[
          Math.min(command.step, command.replies.length - 1)
        ]!;
        command.step++;
        if (reply.includes("w:TimedOut")) {
          const seconds = Number(
            /OperationTimeout>PT(\d+(?:\.\d+)?)S</.exec(xml)?.[1] ?? "20",
          );
          await sleep(Math.min(seconds * 1000, maxHoldMs), signal);
          return [500, substitute(reply, messageId, shellId, commandId)];
        }
        return [
          reply.includes("<s:Fault>") ? 500 : 200,
          substitute(reply, messageId, shellId, commandId),
        ];
      }
      case "Signal": {
        const commandId = /Signal CommandId="([^"]+)"/.exec(xml)?.[1] ?? "";
        const code = /<(?:\w+:)?Code>([^<]+)</.exec(xml)?.[1] ?? "";
        state.signals.push({ commandId, code });
        return [
          200,
          substitute(recorded.signal, messageId, shellId, commandId),
        ];
      }
      case "Delete": {
        if (!openShells.delete(shellId)) return unknownShell();
        state.shells.deleted.push(shellId);
        return [200, substitute(recorded.delete, messageId, shellId, null)];
      }
      default:
        throw new Error(`Unknown action ${action.slice(0, 100)}`);
    }
  };

  const handler = async (
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ): Promise<Response> => {
    const key = `${info.remoteAddr.hostname}:${info.remoteAddr.port}`;
    const conn = connections.get(key) ?? {};
    connections.set(key, conn);
    const body = new Uint8Array(await request.arrayBuffer());
    const authorization = request.headers.get("authorization") ?? "";
    // Not request.signal: Deno.serve aborts it after every response.
    const signal = stop.signal;

    if (options.auth === "basic") {
      const expected = `Basic ${
        btoa(`${options.username}:${options.password}`)
      }`;
      if (authorization !== expected) {
        if (authorization !== "") state.failedLogons++;
        return unauthorized();
      }
      const xml = new TextDecoder().decode(body);
      state.requests.push({
        connection: key,
        action: actionOf(xml),
        xml,
        sealed: false,
      });
      const [status, reply] = await answer(xml, signal);
      return new Response(reply, {
        status,
        headers: { "Content-Type": SOAP_TYPE },
      });
    }

    const token = /^(?:Negotiate|NTLM) ([A-Za-z0-9+/=]+)$/.exec(authorization);
    if (token !== null) {
      const bytes = Uint8Array.from(atob(token[1]!), (c) => c.charCodeAt(0));
      const type = bytes[8];
      if (type === 1) {
        conn.negotiate = bytes;
        conn.challenge = respondToNegotiate(bytes);
        delete conn.session;
        return new Response(null, {
          status: 401,
          headers: {
            "WWW-Authenticate": `Negotiate ${b64(conn.challenge)}`,
          },
        });
      }
      if (
        type === 3 && conn.negotiate !== undefined &&
        conn.challenge !== undefined
      ) {
        try {
          const verified = verifyAuthenticate({
            negotiate: conn.negotiate,
            challenge: conn.challenge,
            authenticate: bytes,
            password: options.password,
          });
          if (
            verified.user.toLowerCase() !== options.username.toLowerCase() ||
            (options.domain !== undefined &&
              verified.domain.toLowerCase() !== options.domain.toLowerCase())
          ) {
            throw new Error("unknown account");
          }
          conn.session = new NtlmSession({
            exportedSessionKey: verified.exportedSessionKey,
            flags: verified.flags,
            role: "server",
          });
          state.logons.push({
            user: verified.user,
            domain: verified.domain,
            micVerified: verified.micVerified,
            connection: key,
          });
        } catch {
          state.failedLogons++;
          delete conn.negotiate;
          delete conn.challenge;
          return unauthorized();
        }
        if (body.length === 0) return new Response(null, { status: 200 });
      }
    }
    const session = conn.session;
    if (session === undefined) return unauthorized();
    if (!isEncryptedContentType(request.headers.get("content-type"))) {
      // Windows refuses unencrypted traffic when AllowUnencrypted=false.
      return new Response(null, { status: 400 });
    }
    const xml = new TextDecoder().decode(unsealBody(session, body));
    state.requests.push({
      connection: key,
      action: actionOf(xml),
      xml,
      sealed: true,
    });
    // Taken when the request arrives, so a Receive still held from an
    // earlier, abandoned run cannot use it up.
    const tamper = state.tamper;
    state.tamper = null;
    const [status, reply] = await answer(xml, signal);
    if (tamper === "unsealed_reply") {
      return new Response(reply, {
        status: 200,
        headers: { "Content-Type": SOAP_TYPE },
      });
    }
    const sealed: Uint8Array<ArrayBuffer> = new Uint8Array(
      sealBody(session, new TextEncoder().encode(reply)),
    );
    // Receive replies go out chunked, the others with Content-Length, so
    // the client reads both framings.
    const streamed = actionOf(xml) === "Receive";
    return new Response(
      streamed ? chunkedBody(sealed) : sealed,
      { status, headers: { "Content-Type": ENCRYPTED_CONTENT_TYPE } },
    );
  };

  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    ...(options.tls === undefined
      ? {}
      : { cert: options.tls.certPem, key: options.tls.keyPem }),
    onListen: ({ port }) => resolve(port),
    onError: (error) => {
      // A broken expectation: answer 500 without a body the client could
      // mistake for a SOAP fault, and keep the reason for the test to check.
      state.errors.push(error instanceof Error ? error.message : String(error));
      return new Response(null, { status: 500 });
    },
  }, handler);
  state.port = await listening;
  state.url = `${
    options.tls === undefined ? "http" : "https"
  }://127.0.0.1:${state.port}/wsman`;
  state.close = async () => {
    stop.abort();
    await server.shutdown();
  };
  return state;
}

function actionOf(xml: string): string {
  const action = /<(?:\w+:)?Action[^>]*>([^<]+)</.exec(xml)?.[1] ?? "";
  return action.slice(action.lastIndexOf("/") + 1);
}

function b64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function chunkedBody(
  bytes: Uint8Array<ArrayBuffer>,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  const half = Math.floor(bytes.length / 2);
  return new ReadableStream({
    start(controller): void {
      controller.enqueue(bytes.slice(0, half));
      controller.enqueue(bytes.slice(half));
      controller.close();
    },
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
