/**
 * CyberArk CCP failures and what to do about each: the real CCP codes (see
 * docs/reference/cyberark-ccp.md) plus the codes the operations manual used,
 * kept as aliases.
 *
 * @module
 */

/** What the caller was trying to retrieve, for the error message. */
export interface CcpErrorContext {
  appId: string;
  safe: string;
  object: string;
  folder: string;
  /** The CCP endpoint's `host[:port]`, never the full URL with a query. */
  endpoint: string;
}

/** A failed CyberArk retrieval; `code` is the CCP code or a transport class. */
export class CyberArkError extends Error {
  /** CCP error code (`APPAP004E`) or a transport class (`CONNECTION_REFUSED`, `TLS_ERROR`, ...). */
  readonly code: string;
  /** HTTP status, when the CCP answered. */
  readonly httpStatus: number | undefined;

  /** Creates the error; `message` must already name the fix. */
  constructor(
    code: string,
    message: string,
    options: { httpStatus?: number; cause?: unknown } = {},
  ) {
    super(
      message,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "CyberArkError";
    this.code = code;
    this.httpStatus = options.httpStatus;
  }
}

type Explain = (c: CcpErrorContext) => string;

const NOT_FOUND: Explain = (c) =>
  `the password object was not found, or AppID "${c.appId}" or the Credential Provider lacks Retrieve permission on the safe; check the spelling and case of the safe and of the object name (the account's Name, not its address or user name), the folder ("${c.folder}"), and that the AppID is a member of the safe with Retrieve accounts (the operations manual lists this case as APPAP007E)`;

const APP_AUTH: Explain = (c) =>
  `the CCP refused AppID "${c.appId}" for this caller (Allowed Machines, OS user or client certificate check failed); add this service host's address to the application's Allowed Machines in PVWA, or register its client certificate (the operations manual lists this case as APPAP006E)`;

const CODES: Record<string, { meaning: string; fix: Explain }> = {
  APPAP004E: { meaning: "object not found", fix: NOT_FOUND },
  APPAP306E: { meaning: "application authentication failed", fix: APP_AUTH },
  // The manual's name for an allowlist failure; real CCPs answer APPAP306E.
  APPAP006E: { meaning: "application authentication failed", fix: APP_AUTH },
  APPAP008E: {
    meaning: "unknown AppID",
    fix: (c) =>
      `the Vault has no application "${c.appId}"; set CYBERARK_APP_ID to the Application ID exactly as defined in PVWA (it is case-sensitive)`,
  },
  APPAP007E: {
    meaning: "the Credential Provider cannot connect to the Vault",
    fix: () =>
      "the CCP is up but its connection to the Vault failed; retry shortly and ask the CyberArk team to check the Credential Provider's Vault connection (the operations manual misnames this code 'object not found')",
  },
  APPAP227E: { meaning: "several objects match", fix: (c) => manyMatches(c) },
  APPAP228E: { meaning: "several objects match", fix: (c) => manyMatches(c) },
  APPAP229E: { meaning: "several objects match", fix: (c) => manyMatches(c) },
  APPAP282E: {
    meaning: "the password is being changed by the CPM",
    fix: () => "the CPM is changing this password right now; retry in a minute",
  },
  APPAP081E: {
    meaning: "request content is invalid",
    fix: () =>
      "the CCP rejected the request format; check that CYBERARK_CCP_URL is the REST Accounts endpoint (…/AIMWebService/api/Accounts)",
  },
  AIMWS030E: {
    meaning: "invalid query format",
    fix: () =>
      "the CCP rejected the query; avoid the characters + & % ; in safe and object names",
  },
  AIMWS031E: {
    meaning: "the AppID parameter is missing",
    fix: () => "set CYBERARK_APP_ID to the Application ID registered in PVWA",
  },
  CASVL010E: {
    meaning: "invalid characters in the request",
    fix: () =>
      "remove special characters from the safe, folder and object names",
  },
  APPAP330E: {
    meaning: "could not obtain client certificate details",
    fix: () =>
      "the CCP expected a client certificate; set CYBERARK_CERT_PFX_PATH and CYBERARK_CERT_PFX_PASSWORD, and check that IIS accepts client certificates",
  },
};

function manyMatches(c: CcpErrorContext): string {
  return `the query for "${c.object}" in safe "${c.safe}" matches more than one account and the CCP returns one secret per call; use the account's exact Name, or pass the folder`;
}

/** The start of every retrieval error message. */
export function failedAction(c: CcpErrorContext): string {
  return `Cannot retrieve "${c.object}" from safe "${c.safe}"`;
}

/** Builds the error for a CCP JSON error body (`ErrorCode` + `ErrorMsg`). */
export function ccpCodeError(
  context: CcpErrorContext,
  code: string,
  ccpMessage: string,
  httpStatus: number,
): CyberArkError {
  const known = CODES[code];
  const detail = oneLine(ccpMessage, 300);
  const message = known === undefined
    ? `${
      failedAction(context)
    }: CyberArk returned ${code} (HTTP ${httpStatus}: ${detail}); look the code up in the CyberArk Credential Provider documentation`
    : `${
      failedAction(context)
    }: CyberArk returned ${code} (${known.meaning}); ${
      known.fix(context)
    }. CCP said: ${detail}`;
  return new CyberArkError(code, message, { httpStatus });
}

/** Builds the error for an HTTP answer that is not CCP JSON (IIS pages, proxies). */
export function httpError(
  context: CcpErrorContext,
  httpStatus: number,
  bodyHint: string,
): CyberArkError {
  const fix = httpStatus === 404
    ? `the URL path is not a CCP endpoint; check CYBERARK_CCP_URL (usually https://HOST/AIMWebService/api/Accounts; the web service name is chosen at install)`
    : httpStatus === 401
    ? "IIS asked for Windows authentication (OS User restriction); this service authenticates by address or client certificate, so remove the OS User restriction or use a certificate"
    : httpStatus === 403
    ? "IIS refused the request before the CCP saw it (often a missing or rejected client certificate); set CYBERARK_CERT_PFX_PATH or check the IIS SSL settings"
    : httpStatus >= 500
    ? "the CCP web server failed; retry shortly and ask the CyberArk team to check the AIMWebService application and its logs"
    : "check CYBERARK_CCP_URL and any proxy between this host and the CCP";
  return new CyberArkError(
    `HTTP_${httpStatus}`,
    `${
      failedAction(context)
    }: ${context.endpoint} answered HTTP ${httpStatus} without a CCP error code (${bodyHint}); ${fix}`,
    { httpStatus },
  );
}

/** Builds the error for a failure below HTTP (refused, DNS, TLS, timeout). */
export function transportError(
  context: CcpErrorContext,
  kind:
    | "CONNECTION_REFUSED"
    | "DNS_ERROR"
    | "TLS_ERROR"
    | "TIMEOUT"
    | "NETWORK_ERROR",
  detail: string,
  options: { timeoutSeconds?: number; cause?: unknown } = {},
): CyberArkError {
  const fixes = {
    CONNECTION_REFUSED:
      `${context.endpoint} refused the connection; check CYBERARK_CCP_URL (host and port) and that a firewall allows this host to reach the CCP`,
    DNS_ERROR:
      `the CCP host name in CYBERARK_CCP_URL does not resolve (${detail}); check the name and this host's DNS`,
    TLS_ERROR:
      `TLS with ${context.endpoint} failed (${detail}); if the CCP uses an internal CA set CYBERARK_VERIFY_SSL to the path of that CA bundle, and check that the URL's host name matches the certificate`,
    TIMEOUT: `${context.endpoint} did not answer within ${
      options.timeoutSeconds ?? "the configured"
    } seconds; check the network path to the CCP, or raise CYBERARK_TIMEOUT_SECONDS`,
    NETWORK_ERROR:
      `the request to ${context.endpoint} failed (${detail}); check CYBERARK_CCP_URL and the network path`,
  } as const;
  return new CyberArkError(kind, `${failedAction(context)}: ${fixes[kind]}`, {
    cause: options.cause,
  });
}

/** Collapses whitespace and bounds the length of text quoted from a peer. */
export function oneLine(text: string, max: number): string {
  // deno-lint-ignore no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, " ").replace(/\s+/g, " ")
    .trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
