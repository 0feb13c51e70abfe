/**
 * CyberArk Central Credential Provider (CCP) REST client:
 * `GET {url}?AppID=..&Safe=..&Folder=..&Object=..[&Reason=..]`.
 *
 * @module
 */
import https from "node:https";
import { getLogger } from "@logtape/logtape";
import {
  ccpCodeError,
  type CcpErrorContext,
  CyberArkError,
  failedAction,
  httpError,
  oneLine,
  transportError,
} from "./cyberark_error.ts";
import type { ClientCertificate } from "./pfx.ts";
import { Secret } from "./secret.ts";

const log = getLogger(["vault", "ccp"]);

/** Largest CCP response body read (bytes). */
const MAX_BODY_BYTES = 256 * 1024;

/** How to reach the CCP. */
export interface CcpClientOptions {
  /** The Accounts endpoint, without a query string. */
  url: URL;
  appId: string;
  /** Verify the CCP's certificate (true unless the operator disabled it). */
  verifyTls: boolean;
  /** PEM CA certificates that replace the system roots. */
  caCertsPem?: string[];
  /** Client certificate for mTLS. */
  clientCertificate?: ClientCertificate;
  timeoutMs: number;
}

/** What to retrieve. */
export interface CcpQuery {
  safe: string;
  object: string;
  /** Defaults to `Root`, as the CCP does. */
  folder?: string;
  /** Written to the CyberArk audit log. */
  reason?: string;
}

/** A retrieved account: the secret stays wrapped. */
export interface CcpAccount {
  content: Secret;
  /** Passphrase of a private-key account (a `Passphrase`-like property), kept secret too. */
  passphrase?: Secret;
  userName: string;
  address: string;
  safe: string;
  folder: string;
  name: string;
  passwordChangeInProcess: boolean;
  /** Every other property the CCP returned (all strings), without `Content`. */
  properties: Record<string, string>;
}

interface RawResponse {
  status: number;
  contentType: string;
  body: string;
}

/** Account properties that hold a private key's passphrase: treated as secrets, never as metadata. */
const PASSPHRASE_PROPERTY = /^(ssh)?(key)?passphrase$/i;

/** Safe and folder names: CyberArk's own limits, minus characters the CCP rejects. */
// deno-lint-ignore no-control-regex
const NAME_PATTERN = /^[^\\/:*?"<>|&+%;=\u0000-\u001f\u007f]+$/;

/**
 * A query the CCP cannot be asked: a field that breaks CyberArk's naming
 * rules or cannot be written into a URL (a lone UTF-16 surrogate). Bad
 * input, never a bug: the message names the caller's argument
 * ({@linkcode CcpQueryError.argument}) and the fix.
 */
export class CcpQueryError extends TypeError {
  /** The argument at fault, as a caller names it: `safe`, `object_name`, `folder`, `reason`. */
  readonly argument: string;

  /** Creates the error for `argument`. */
  constructor(argument: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CcpQueryError";
    this.argument = argument;
  }
}

/** The caller's name of each query parameter of the CCP request. */
const ARGUMENT_OF: Readonly<Record<string, string>> = {
  AppID: "CYBERARK_APP_ID",
  Safe: "safe",
  Folder: "folder",
  Object: "object_name",
  Reason: "reason",
};

/**
 * Validates the caller-supplied parts of a CCP query.
 *
 * @throws {CcpQueryError} naming the field and the fix
 */
export function validateCcpQuery(query: CcpQuery): void {
  const wellFormed = (field: string, value: string | undefined): void => {
    // Checked first: a lone surrogate cannot be percent-encoded into the
    // request URL (encodeURIComponent throws), nor logged faithfully.
    if (value !== undefined && !value.isWellFormed()) {
      throw new CcpQueryError(field, loneSurrogateMessage(field));
    }
  };
  const check = (
    field: string,
    value: string | undefined,
    max: number,
  ): void => {
    if (value === undefined) return;
    wellFormed(field, value);
    if (value.trim() === "" || value !== value.trim()) {
      throw new CcpQueryError(
        field,
        `Invalid ${field}: it is empty or has leading or trailing spaces; pass the exact name as shown in PVWA`,
      );
    }
    if (value.length > max) {
      throw new CcpQueryError(
        field,
        `Invalid ${field}: longer than ${max} characters`,
      );
    }
    if (!NAME_PATTERN.test(value)) {
      throw new CcpQueryError(
        field,
        `Invalid ${field}: it contains a character CyberArk does not allow in names (\\ / : * ? " < > | & + % ; = or a control character)`,
      );
    }
  };
  check("safe", query.safe, 28);
  check("object_name", query.object, 256);
  check("folder", query.folder, 256);
  if (query.reason !== undefined) {
    wellFormed("reason", query.reason);
    if (
      // deno-lint-ignore no-control-regex
      query.reason.length > 512 || /[\u0000-\u001f\u007f]/.test(query.reason)
    ) {
      throw new CcpQueryError(
        "reason",
        "Invalid reason: use at most 512 characters of plain text without control characters",
      );
    }
  }
}

function loneSurrogateMessage(argument: string): string {
  return `Invalid ${argument}: it contains a lone UTF-16 surrogate (not valid Unicode); send it as well-formed Unicode text`;
}

/**
 * `value` percent-encoded for the query string. `encodeURIComponent`, not
 * URLSearchParams: IIS reads '+' as a space.
 *
 * @throws {CcpQueryError} when `value` is not well-formed Unicode (its
 * `URIError` never escapes as one)
 */
function encodeParameter(name: string, value: string): string {
  try {
    return encodeURIComponent(value);
  } catch (error) {
    if (!(error instanceof URIError)) throw error;
    const argument = ARGUMENT_OF[name] ?? name;
    throw new CcpQueryError(argument, loneSurrogateMessage(argument), {
      cause: error,
    });
  }
}

/**
 * One CCP request as an observer sees it: how long it took and, when it
 * failed, the class of the failure. Never the query, the AppID or a secret.
 */
export interface CcpRequestReport {
  /** From the request's start to its parsed answer or failure (ms). */
  readonly durationMs: number;
  /**
   * Undefined when an account came back; otherwise the CyberArk code the
   * CCP answered with (`APPAP004E`), `network` when no answer came (refused,
   * DNS, TLS, timeout) or `http` for an answer without a CyberArk code.
   */
  readonly errorCode: string | undefined;
}

/** Told of every CCP request (the gateway's metrics). */
export type CcpRequestObserver = (report: CcpRequestReport) => void;

/** The form of a CyberArk error code (`APPAP004E`, `AIMWS030E`). */
const CYBERARK_CODE = /^[A-Z]{2,8}\d{3}[A-Z]$/;

const TRANSPORT_CODES: ReadonlySet<string> = new Set([
  "CONNECTION_REFUSED",
  "DNS_ERROR",
  "TLS_ERROR",
  "TIMEOUT",
  "NETWORK_ERROR",
]);

/**
 * The failure class of a CCP error code: a CyberArk code as it is,
 * `network` for a transport failure, `http` for anything else (an HTTP
 * status without a code, a body that is not an account).
 */
export function ccpFailureClass(code: string): string {
  if (CYBERARK_CODE.test(code)) return code;
  return TRANSPORT_CODES.has(code) ? "network" : "http";
}

/** Retrieves accounts from the CCP. */
export class CcpClient {
  readonly #options: CcpClientOptions;
  readonly #httpClient: Deno.HttpClient | undefined;
  readonly #observers = new Set<CcpRequestObserver>();

  /** Prepares a client; TLS material is loaded once. */
  constructor(options: CcpClientOptions) {
    this.#options = options;
    const cert = options.clientCertificate;
    if (
      options.verifyTls &&
      (options.caCertsPem !== undefined || cert !== undefined)
    ) {
      this.#httpClient = Deno.createHttpClient({
        ...(options.caCertsPem === undefined
          ? {}
          : { caCerts: options.caCertsPem }),
        ...(cert === undefined
          ? {}
          : { cert: cert.certChainPem, key: cert.keyPem.reveal() }),
      });
    }
  }

  /** The AppID sent with every request. */
  get appId(): string {
    return this.#options.appId;
  }

  /**
   * Tells `observer` the duration and failure class of every request from
   * now on; returns the function that stops it. An observer that throws is
   * ignored.
   */
  observe(observer: CcpRequestObserver): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  /**
   * Retrieves one account.
   *
   * @throws {CcpQueryError} for an invalid safe, object, folder or reason
   * @throws {CyberArkError} for every CCP or transport failure, with the fix in its message
   */
  async retrieve(query: CcpQuery): Promise<CcpAccount> {
    validateCcpQuery(query);
    const folder = query.folder ?? "Root";
    const context: CcpErrorContext = {
      appId: this.#options.appId,
      safe: query.safe,
      object: query.object,
      folder,
      endpoint: this.#options.url.host,
    };
    const url = this.requestUrl(query);
    if (!this.#options.verifyTls) {
      log.warn(
        "CYBERARK_VERIFY_SSL=false: the CCP certificate is not verified for this request to {endpoint}",
        { endpoint: context.endpoint },
      );
    }
    const started = performance.now();
    let errorCode: string | undefined;
    try {
      const raw = this.#options.verifyTls
        ? await this.#fetchVerified(url, context)
        : await this.#fetchUnverified(url, context);
      return parseResponse(raw, context);
    } catch (error) {
      errorCode = error instanceof CyberArkError
        ? ccpFailureClass(error.code)
        : "network";
      throw error;
    } finally {
      this.#report({ durationMs: performance.now() - started, errorCode });
    }
  }

  #report(report: CcpRequestReport): void {
    for (const observer of this.#observers) {
      try {
        observer(report);
      } catch {
        // Watching never fails a retrieval.
      }
    }
  }

  /**
   * The request URL for a query (exposed for tests and diagnostics; holds no secret).
   *
   * @throws {CcpQueryError} for a value that cannot be written into a URL
   */
  requestUrl(query: CcpQuery): URL {
    const params: [string, string][] = [
      ["AppID", this.#options.appId],
      ["Safe", query.safe],
      ["Folder", query.folder ?? "Root"],
      ["Object", query.object],
    ];
    if (query.reason !== undefined && query.reason !== "") {
      params.push(["Reason", query.reason]);
    }
    const url = new URL(this.#options.url);
    url.search = params.map(([k, v]) => `${k}=${encodeParameter(k, v)}`).join(
      "&",
    );
    return url;
  }

  /** Releases pooled connections. */
  close(): void {
    this.#httpClient?.close();
  }

  async #fetchVerified(
    url: URL,
    context: CcpErrorContext,
  ): Promise<RawResponse> {
    try {
      const response = await fetch(url, {
        headers: { Accept: "application/json" },
        signal: AbortSignal.timeout(this.#options.timeoutMs),
        redirect: "manual",
        ...(this.#httpClient === undefined ? {} : { client: this.#httpClient }),
      });
      return {
        status: response.status,
        contentType: response.headers.get("content-type") ?? "",
        body: await readBounded(response),
      };
    } catch (error) {
      throw this.#classify(error, context);
    }
  }

  #fetchUnverified(url: URL, context: CcpErrorContext): Promise<RawResponse> {
    const cert = this.#options.clientCertificate;
    return new Promise((resolve, reject) => {
      const request = https.get(url, {
        rejectUnauthorized: false,
        headers: { Accept: "application/json" },
        ...(cert === undefined
          ? {}
          : { cert: cert.certChainPem, key: cert.keyPem.reveal() }),
      }, (response) => {
        const chunks: Uint8Array[] = [];
        let size = 0;
        response.on("data", (chunk: Uint8Array) => {
          size += chunk.length;
          if (size <= MAX_BODY_BYTES) chunks.push(chunk);
        });
        response.on("end", () => {
          clearTimeout(timer);
          resolve({
            status: response.statusCode ?? 0,
            contentType: String(response.headers["content-type"] ?? ""),
            body: new TextDecoder().decode(concat(chunks)),
          });
        });
        response.on("error", (error) => {
          clearTimeout(timer);
          reject(this.#classify(error, context));
        });
      });
      const timer = setTimeout(() => {
        request.destroy(new DOMException("timed out", "TimeoutError"));
      }, this.#options.timeoutMs);
      request.on("error", (error) => {
        clearTimeout(timer);
        reject(this.#classify(error, context));
      });
    });
  }

  #classify(error: unknown, context: CcpErrorContext): CyberArkError {
    if (error instanceof CyberArkError) return error;
    const text = describe(error);
    const timeoutSeconds = Math.round(this.#options.timeoutMs / 1000);
    if (
      (error instanceof DOMException && error.name === "TimeoutError") ||
      /timed out|TimeoutError/i.test(text)
    ) {
      return transportError(context, "TIMEOUT", text, {
        timeoutSeconds,
        cause: error,
      });
    }
    if (/refused|ECONNREFUSED/i.test(text)) {
      return transportError(context, "CONNECTION_REFUSED", text, {
        cause: error,
      });
    }
    if (
      /dns error|ENOTFOUND|EAI_AGAIN|failed to lookup|Name or service not known/i
        .test(text)
    ) {
      return transportError(context, "DNS_ERROR", oneLine(text, 200), {
        cause: error,
      });
    }
    if (
      /certificate|tls|ssl|handshake|UnknownIssuer|NotValidForName/i.test(text)
    ) {
      return transportError(context, "TLS_ERROR", oneLine(text, 200), {
        cause: error,
      });
    }
    return transportError(context, "NETWORK_ERROR", oneLine(text, 200), {
      cause: error,
    });
  }
}

function describe(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    if (current instanceof Error) {
      parts.push(`${current.name}: ${current.message}`);
      const code = (current as { code?: unknown }).code;
      if (typeof code === "string") parts.push(code);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(" / ");
}

async function readBounded(response: Response): Promise<string> {
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      break;
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(concat(chunks));
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

function parseJsonObject(body: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? value as Record<string, unknown>
      : undefined;
  } catch {
    return undefined;
  }
}

function parseResponse(raw: RawResponse, context: CcpErrorContext): CcpAccount {
  const json = parseJsonObject(raw.body);
  if (raw.status !== 200) {
    const code = json?.ErrorCode;
    if (typeof code === "string" && CYBERARK_CODE.test(code)) {
      const message = typeof json?.ErrorMsg === "string" ? json.ErrorMsg : "";
      return throwing(ccpCodeError(context, code, message, raw.status));
    }
    const hint = typeof json?.Message === "string"
      ? `ASP.NET said: ${oneLine(json.Message, 200)}`
      : /html/i.test(raw.contentType) || /^\s*</.test(raw.body)
      ? `an HTML page${htmlTitle(raw.body)}`
      : raw.body.trim() === ""
      ? "an empty body"
      : `a ${raw.contentType || "non-JSON"} body`;
    return throwing(httpError(context, raw.status, hint));
  }
  if (json === undefined) {
    return throwing(
      new CyberArkError(
        "INVALID_RESPONSE",
        `${
          failedAction(context)
        }: ${context.endpoint} answered HTTP 200 with a body that is not a JSON object; check that CYBERARK_CCP_URL is the REST endpoint (…/api/Accounts), not the SOAP one or a portal page`,
        { httpStatus: 200 },
      ),
    );
  }
  const strings: Record<string, string> = {};
  for (const [key, value] of Object.entries(json)) {
    // Every CCP value is a string; tolerate booleans and numbers from proxies.
    if (typeof value === "string") strings[key] = value;
    else if (typeof value === "number" || typeof value === "boolean") {
      strings[key] = String(value);
    }
  }
  const content = strings.Content;
  if (content === undefined || content === "") {
    return throwing(
      new CyberArkError(
        "NO_CONTENT",
        `${
          failedAction(context)
        }: the CCP answered without a Content value; check in PVWA that the account has a password or key set`,
        { httpStatus: 200 },
      ),
    );
  }
  delete strings.Content;
  let passphrase: Secret | undefined;
  for (const key of Object.keys(strings)) {
    if (PASSPHRASE_PROPERTY.test(key)) {
      if (strings[key] !== "") passphrase = new Secret(strings[key]!);
      delete strings[key];
    }
  }
  return {
    content: new Secret(content),
    ...(passphrase === undefined ? {} : { passphrase }),
    userName: strings.UserName ?? "",
    address: strings.Address ?? "",
    safe: strings.Safe ?? context.safe,
    folder: strings.Folder ?? context.folder,
    name: strings.Name ?? context.object,
    passwordChangeInProcess: /^true$/i.test(
      strings.PasswordChangeInProcess ?? "",
    ),
    properties: strings,
  };
}

function htmlTitle(body: string): string {
  const match = /<title>([^<]{1,120})<\/title>/i.exec(body);
  return match?.[1] === undefined ? "" : ` titled "${oneLine(match[1], 100)}"`;
}

function throwing(error: Error): never {
  throw error;
}
