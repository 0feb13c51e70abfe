/**
 * An emulator of CyberArk's Central Credential Provider (CCP) REST endpoint,
 * `GET /AIMWebService/api/Accounts`, for tests and demos.
 *
 * It follows `docs/reference/cyberark-ccp.md`: case-insensitive parameter
 * names, `Folder` defaulting to `Root`, `Query` overriding the other
 * criteria, every value a string, and CyberArk's real error codes, statuses
 * and message shapes. Wrong paths and methods answer IIS-style HTML, as a
 * real IIS does, so clients learn to tell the two apart.
 *
 * Value matching is exact and case-sensitive (Safe, Folder, Object and the
 * other filters), the strict reading of the operations manual's "CyberArk is
 * case-sensitive"; the reference marks value case as uncertain.
 * `QueryFormat=Regexp` applies to `Query` values only, each anchored as
 * `^(?:value)$`; a Query key other than the seven criteria filters on the
 * account property of that name.
 *
 * It runs on `node:http`/`node:https` rather than `Deno.serve` because only
 * the Node server can ask for a client certificate without requiring one at
 * the TLS layer and then report its serial number.
 *
 * @module
 */

import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { TLSSocket } from "node:tls";
import { z } from "zod";

/** One Application (AppID) as defined in PVWA, with its authentication rules. */
export interface EmulatorApplication {
  /** The Application ID callers pass as `AppID`. */
  appId: string;
  /** Allowed Machines: IPv4/IPv6 addresses or CIDRs; absent means any source. */
  allowedMachines?: string[];
  /** Client certificate serial numbers (hex); absent means no certificate is required. */
  certificateSerials?: string[];
  /** Safes this AppID may retrieve from; other safes look empty to it. */
  safes: string[];
}

/** Everything the emulated Vault knows: applications and accounts. */
export interface EmulatorData {
  /** The AppIDs the Vault knows. */
  applications: EmulatorApplication[];
  /**
   * CyberArk account properties, every value a string: `Safe`, `Name` and
   * `Content` are required, `Folder` defaults to `Root`; `UserName`,
   * `Address`, `PasswordChangeInProcess`, `LogonDomain` and any others are
   * returned as given.
   */
  accounts: Record<string, string>[];
}

/** Options for {@linkcode startCcpEmulator}. */
export interface CcpEmulatorOptions {
  /** Applications and accounts to serve. */
  data: EmulatorData;
  /** Interface to listen on; default `127.0.0.1`. */
  hostname?: string;
  /** Port to listen on; default 0 (an ephemeral port). */
  port?: number;
  /**
   * Serve HTTPS with this certificate and key. With `clientCaPem` the server
   * asks for (but does not require) a client certificate and trusts only
   * certificates issued by that CA.
   */
  tls?: { certPem: string; keyPem: string; clientCaPem?: string };
  /** IIS application name in the path; default `AIMWebService`. */
  webServiceName?: string;
  /** `false` makes every retrieval fail with 400 APPAP007E, as when the Vault is down; default `true`. */
  vaultAvailable?: boolean;
}

/** A listening emulator, returned by {@linkcode startCcpEmulator}. */
export interface RunningCcpEmulator {
  /** Full Accounts URL, e.g. `https://127.0.0.1:PORT/AIMWebService/api/Accounts`. */
  readonly url: string;
  /** The port actually bound. */
  readonly port: number;
  /** Number of HTTP requests answered so far, whatever the path or outcome. */
  readonly requests: number;
  /** Whether the emulated Vault answers; set to `false` to simulate an outage mid-test. */
  vaultAvailable: boolean;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** What the server knows of the caller, taken from the connection. */
interface CallerIdentity {
  address: string;
  /** Serial of a client certificate issued by the trusted client CA, if one was presented. */
  certificateSerial: string | undefined;
}

interface CcpAnswer {
  status: number;
  body: Record<string, string>;
}

interface Filter {
  /** Account property compared, e.g. `Name` for the `Object` criterion. */
  property: string;
  /** Key as written in query texts, e.g. `Object`. */
  label: string;
  value: string;
}

const DEFAULT_WEB_SERVICE_NAME = "AIMWebService";
const DEFAULT_FOLDER = "Root";

/** Separate criteria, in the order CyberArk writes them in its messages. */
const CRITERIA: readonly { param: string; property: string }[] = [
  { param: "Safe", property: "Safe" },
  { param: "Folder", property: "Folder" },
  { param: "Object", property: "Name" },
  { param: "UserName", property: "UserName" },
  { param: "Address", property: "Address" },
  { param: "Database", property: "Database" },
  { param: "PolicyID", property: "PolicyID" },
];

// ---------------------------------------------------------------------------
// Data validation

const ipOrCidrSchema = z.string().refine(
  (value) => parseCidr(value) !== undefined,
  {
    message:
      'must be an IPv4 or IPv6 address or CIDR, e.g. "10.0.0.5" or "10.0.0.0/24"',
  },
);

const serialSchema = z.string().refine(
  (value) => /^[0-9A-Fa-f]+$/.test(normalizeSerial(value)),
  {
    message: 'must be a hex certificate serial number, e.g. "5092FC80098A771E"',
  },
);

const applicationSchema = z.strictObject({
  appId: z.string().min(1, "must not be empty"),
  allowedMachines: z.array(ipOrCidrSchema).optional(),
  certificateSerials: z.array(serialSchema).optional(),
  safes: z.array(z.string().min(1, "must not be empty")),
});

const accountSchema = z.record(
  z.string(),
  z.string({
    error: "must be a string (CyberArk returns every property as a string)",
  }),
)
  .superRefine((account, ctx) => {
    for (const key of ["Safe", "Name"]) {
      if (!account[key]) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: "is required and must not be empty",
        });
      }
    }
    if (account["Content"] === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["Content"],
        message: "is required (the password; may be empty)",
      });
    }
  });

const dataSchema = z.strictObject({
  description: z.string().optional(),
  applications: z.array(applicationSchema),
  accounts: z.array(accountSchema),
});

/**
 * Reads and validates an emulator data file (see `emulator/demo_accounts.json`).
 *
 * @throws {Error} when the file cannot be read or is not JSON.
 * @throws {TypeError} when the JSON does not have the expected shape.
 */
export async function loadEmulatorData(path: string): Promise<EmulatorData> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(
      `Cannot read emulator data file "${path}": ${
        errorMessage(error)
      }; check the path and --allow-read`,
      { cause: error },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(
      `Cannot parse emulator data file "${path}": ${
        errorMessage(error)
      }; fix the JSON syntax`,
      {
        cause: error,
      },
    );
  }
  return validateEmulatorData(json, `file "${path}"`);
}

function validateEmulatorData(input: unknown, source: string): EmulatorData {
  const result = dataSchema.safeParse(input);
  if (!result.success) {
    const issues = result.error.issues.map((issue) =>
      `${formatPath(issue.path)} ${issue.message}`
    );
    throw new TypeError(
      `Invalid emulator data in ${source}: ${
        issues.join("; ")
      }; see emulator/demo_accounts.json for the expected shape`,
    );
  }
  const applications: EmulatorApplication[] = result.data.applications.map(
    (app) => {
      const copy: EmulatorApplication = {
        appId: app.appId,
        safes: [...app.safes],
      };
      if (app.allowedMachines !== undefined) {
        copy.allowedMachines = [...app.allowedMachines];
      }
      if (app.certificateSerials !== undefined) {
        copy.certificateSerials = [...app.certificateSerials];
      }
      return copy;
    },
  );
  const accounts = result.data.accounts.map((account) => ({
    ...account,
    Folder: account["Folder"] ?? DEFAULT_FOLDER,
  }));

  const problems: string[] = [];
  const appIds = new Set<string>();
  for (const app of applications) {
    if (appIds.has(app.appId)) {
      problems.push(`appId "${app.appId}" is defined twice`);
    }
    appIds.add(app.appId);
  }
  // The Vault keeps object names unique per safe and folder.
  const objects = new Set<string>();
  for (const account of accounts) {
    const key = objectPath(account);
    if (objects.has(key)) problems.push(`account ${key} is defined twice`);
    objects.add(key);
  }
  if (problems.length > 0) {
    throw new TypeError(
      `Invalid emulator data in ${source}: ${
        problems.join("; ")
      }; make each one unique`,
    );
  }
  return { applications, accounts };
}

function formatPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const part of path) {
    text += typeof part === "number"
      ? `[${part}]`
      : `${text === "" ? "" : "."}${String(part)}`;
  }
  return text === "" ? "(root)" : text;
}

// ---------------------------------------------------------------------------
// Server

/**
 * Starts the emulator and resolves once it listens.
 *
 * @throws {TypeError} when `options.data` is invalid.
 * @throws {RangeError} when the port or web service name is invalid.
 * @throws {Error} when the server cannot listen (e.g. the port is in use).
 */
export async function startCcpEmulator(
  options: CcpEmulatorOptions,
): Promise<RunningCcpEmulator> {
  const data = validateEmulatorData(options.data, "options.data");
  const hostname = options.hostname ?? "127.0.0.1";
  const requestedPort = options.port ?? 0;
  if (
    !Number.isInteger(requestedPort) || requestedPort < 0 ||
    requestedPort > 65535
  ) {
    throw new RangeError(
      `Cannot start the CCP emulator on port ${requestedPort}; use an integer from 0 to 65535`,
    );
  }
  const webServiceName = options.webServiceName ?? DEFAULT_WEB_SERVICE_NAME;
  if (!/^[A-Za-z0-9._-]+$/.test(webServiceName)) {
    throw new RangeError(
      `Cannot use web service name "${webServiceName}"; use letters, digits, ".", "_" or "-" only, e.g. "AIMWebService"`,
    );
  }

  const state = {
    requests: 0,
    vaultAvailable: options.vaultAvailable ?? true,
  };
  const accountsPath = `/${webServiceName}/api/accounts`.toLowerCase();
  const trustsClientCerts = options.tls?.clientCaPem !== undefined;

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    state.requests++;
    req.resume(); // no request body is read; drain it so the socket stays usable
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://emulator.invalid");
    } catch {
      sendHtml(res, 400, BAD_REQUEST_HTML);
      return;
    }
    // IIS paths are case-insensitive, and ASP.NET routing accepts a trailing slash.
    const path = url.pathname.toLowerCase().replace(/\/$/, "");
    if (path !== accountsPath) {
      sendHtml(res, 404, NOT_FOUND_HTML);
      return;
    }
    if (req.method !== "GET") {
      sendHtml(res, 405, METHOD_NOT_ALLOWED_HTML, { Allow: "GET" });
      return;
    }
    const caller: CallerIdentity = {
      address: req.socket.remoteAddress ?? "",
      certificateSerial: trustsClientCerts
        ? trustedPeerSerial(req.socket as TLSSocket)
        : undefined,
    };
    const answer = answerRetrieval(
      url.searchParams,
      caller,
      data,
      state.vaultAvailable,
    );
    sendJson(res, answer.status, answer.body);
  };

  let server: Server;
  if (options.tls === undefined) {
    server = createHttpServer(handler);
  } else {
    const { certPem, keyPem, clientCaPem } = options.tls;
    server = createHttpsServer(
      clientCaPem === undefined
        ? { cert: certPem, key: keyPem }
        // Ask for a certificate but let the TLS handshake succeed without
        // one: the CCP, not TLS, decides per AppID whether one is needed.
        : {
          cert: certPem,
          key: keyPem,
          ca: clientCaPem,
          requestCert: true,
          rejectUnauthorized: false,
        },
      handler,
    );
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      reject(
        new Error(
          `Cannot start the CCP emulator on ${hostname}:${requestedPort}: ${error.message}; pick another port or use 0`,
          { cause: error },
        ),
      );
    };
    server.once("error", onError);
    server.listen(requestedPort, hostname, () => {
      server.off("error", onError);
      resolve();
    });
  });

  const address = server.address();
  const port = typeof address === "object" && address !== null
    ? address.port
    : requestedPort;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const url = `${
    options.tls === undefined ? "http" : "https"
  }://${host}:${port}/${webServiceName}/api/Accounts`;
  let closed: Promise<void> | undefined;

  return {
    url,
    port,
    get requests(): number {
      return state.requests;
    },
    get vaultAvailable(): boolean {
      return state.vaultAvailable;
    },
    set vaultAvailable(value: boolean) {
      state.vaultAvailable = value;
    },
    close(): Promise<void> {
      closed ??= new Promise<void>((resolve, reject) => {
        server.close((
          error,
        ) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

function trustedPeerSerial(socket: TLSSocket): string | undefined {
  if (typeof socket.getPeerCertificate !== "function") return undefined;
  // A certificate from another issuer is ignored: anyone can mint one with
  // a listed serial, so only the configured CA's certificates count.
  if (!socket.authorized) return undefined;
  const serial = socket.getPeerCertificate().serialNumber;
  return typeof serial === "string" && serial !== "" ? serial : undefined;
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: Record<string, string>,
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": String(new TextEncoder().encode(payload).byteLength),
    // What ASP.NET Web API on IIS sends; it also keeps secrets out of caches.
    "Cache-Control": "no-cache",
    "Pragma": "no-cache",
    "Expires": "-1",
    "Server": "Microsoft-IIS/10.0",
    "X-Powered-By": "ASP.NET",
  });
  res.end(payload);
}

function sendHtml(
  res: ServerResponse,
  status: number,
  html: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...headers,
    "Content-Type": "text/html",
    "Content-Length": String(new TextEncoder().encode(html).byteLength),
    "Server": "Microsoft-IIS/10.0",
    "X-Powered-By": "ASP.NET",
  });
  res.end(html);
}

// ---------------------------------------------------------------------------
// The CCP decision, in the order the real service checks

function answerRetrieval(
  searchParams: URLSearchParams,
  caller: CallerIdentity,
  data: EmulatorData,
  vaultAvailable: boolean,
): CcpAnswer {
  // Parameter names are case-insensitive; the first occurrence wins, and an
  // empty value counts as absent.
  const params = new Map<string, string>();
  for (const [name, value] of searchParams) {
    const key = name.toLowerCase();
    if (!params.has(key) && value !== "") params.set(key, value);
  }

  const appId = params.get("appid");
  if (appId === undefined) {
    return ccpError(
      400,
      "AIMWS031E",
      "Invalid request. The AppID parameter is required",
    );
  }

  const queryFormat = params.get("queryformat") ?? "Exact";
  if (!/^(exact|regexp)$/i.test(queryFormat)) return invalidQueryFormat();
  const regexp = queryFormat.toLowerCase() === "regexp";

  let filters: Filter[];
  let queryText: string;
  const query = params.get("query");
  if (query !== undefined) {
    // Query overrides Safe, Folder, Object, UserName, Address, Database, PolicyID.
    const parsed = parseQuery(query);
    if (parsed === undefined) return invalidQueryFormat();
    filters = parsed;
    queryText = query;
  } else {
    filters = [];
    for (const criterion of CRITERIA) {
      const value = params.get(criterion.param.toLowerCase());
      if (value !== undefined) {
        filters.push({
          property: criterion.property,
          label: criterion.param,
          value,
        });
      }
    }
    // "AppID plus one more parameter is required", and an invalid request
    // message is 400 APPAP081E "Request message content is invalid"
    // (docs/reference/cyberark-ccp.md, sections 1.2 and 3.1).
    if (filters.length === 0) {
      return ccpError(400, "APPAP081E", "Request message content is invalid");
    }
    if (!filters.some((filter) => filter.property === "Folder")) {
      filters.splice(filters.findIndex((f) => f.property === "Safe") + 1, 0, {
        property: "Folder",
        label: "Folder",
        value: DEFAULT_FOLDER,
      });
    }
    queryText = filters.map((filter) => `${filter.label}=${filter.value}`).join(
      ";",
    );
  }

  let matchers: { property: string; test: (value: string) => boolean }[];
  try {
    matchers = filters.map((filter) => ({
      property: filter.property,
      test: regexp && query !== undefined
        ? regexpTest(filter.value)
        : (value: string): boolean => value === filter.value,
    }));
  } catch {
    return invalidQueryFormat();
  }
  if (!filters.some((filter) => filter.property === "Folder")) {
    matchers.push({
      property: "Folder",
      test: (value) => value === DEFAULT_FOLDER,
    });
  }

  if (!vaultAvailable) {
    return ccpError(400, "APPAP007E", "Connection to the Vault failed");
  }

  const app = data.applications.find((candidate) => candidate.appId === appId);
  if (app === undefined) {
    return ccpError(
      403,
      "APPAP008E",
      `Problem occurred while trying to use user in the Vault (Error: ITATS982E User ${appId} is not defined.  Diagnostic Info: 6)`,
    );
  }

  const refusal = checkAuthentication(app, caller);
  if (refusal !== undefined) {
    return ccpError(
      403,
      "APPAP306E",
      `Authentication error for App ID [${appId}]. Reason: APPAP133E Failed to verify application authentication data: ${refusal}`,
    );
  }

  // Safes the AppID may not use look empty, which is why APPAP004E's text
  // mentions permissions.
  const matches = data.accounts.filter((account) =>
    app.safes.includes(account["Safe"] ?? "") &&
    matchers.every((matcher) => {
      const value = account[matcher.property];
      return value !== undefined && matcher.test(value);
    })
  );

  if (matches.length === 0) {
    return ccpError(
      404,
      "APPAP004E",
      `Password object matching query [${queryText}] was not found (Diagnostic Info: 9). ` +
        "Please check that there is a password object that answers your query in the Vault " +
        "and that both the Provider and the application user have the appropriate permissions " +
        "needed in order to use the password.",
    );
  }
  if (matches.length > 1) {
    return ccpError(
      400,
      "APPAP229E",
      `Too many password objects matching query [${queryText}] were found: ` +
        `(${matches.map(objectPath).join(" and ")}) (Diagnostic Info: 41)`,
    );
  }

  const account = matches[0] as Record<string, string>;
  const changing =
    (account["PasswordChangeInProcess"] ?? "").toLowerCase() === "true";
  const failOnChange =
    (params.get("failrequestonpasswordchange") ?? "").toLowerCase() === "true";
  if (changing && failOnChange) {
    return ccpError(
      500,
      "APPAP282E",
      `Password [${account["Name"]}] is currently being changed by the CPM.`,
    );
  }
  // Content first, as in real captures; then the properties in data order.
  const { Content: content, ...rest } = account;
  return { status: 200, body: { Content: content ?? "", ...rest } };
}

function ccpError(status: number, code: string, message: string): CcpAnswer {
  return { status, body: { ErrorCode: code, ErrorMsg: message } };
}

function invalidQueryFormat(): CcpAnswer {
  return ccpError(400, "AIMWS030E", "Invalid query format");
}

/** Parses `Safe=S;Folder=F;Object=O`; any other key filters on that account property. */
function parseQuery(query: string): Filter[] | undefined {
  const filters: Filter[] = [];
  for (const segment of query.split(";")) {
    if (segment.trim() === "") continue;
    const equals = segment.indexOf("=");
    if (equals <= 0) return undefined;
    const key = segment.slice(0, equals).trim();
    const value = segment.slice(equals + 1);
    if (value === "") return undefined;
    const known = CRITERIA.find((criterion) =>
      criterion.param.toLowerCase() === key.toLowerCase()
    );
    filters.push({
      property: known?.property ?? key,
      label: known?.param ?? key,
      value,
    });
  }
  return filters.length === 0 ? undefined : filters;
}

/** An anchored regular-expression test; throws SyntaxError for a bad pattern. */
function regexpTest(pattern: string): (value: string) => boolean {
  const regex = new RegExp(`^(?:${pattern})$`);
  return (value) => regex.test(value);
}

function objectPath(account: Record<string, string>): string {
  return `Safe=${account["Safe"]};Folder=${
    account["Folder"] ?? DEFAULT_FOLDER
  };Object=${account["Name"]}`;
}

/** Returns why the caller fails the AppID's restrictions, or undefined when it passes. */
function checkAuthentication(
  app: EmulatorApplication,
  caller: CallerIdentity,
): string | undefined {
  if (
    app.allowedMachines !== undefined &&
    !matchesAllowedMachines(caller.address, app.allowedMachines)
  ) {
    // The CCP reference gives CyberArk's wording for certificates only; this
    // follows the same `<Type> "<value>" is unauthorized` shape.
    return `MachineAddress "${
      normalizeAddressText(caller.address)
    }" is unauthorized`;
  }
  if (app.certificateSerials !== undefined) {
    const presented = caller.certificateSerial;
    const listed = presented !== undefined &&
      app.certificateSerials.some((serial) =>
        normalizeSerial(serial) === normalizeSerial(presented)
      );
    if (!listed) {
      // Real captures print the serial in lower case.
      return `CertificateSN "${
        (presented ?? "").toLowerCase()
      }" is unauthorized`;
    }
  }
  return undefined;
}

/** Upper case, no separators or leading zeros, so "0a:1B" equals "A1B". */
function normalizeSerial(serial: string): string {
  return serial.replace(/[\s:]/g, "").toUpperCase().replace(/^0+(?=.)/, "");
}

// ---------------------------------------------------------------------------
// Allowed Machines

/**
 * Whether a source address (as reported by the socket, e.g. `::ffff:127.0.0.1`)
 * falls within any of the allowed IPs or CIDRs. IPv4-mapped IPv6 addresses
 * match their IPv4 form.
 */
export function matchesAllowedMachines(
  address: string,
  allowed: readonly string[],
): boolean {
  const source = parseIp(address);
  if (source === undefined) return false;
  return allowed.some((entry) => {
    const cidr = parseCidr(entry);
    return cidr !== undefined && cidr.bytes.length === source.length &&
      prefixMatches(source, cidr.bytes, cidr.prefix);
  });
}

function normalizeAddressText(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
}

function prefixMatches(a: Uint8Array, b: Uint8Array, prefix: number): boolean {
  for (let bit = 0; bit < prefix; bit += 8) {
    const remaining = prefix - bit;
    const mask = remaining >= 8 ? 0xff : (0xff << (8 - remaining)) & 0xff;
    const index = bit / 8;
    if (((a[index] ?? 0) & mask) !== ((b[index] ?? 0) & mask)) return false;
  }
  return true;
}

function parseCidr(
  text: string,
): { bytes: Uint8Array; prefix: number } | undefined {
  const [addressPart, prefixPart, extra] = text.trim().split("/");
  if (addressPart === undefined || extra !== undefined) return undefined;
  const raw = parseRawIp(addressPart);
  if (raw === undefined) return undefined;
  const max = raw.length * 8;
  let prefix = max;
  if (prefixPart !== undefined) {
    if (!/^\d{1,3}$/.test(prefixPart)) return undefined;
    prefix = Number(prefixPart);
    if (prefix > max) return undefined;
  }
  const mapped = unmapIpv4(raw);
  if (mapped !== raw && prefix >= 96) {
    return { bytes: mapped, prefix: prefix - 96 };
  }
  return { bytes: raw, prefix };
}

/** Parses an address into 4 or 16 bytes, IPv4-mapped IPv6 becoming 4. */
function parseIp(text: string): Uint8Array | undefined {
  const raw = parseRawIp(text);
  return raw === undefined ? undefined : unmapIpv4(raw);
}

function unmapIpv4(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 16) return bytes;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return bytes;
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) return bytes;
  return bytes.slice(12);
}

function parseRawIp(text: string): Uint8Array | undefined {
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (const [i, part] of parts.entries()) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    bytes[i] = Number(part);
  }
  return bytes;
}

function parseIpv6(input: string): Uint8Array | undefined {
  const text = input.replace(/^\[|\]$/g, "").replace(/%.*$/, ""); // brackets, zone id
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const groups: number[] = [];
    const pieces = part.split(":");
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIpv4(piece);
        if (v4 === undefined) return undefined;
        groups.push(
          ((v4[0] ?? 0) << 8) | (v4[1] ?? 0),
          ((v4[2] ?? 0) << 8) | (v4[3] ?? 0),
        );
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(piece)) {
        groups.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return groups;
  };
  const head = parseGroups(halves[0] ?? "");
  const tail = halves.length === 2 ? parseGroups(halves[1] ?? "") : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  for (const [i, group] of groups.entries()) {
    bytes[i * 2] = group >> 8;
    bytes[i * 2 + 1] = group & 0xff;
  }
  return bytes;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---------------------------------------------------------------------------
// IIS pages, for requests that never reach the CCP

function iisPage(title: string, detail: string): string {
  return `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/>
<title>${title}</title>
<style type="text/css">
<!--
body{margin:0;font-size:.7em;font-family:Verdana, Arial, Helvetica, sans-serif;background:#EEEEEE;}
fieldset{padding:0 15px 10px 15px;}
h1{font-size:2.4em;margin:0;color:#FFF;}
h2{font-size:1.7em;margin:0;color:#CC0000;}
h3{font-size:1.2em;margin:10px 0 0 0;color:#000000;}
#header{width:96%;margin:0 0 0 0;padding:6px 2% 6px 2%;font-family:"trebuchet MS", Verdana, sans-serif;color:#FFF;background-color:#555555;}
#content{margin:0 0 0 2%;position:relative;}
.content-container{background:#FFF;width:96%;margin-top:8px;padding:10px;position:relative;}
-->
</style>
</head>
<body>
<div id="header"><h1>Server Error</h1></div>
<div id="content">
 <div class="content-container"><fieldset>
  <h2>${title}</h2>
  <h3>${detail}</h3>
 </fieldset></div>
</div>
</body>
</html>
`;
}

const NOT_FOUND_HTML = iisPage(
  "404 - File or directory not found.",
  "The resource you are looking for might have been removed, had its name changed, or is temporarily unavailable.",
);

const METHOD_NOT_ALLOWED_HTML = iisPage(
  "405 - HTTP verb used to access this page is not allowed.",
  "The page you are looking for cannot be displayed because an invalid method (HTTP verb) was used to attempt access.",
);

const BAD_REQUEST_HTML = iisPage(
  "400 - Bad Request.",
  "The request could not be understood by the server.",
);
