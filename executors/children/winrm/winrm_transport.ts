/**
 * Authenticated WinRM message exchange on one kept-alive connection.
 *
 * - `ntlm` over HTTP: an NTLMv2 handshake (raw NTLMSSP in `Authorization:
 *   Negotiate`, as pywinrm and Windows do) on an empty POST, then every SOAP
 *   message sealed and signed as `multipart/encrypted`. A reply that is not
 *   sealed is refused: after authentication only the server holding the
 *   session key can produce one, anything else may be injected.
 * - `ntlm` over HTTPS: the same handshake; TLS protects the messages.
 * - `basic` over HTTPS only: `Authorization: Basic` on every request.
 *
 * The password is used once for the NTLM response (or the Basic header) and
 * never appears in an error message.
 *
 * @module
 */
import {
  ENCRYPTED_CONTENT_TYPE,
  isEncryptedContentType,
  sealBody,
  unsealBody,
} from "./encrypted_body.ts";
import {
  type ByteStream,
  headerValue,
  headerValues,
  HttpConnection,
  HttpError,
  type HttpHeader,
  type HttpResponse,
  openByteStream,
} from "./http_connection.ts";
import { buildAuthenticate, buildNegotiate } from "./ntlm.ts";
import { NtlmError } from "./ntlm_crypto.ts";
import { NtlmSession } from "./ntlm_session.ts";
import { fromBase64, toBase64 } from "./wsman.ts";

/** The failure classes a caller maps to its own error codes. */
export type WinrmErrorKind =
  | "connection_failed"
  | "tls_failed"
  | "auth_failed"
  | "protocol";

/** A transport failure; the message names the host and the fix, never a secret. */
export class WinrmTransportError extends Error {
  /** What failed. */
  readonly kind: WinrmErrorKind;

  /** Creates the error. */
  constructor(kind: WinrmErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WinrmTransportError";
    this.kind = kind;
  }
}

/** How to reach and authenticate to one WinRM listener. */
export interface WinrmTransportOptions {
  host: string;
  port: number;
  useSsl: boolean;
  auth: "ntlm" | "basic";
  /** For HTTPS: verify the certificate, trusting `caPem` in addition to the default roots. */
  tls: { verify: boolean; caPem?: string | undefined };
  /** User name without domain for NTLM; as stored for Basic. */
  username: string;
  /** NTLM logon domain ("" for a local account). */
  domain: string;
  /** Never logged, never put in an error. */
  password: string;
  /** Aborts connecting and authenticating. */
  signal?: AbortSignal;
  /** Replaces {@linkcode openByteStream} (tests). */
  openStream?: (
    options: Parameters<typeof openByteStream>[0],
  ) => Promise<ByteStream>;
}

/** A SOAP reply: HTTP 200 or 500 (fault) with its plaintext XML. */
export interface WinrmReply {
  status: number;
  xml: string;
}

/** WinRM's path. */
export const WSMAN_PATH = "/wsman";
const SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8";
const USER_AGENT = "mcp-privileged WinRM client";

/** The endpoint URL for the `a:To` header, e.g. `http://host:5985/wsman`. */
export function endpointUrl(
  target: { host: string; port: number; useSsl: boolean },
): string {
  const { host, port, useSsl } = target;
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return `${useSsl ? "https" : "http"}://${hostPart}:${port}${WSMAN_PATH}`;
}

/** The parts of a {@linkcode WinrmTransport}. */
export interface AuthenticatedConnection {
  host: string;
  port: number;
  useSsl: boolean;
  connection: HttpConnection;
  /** The NTLM session that seals messages; null when TLS protects them. */
  session: NtlmSession | null;
  /** The `Authorization: Basic` value sent with every request, or null. */
  basicHeader: string | null;
}

/** One authenticated connection to a WinRM listener. */
export class WinrmTransport {
  readonly #connection: HttpConnection;
  readonly #session: NtlmSession | null;
  readonly #basicHeader: string | null;
  readonly #where: string;
  /** The endpoint URL for `a:To`. */
  readonly endpoint: string;

  /** Wraps an authenticated connection; use {@linkcode WinrmTransport.connect}. */
  constructor(parts: AuthenticatedConnection) {
    this.#connection = parts.connection;
    this.#session = parts.session;
    this.#basicHeader = parts.basicHeader;
    this.#where = `${parts.host}:${parts.port}`;
    this.endpoint = endpointUrl(parts);
  }

  /** Whether messages are sealed with NTLM session security. */
  get sealed(): boolean {
    return this.#session !== null;
  }

  /** Whether another message can be sent on this connection. */
  get isOpen(): boolean {
    return this.#connection.isOpen;
  }

  /**
   * Connects and authenticates.
   *
   * @throws {WinrmTransportError} for connection, TLS, authentication or protocol failures
   * @throws {TypeError} for Basic over HTTP, which is never sent
   * @throws {Deno.errors.NotCapable} when the sandbox refuses the connection
   * @throws the signal's reason when it aborts
   */
  static async connect(
    options: WinrmTransportOptions,
  ): Promise<WinrmTransport> {
    if (options.auth === "basic" && !options.useSsl) {
      throw new TypeError(
        "Refusing Basic authentication over HTTP: the password would cross the network in clear text; use HTTPS",
      );
    }
    const where = `${options.host}:${options.port}`;
    const open = options.openStream ?? openByteStream;
    let stream: ByteStream;
    try {
      stream = await open({
        host: options.host,
        port: options.port,
        ...(options.useSsl
          ? {
            tls: {
              verify: options.tls.verify,
              ...(options.tls.caPem === undefined
                ? {}
                : { caCerts: [options.tls.caPem] }),
            },
          }
          : {}),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } catch (error) {
      if (error instanceof HttpError) {
        throw error.kind === "tls"
          ? new WinrmTransportError(
            "tls_failed",
            `TLS handshake with ${where} failed: ${error.message}`,
            { cause: error },
          )
          : new WinrmTransportError(
            "connection_failed",
            `Cannot connect to ${where}: ${error.message}`,
            { cause: error },
          );
      }
      throw error;
    }
    const hostPart = options.host.includes(":")
      ? `[${options.host}]`
      : options.host;
    const target = {
      host: options.host,
      port: options.port,
      useSsl: options.useSsl,
    };
    const connection = new HttpConnection(stream, {
      hostHeader: `${hostPart}:${options.port}`,
    });
    try {
      if (options.auth === "basic") {
        const basic = `Basic ${
          toBase64(
            new TextEncoder().encode(`${options.username}:${options.password}`),
          )
        }`;
        return new WinrmTransport({
          ...target,
          connection,
          session: null,
          basicHeader: basic,
        });
      }
      const session = await ntlmHandshake(connection, options, where);
      return new WinrmTransport({
        ...target,
        connection,
        session: options.useSsl ? null : session,
        basicHeader: null,
      });
    } catch (error) {
      connection.close();
      throw error;
    }
  }

  /**
   * Sends one SOAP message and returns the reply's XML (status 200, or 500
   * with a SOAP fault).
   *
   * @throws {WinrmTransportError} for authentication, transport or sealing failures
   * @throws the signal's reason when it aborts (the connection is then closed)
   */
  async send(xml: string, signal?: AbortSignal): Promise<WinrmReply> {
    const plaintext = new TextEncoder().encode(xml);
    const headers: HttpHeader[] = [["User-Agent", USER_AGENT]];
    let body: Uint8Array;
    if (this.#session !== null) {
      body = sealBody(this.#session, plaintext);
      headers.push(["Content-Type", ENCRYPTED_CONTENT_TYPE]);
    } else {
      body = plaintext;
      headers.push(["Content-Type", SOAP_CONTENT_TYPE]);
    }
    if (this.#basicHeader !== null) {
      headers.push(["Authorization", this.#basicHeader]);
    }
    const response = await this.#exchange({
      method: "POST",
      path: WSMAN_PATH,
      headers,
      body,
    }, signal);
    if (response.status === 401) {
      this.close();
      throw new WinrmTransportError(
        "auth_failed",
        `WinRM on ${this.#where} answered HTTP 401 Unauthorized`,
      );
    }
    const contentType = headerValue(response.headers, "content-type");
    if (this.#session !== null) {
      if (!isEncryptedContentType(contentType)) {
        this.close();
        throw new WinrmTransportError(
          "protocol",
          response.status === 200
            ? `WinRM on ${this.#where} answered HTTP 200 without NTLM message encryption after authentication; refusing the unsealed reply (it may have been injected on the network)`
            : `WinRM on ${this.#where} answered HTTP ${response.status} ${response.reason} without message encryption`,
        );
      }
      let unsealed: Uint8Array;
      try {
        unsealed = unsealBody(this.#session, response.body);
      } catch (error) {
        this.close();
        throw new WinrmTransportError(
          "protocol",
          `The sealed reply from ${this.#where} did not verify (${
            error instanceof NtlmError ? error.message : "unreadable"
          }); refusing it`,
          { cause: error },
        );
      }
      return this.#reply(response.status, unsealed);
    }
    if (!/^application\/soap\+xml/i.test(contentType ?? "")) {
      throw new WinrmTransportError(
        "protocol",
        `WinRM on ${this.#where} answered HTTP ${response.status} ${response.reason} with ${
          contentType === null
            ? "no content type"
            : `"${contentType.slice(0, 60)}"`
        } instead of SOAP`,
      );
    }
    return this.#reply(response.status, response.body);
  }

  #reply(status: number, body: Uint8Array): WinrmReply {
    if (status !== 200 && status !== 500) {
      throw new WinrmTransportError(
        "protocol",
        `WinRM on ${this.#where} answered HTTP ${status}; expected 200 or a SOAP fault`,
      );
    }
    return {
      status,
      xml: new TextDecoder().decode(body).replace(/^\uFEFF/, ""),
    };
  }

  async #exchange(
    request: Parameters<HttpConnection["request"]>[0],
    signal: AbortSignal | undefined,
  ): Promise<HttpResponse> {
    try {
      return await this.#connection.request(request, signal);
    } catch (error) {
      if (error instanceof HttpError) {
        throw new WinrmTransportError(
          "connection_failed",
          `The connection to ${this.#where} failed: ${error.message}`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /** Closes the connection. */
  close(): void {
    this.#connection.close();
  }
}

/** The NTLM token of a `WWW-Authenticate` header, and its scheme. */
function challengeToken(
  response: HttpResponse,
): { scheme: string; token: Uint8Array } | null {
  for (const value of headerValues(response.headers, "www-authenticate")) {
    for (const part of value.split(",")) {
      const match = /^\s*(Negotiate|NTLM)\s+([A-Za-z0-9+/]+={0,2})\s*$/i
        .exec(part);
      if (match !== null) {
        return { scheme: match[1]!, token: fromBase64(match[2]!) };
      }
    }
  }
  return null;
}

function offeredSchemes(response: HttpResponse): string {
  const schemes = headerValues(response.headers, "www-authenticate")
    .flatMap((v) => v.split(","))
    .map((v) => v.trim().split(/\s+/)[0] ?? "")
    .filter((v) => /^[A-Za-z-]+$/.test(v));
  return schemes.length === 0 ? "none" : [...new Set(schemes)].join(", ");
}

async function ntlmHandshake(
  connection: HttpConnection,
  options: WinrmTransportOptions,
  where: string,
): Promise<NtlmSession> {
  const exchange = async (authorization: string): Promise<HttpResponse> => {
    try {
      return await connection.request({
        method: "POST",
        path: WSMAN_PATH,
        headers: [
          ["User-Agent", USER_AGENT],
          ["Content-Type", SOAP_CONTENT_TYPE],
          ["Connection", "Keep-Alive"],
          ["Authorization", authorization],
        ],
        body: new Uint8Array(0),
      }, options.signal);
    } catch (error) {
      if (error instanceof HttpError) {
        throw new WinrmTransportError(
          "connection_failed",
          `The connection to ${where} failed during NTLM authentication: ${error.message}`,
          { cause: error },
        );
      }
      throw error;
    }
  };

  const negotiate = buildNegotiate();
  const first = await exchange(`Negotiate ${toBase64(negotiate)}`);
  const challenge = first.status === 401 ? challengeToken(first) : null;
  if (challenge === null) {
    throw new WinrmTransportError(
      first.status === 401 ? "auth_failed" : "protocol",
      first.status === 401
        ? `WinRM on ${where} does not offer NTLM (it offers: ${
          offeredSchemes(first)
        }); enable Negotiate authentication on the listener or set WINRM_AUTH=basic with HTTPS`
        : `WinRM on ${where} answered the NTLM negotiation with HTTP ${first.status} instead of a challenge; check that the port serves WinRM`,
    );
  }
  if (!connection.isOpen) {
    throw new WinrmTransportError(
      "protocol",
      `WinRM on ${where} closed the connection after its NTLM challenge; NTLM needs a kept-alive connection (check proxies between the gateway and the host)`,
    );
  }
  let authenticate: ReturnType<typeof buildAuthenticate>;
  try {
    authenticate = buildAuthenticate({
      negotiate,
      challenge: challenge.token,
      user: options.username,
      domain: options.domain,
      password: options.password,
      targetName: `HTTP/${options.host}`,
    });
  } catch (error) {
    throw new WinrmTransportError(
      "protocol",
      `NTLM negotiation with ${where} failed: ${
        error instanceof NtlmError ? error.message : "unreadable challenge"
      }`,
      { cause: error },
    );
  }
  const second = await exchange(
    `${challenge.scheme} ${toBase64(authenticate.message)}`,
  );
  try {
    if (second.status === 401) {
      throw new WinrmTransportError(
        "auth_failed",
        `WinRM on ${where} rejected the NTLM credentials (HTTP 401)`,
      );
    }
    if (second.status !== 200) {
      throw new WinrmTransportError(
        "protocol",
        `WinRM on ${where} answered the NTLM authentication with HTTP ${second.status} ${second.reason}`,
      );
    }
    if (!connection.isOpen) {
      throw new WinrmTransportError(
        "protocol",
        `WinRM on ${where} closed the connection right after NTLM authentication; NTLM needs a kept-alive connection (check proxies between the gateway and the host)`,
      );
    }
    return new NtlmSession({
      exportedSessionKey: authenticate.exportedSessionKey,
      flags: authenticate.flags,
      role: "client",
    });
  } finally {
    authenticate.exportedSessionKey.fill(0);
  }
}
