/**
 * A wire-level TDS 7.4 test server that stands in for SQL Server, so tests can
 * drive the real `mssql` (tedious) driver without a database engine.
 *
 * The bytes follow Microsoft's MS-TDS specification: PRELOGIN (with
 * ENCRYPT_NOT_SUP, or ENCRYPT_ON and a TLS 1.2 handshake carried in PRELOGIN
 * packets), LOGIN7 with SQL authentication, SQL batches, `sp_executesql` RPC
 * requests, transaction manager requests and ATTENTION. Every statement the
 * client sends is answered by a handler the test supplies.
 *
 * Note that mssql's `request.query()` arrives as an `sp_executesql` RPC, with
 * or without parameters; only `request.batch()` sends a SQL batch.
 *
 * Not served: TDS before 7.2, TDS 8 (`encrypt: "strict"`), TLS 1.3, MARS,
 * integrated (SSPI/NTLM) and federated authentication, bulk load, RPCs other
 * than `sp_executesql`, and output parameters (no RETURNVALUE tokens).
 *
 * @module
 */

import { generateKeyPairSync } from "node:crypto";
import forge from "node-forge";

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

/** Column types the server can describe in COLMETADATA and encode in rows. */
export type TdsColumnType =
  | "tinyint"
  | "smallint"
  | "int"
  | "bigint"
  | "bit"
  | "float"
  | "real"
  | "decimal"
  | "nvarchar"
  | "varchar"
  | "varbinary"
  | "datetime"
  | "datetime2"
  | "date"
  | "uniqueidentifier";

/**
 * One column of a result set.
 *
 * Values per type: integers as `number` (`bigint` also as `bigint` or a
 * string of digits), `bit` as `boolean`, `float`/`real` as `number`,
 * `decimal` as `number`, `bigint` or a decimal string, strings as `string`
 * (`varchar` is sent in code page 1252; other characters become `?`),
 * `varbinary` as `Uint8Array`, dates as `Date` (read as UTC) or a string
 * `Date` parses, `uniqueidentifier` as its usual string form; `null` or
 * `undefined` for NULL.
 */
export interface TdsColumn {
  /** The column name; `""` for an unnamed column. */
  name: string;
  /** The SQL Server type. */
  type: TdsColumnType;
  /** Whether NULL is allowed; true unless set to false. */
  nullable?: boolean;
  /**
   * Maximum length: characters for `nvarchar`, bytes for `varchar` and
   * `varbinary`; `"max"` sends values as PLP streams. Defaults to 4000
   * (nvarchar) or 8000.
   */
  length?: number | "max";
  /** Precision of a `decimal` (1-38, default 18). */
  precision?: number;
  /** Scale of a `decimal` (default 0) or `datetime2` (0-7, default 7). */
  scale?: number;
}

/** A result set: column descriptions and rows of values in column order. */
export interface TdsResultSet {
  /** The columns; at least one. */
  columns: readonly TdsColumn[];
  /** The rows, each with one value per column. */
  rows: readonly (readonly unknown[])[];
}

/** A statement that changed rows and returned none (INSERT, UPDATE, DELETE). */
export interface TdsRowsAffected {
  /** The row count reported in the DONE token. */
  rowsAffected: number;
}

/** The fields of an ERROR or INFO token. */
export interface TdsServerMessage {
  /** The message number, for example 102 for a syntax error. */
  number: number;
  /** The error state. */
  state: number;
  /** The severity class: 0-10 informational, 11-16 user errors. */
  class: number;
  /** The message text. */
  message: string;
  /** The line in the batch; 1 when omitted. */
  lineNumber?: number;
  /** The stored procedure name; empty when omitted. */
  procName?: string;
}

/** A statement that failed: an ERROR token followed by DONE with DONE_ERROR. */
export interface TdsErrorResult {
  /** The error to report. */
  error: TdsServerMessage;
}

/** An informational message (like PRINT output): an INFO token. */
export interface TdsInfoResult {
  /** The message to report. */
  info: TdsServerMessage;
}

/** One piece of a response, in the order the statements produced it. */
export type TdsResultPart =
  | TdsResultSet
  | TdsRowsAffected
  | TdsErrorResult
  | TdsInfoResult;

/**
 * A response that arrives after `delayMs`, like a long-running query. An
 * ATTENTION from the client (sent on a request timeout or cancel) ends the
 * wait and the server acknowledges it instead of sending `result`.
 */
export interface TdsDelayedResult {
  /** How long the "query" runs before `result` is sent. */
  delayMs: number;
  /** What to send when the delay ends; an empty DONE when omitted. */
  result?: TdsQueryResult;
}

/** What a query handler returns for one batch or RPC statement. */
export type TdsQueryResult =
  | TdsResultPart
  | readonly TdsResultPart[]
  | TdsDelayedResult;

/** What the handler knows about the request being answered. */
export interface TdsQueryContext {
  /** The login name of the session. */
  user: string;
  /** The current database of the session. */
  database: string;
  /** A SQL batch, or an `sp_executesql` RPC request. */
  kind: "sql_batch" | "rpc";
  /** The `sp_executesql` parameters by name without `@`; empty for batches. */
  params: Readonly<Record<string, unknown>>;
  /** Aborted when the client sends ATTENTION or disconnects. */
  signal: AbortSignal;
}

/** Answers one statement text; may be async. */
export type TdsQueryHandler = (
  sql: string,
  ctx: TdsQueryContext,
) => TdsQueryResult | Promise<TdsQueryResult>;

/** The ENCRYPTION values of PRELOGIN (MS-TDS 2.2.6.5). */
export type TdsEncryptionOption = "off" | "on" | "not_supported" | "required";

/** How to start a {@linkcode startTdsServer}. */
export interface TdsServerOptions {
  /** Logins and their passwords. */
  users: Readonly<Record<string, string>>;
  /** Databases a login may open; the first is the default database. */
  databases: readonly string[];
  /** Answers statements; without it every statement fails with error 50000. */
  onQuery?: TdsQueryHandler;
  /**
   * `"not_supported"` (default) answers PRELOGIN with ENCRYPT_NOT_SUP and
   * never uses TLS. `"on"` answers ENCRYPT_ON (ENCRYPT_REQ to a client that
   * cannot encrypt) and runs TLS 1.2 with {@linkcode TdsServerOptions.tls}
   * or a throwaway self-signed certificate.
   */
  encryption?: "not_supported" | "on";
  /** PEM certificate and key for `encryption: "on"`. */
  tls?: { cert: string; key: string };
  /**
   * Packet size to announce in ENVCHANGE instead of the one the client asked
   * for (512-32767); a small size exercises packet splitting both ways.
   */
  packetSize?: number;
  /**
   * Whether the server itself answers what drivers send on their own:
   * batches made only of `SET` statements (tedious's session setup),
   * `SELECT 1` (the mssql pool's connection check) and `USE <database>`.
   * Default true; such statements then never reach `onQuery` or `batches`.
   */
  answerSessionStatements?: boolean;
  /** The server name in messages; default `"TDSTEST"`. */
  serverName?: string;
}

/** One LOGIN7 the server received; the password itself is never kept. */
export interface TdsLoginRecord {
  /** The login name sent. */
  user: string;
  /** The database asked for, or the default one when none was sent. */
  database: string;
  /** The client's application name. */
  appName: string;
  /** The client's workstation name. */
  hostName: string;
  /** The client library name. */
  libraryName: string;
  /** The server name the client connected to. */
  serverName: string;
  /** The TDS version the client asked for, as in LOGIN7 (0x74000004). */
  tdsVersion: number;
  /** The packet size the client asked for. */
  packetSize: number;
  /** Whether the password matched the one configured for `user`. */
  passwordOk: boolean;
  /** Whether the login was accepted. */
  succeeded: boolean;
  /** Whether the login arrived over TLS. */
  encrypted: boolean;
}

/** One PRELOGIN the server received. */
export interface TdsPreLoginRecord {
  /** The client's version as `major.minor.build.subbuild`. */
  version: string;
  /** The client's ENCRYPTION option. */
  encryption: TdsEncryptionOption;
  /** Whether the client asked for MARS. */
  mars: boolean;
  /** What the server answered. */
  answered: TdsEncryptionOption;
}

/** One request after login. */
export interface TdsRequestRecord {
  /** The request type. */
  kind: "sql_batch" | "rpc" | "transaction";
  /** The SQL text, the procedure name, or the transaction request name. */
  sql: string;
  /** The `sp_executesql` parameters; empty otherwise. */
  params: Readonly<Record<string, unknown>>;
  /** The session's login. */
  user: string;
  /** The session's database when the request arrived. */
  database: string;
  /** Who produced the response. */
  answeredBy: "handler" | "server";
  /** Whether an ATTENTION canceled the request before it was answered. */
  canceled: boolean;
}

/** A running test server; close it to release its port and sockets. */
export interface RunningTdsServer extends AsyncDisposable {
  /** Always `127.0.0.1`. */
  readonly hostname: string;
  /** The ephemeral port. */
  readonly port: number;
  /** Every PRELOGIN received, in order. */
  readonly preLogins: readonly TdsPreLoginRecord[];
  /** Every LOGIN7 received, in order. */
  readonly logins: readonly TdsLoginRecord[];
  /** The SQL texts handed to `onQuery` (batches and `sp_executesql`). */
  readonly batches: readonly string[];
  /** Every request after login, including those the server answered. */
  readonly requests: readonly TdsRequestRecord[];
  /** How many ATTENTION messages arrived. */
  readonly attentions: number;
  /** How many TCP connections were accepted. */
  readonly connections: number;
  /**
   * Protocol errors that made the server drop a connection (a malformed
   * packet, an unexpected message); empty when all went well.
   */
  readonly errors: readonly Error[];
  /** Stops listening, closes every connection and waits for them to end. */
  close(): Promise<void>;
}

/**
 * Starts a TDS server on 127.0.0.1 with an ephemeral port.
 *
 * @example
 * ```ts
 * await using server = await startTdsServer({
 *   users: { app: "s3cret" },
 *   databases: ["appdb"],
 *   onQuery: () => ({ rowsAffected: 1 }),
 * });
 * ```
 */
export async function startTdsServer(
  options: TdsServerOptions,
): Promise<RunningTdsServer> {
  if (options.databases.length === 0) {
    throw new TypeError(
      "Cannot start the TDS test server: `databases` is empty; list at least one database",
    );
  }
  const packetSize = options.packetSize;
  if (
    packetSize !== undefined &&
    (!Number.isInteger(packetSize) || packetSize < 512 || packetSize > 32767)
  ) {
    throw new RangeError(
      `Cannot start the TDS test server: packetSize ${packetSize} is outside 512-32767`,
    );
  }
  let tls: { cert: string; key: string } | undefined;
  if (options.encryption === "on") {
    tls = options.tls ?? createThrowawayCertificate();
  }
  const server = new TdsTestServer(options, tls);
  server.start();
  return await Promise.resolve(server);
}

// ---------------------------------------------------------------------------
// LOGIN7 helpers (exported for unit tests)
// ---------------------------------------------------------------------------

/** The fields of a LOGIN7 message (MS-TDS 2.2.6.4). */
export interface Login7Message {
  /** TDSVersion as a little-endian DWORD (0x74000004 for TDS 7.4). */
  tdsVersion: number;
  /** The packet size the client asks for. */
  packetSize: number;
  /** The client program version. */
  clientProgVer: number;
  /** The client process id. */
  clientPid: number;
  /** The connection id. */
  connectionId: number;
  /** OptionFlags1. */
  optionFlags1: number;
  /** OptionFlags2. */
  optionFlags2: number;
  /** TypeFlags. */
  typeFlags: number;
  /** OptionFlags3. */
  optionFlags3: number;
  /** ClientTimeZone in minutes. */
  clientTimeZone: number;
  /** ClientLCID. */
  clientLcid: number;
  /** The workstation name. */
  hostName: string;
  /** The login name. */
  userName: string;
  /** The password after undoing the obfuscation. */
  password: string;
  /** The application name. */
  appName: string;
  /** The server name. */
  serverName: string;
  /** The client library name. */
  libraryName: string;
  /** The initial language. */
  language: string;
  /** The initial database. */
  database: string;
  /** ClientID, six bytes (often a MAC address). */
  clientId: Uint8Array;
  /** SSPI data for integrated authentication; empty for SQL logins. */
  sspi: Uint8Array;
  /** The database file to attach. */
  attachDbFile: string;
  /** The new password, for a password change. */
  changePassword: string;
  /** FeatureExt entries (TDS 7.4), by FeatureId. */
  features: { id: number; data: Uint8Array }[];
}

/**
 * Obfuscates a LOGIN7 password: UTF-16LE, then for each byte swap the high
 * and low four bits and XOR with 0xA5 (MS-TDS 2.2.6.4).
 */
export function obfuscateLogin7Password(password: string): Uint8Array {
  const bytes = encodeUtf16(password);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    bytes[i] = (((b << 4) & 0xf0) | (b >> 4)) ^ 0xa5;
  }
  return bytes;
}

/** Reverses {@linkcode obfuscateLogin7Password}: XOR 0xA5, swap nibbles. */
export function deobfuscateLogin7Password(bytes: Uint8Array): string {
  const plain = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const b = (bytes[i] as number) ^ 0xa5;
    plain[i] = ((b << 4) & 0xf0) | (b >> 4);
  }
  return decodeUtf16(plain);
}

/**
 * Parses a LOGIN7 message payload (without the 8-byte packet header).
 *
 * @throws {RangeError} when an offset or length points outside the payload
 */
export function parseLogin7(payload: Uint8Array): Login7Message {
  const r = new ByteReader(payload);
  const length = r.u32le();
  if (length > payload.length || length < 94) {
    throw new RangeError(
      `Cannot parse LOGIN7: length ${length} does not fit the ${payload.length}-byte message`,
    );
  }
  const tdsVersion = r.u32le();
  const packetSize = r.u32le();
  const clientProgVer = r.u32le();
  const clientPid = r.u32le();
  const connectionId = r.u32le();
  const optionFlags1 = r.u8();
  const optionFlags2 = r.u8();
  const typeFlags = r.u8();
  const optionFlags3 = r.u8();
  const clientTimeZone = r.i32le();
  const clientLcid = r.u32le();
  const pairs: [number, number][] = [];
  for (let i = 0; i < 9; i++) pairs.push([r.u16le(), r.u16le()]);
  const clientId = r.bytes(6);
  const sspiPair: [number, number] = [r.u16le(), r.u16le()];
  const attachPair: [number, number] = [r.u16le(), r.u16le()];
  const changePair: [number, number] = [r.u16le(), r.u16le()];
  const sspiLong = r.u32le();

  const text = ([offset, chars]: [number, number]): string =>
    decodeUtf16(slice(payload, offset, chars * 2, "LOGIN7"));
  const pair = (i: number): [number, number] => pairs[i] as [number, number];

  const passwordBytes = slice(payload, pair(2)[0], pair(2)[1] * 2, "LOGIN7");
  const changeBytes = slice(
    payload,
    changePair[0],
    changePair[1] * 2,
    "LOGIN7",
  );
  const sspiLength = sspiPair[1] === 0xffff ? sspiLong : sspiPair[1];
  const features: { id: number; data: Uint8Array }[] = [];
  const F_EXTENSION = 0x10;
  if ((optionFlags3 & F_EXTENSION) !== 0 && pair(5)[1] >= 4) {
    // ibExtension points at a DWORD holding the offset of FeatureExt.
    const pointer = new ByteReader(slice(payload, pair(5)[0], 4, "LOGIN7"));
    const fr = new ByteReader(payload, pointer.u32le());
    for (;;) {
      const id = fr.u8();
      if (id === 0xff) break;
      const dataLength = fr.u32le();
      features.push({ id, data: fr.bytes(dataLength) });
    }
  }
  return {
    tdsVersion,
    packetSize,
    clientProgVer,
    clientPid,
    connectionId,
    optionFlags1,
    optionFlags2,
    typeFlags,
    optionFlags3,
    clientTimeZone,
    clientLcid,
    hostName: text(pair(0)),
    userName: text(pair(1)),
    password: deobfuscateLogin7Password(passwordBytes),
    appName: text(pair(3)),
    serverName: text(pair(4)),
    libraryName: text(pair(6)),
    language: text(pair(7)),
    database: text(pair(8)),
    clientId,
    sspi: slice(payload, sspiPair[0], sspiLength, "LOGIN7").slice(),
    attachDbFile: text(attachPair),
    changePassword: deobfuscateLogin7Password(changeBytes),
    features,
  };
}

// ---------------------------------------------------------------------------
// Protocol constants (MS-TDS 2.2.3.1 and 2.2.7)
// ---------------------------------------------------------------------------

const HEADER_LENGTH = 8;
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const PACKET_SQL_BATCH = 0x01;
const PACKET_RPC = 0x03;
const PACKET_TABULAR_RESULT = 0x04;
const PACKET_ATTENTION = 0x06;
const PACKET_TRANSACTION_MANAGER = 0x0e;
const PACKET_LOGIN7 = 0x10;
const PACKET_PRELOGIN = 0x12;

const STATUS_EOM = 0x01;
const STATUS_IGNORE = 0x02;
const STATUS_RESET_CONNECTION = 0x08;
const STATUS_RESET_CONNECTION_SKIP_TRAN = 0x10;

const TOKEN_RETURNSTATUS = 0x79;
const TOKEN_COLMETADATA = 0x81;
const TOKEN_ERROR = 0xaa;
const TOKEN_INFO = 0xab;
const TOKEN_LOGINACK = 0xad;
const TOKEN_FEATUREEXTACK = 0xae;
const TOKEN_ROW = 0xd1;
const TOKEN_NBCROW = 0xd2;
const TOKEN_ENVCHANGE = 0xe3;
const TOKEN_DONE = 0xfd;
const TOKEN_DONEPROC = 0xfe;
const TOKEN_DONEINPROC = 0xff;

const DONE_FINAL = 0x0000;
const DONE_MORE = 0x0001;
const DONE_ERROR = 0x0002;
const DONE_COUNT = 0x0010;
const DONE_ATTN = 0x0020;

const CMD_SELECT = 0xc1;
const CMD_INSERT = 0xc3;
const CMD_DELETE = 0xc4;
const CMD_UPDATE = 0xc5;

const ENV_DATABASE = 1;
const ENV_LANGUAGE = 2;
const ENV_PACKET_SIZE = 4;
const ENV_SQL_COLLATION = 7;
const ENV_BEGIN_TRAN = 8;
const ENV_COMMIT_TRAN = 9;
const ENV_ROLLBACK_TRAN = 10;
const ENV_RESET_ACK = 18;

const PRELOGIN_VERSION = 0x00;
const PRELOGIN_ENCRYPTION = 0x01;
const PRELOGIN_INSTOPT = 0x02;
const PRELOGIN_THREADID = 0x03;
const PRELOGIN_MARS = 0x04;
const PRELOGIN_TERMINATOR = 0xff;

const ENCRYPT_OFF = 0x00;
const ENCRYPT_ON = 0x01;
const ENCRYPT_NOT_SUP = 0x02;
const ENCRYPT_REQ = 0x03;

const TDS_7_2 = 0x72090002;
const TDS_7_4 = 0x74000004;
const FEATURE_FEDAUTH = 0x02;
const FEATURE_UTF8_SUPPORT = 0x0a;

/** SQL_Latin1_General_CP1_CI_AS: LCID 0x0409, CI/AI-less flags, sort id 52. */
const COLLATION = new Uint8Array([0x09, 0x04, 0xd0, 0x00, 0x34]);
/** SQL Server 2022 (16.0.1000). */
const SERVER_VERSION = { major: 16, minor: 0, build: 1000 };
const SP_EXECUTESQL = 10;

/** Days from 0001-01-01 to 1970-01-01. */
const DAYS_TO_UNIX_EPOCH_FROM_0001 = 719162;
/** Days from 1900-01-01 to 1970-01-01. */
const DAYS_TO_UNIX_EPOCH_FROM_1900 = 25567;
const MS_PER_DAY = 86_400_000;

// ---------------------------------------------------------------------------
// Server and sessions
// ---------------------------------------------------------------------------

interface Transport {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

interface TdsMessage {
  type: number;
  payload: Uint8Array;
  ignored: boolean;
  resetConnection: boolean;
}

class TdsTestServer implements RunningTdsServer {
  readonly hostname = "127.0.0.1";
  readonly preLogins: TdsPreLoginRecord[] = [];
  readonly logins: TdsLoginRecord[] = [];
  readonly batches: string[] = [];
  readonly requests: TdsRequestRecord[] = [];
  readonly errors: Error[] = [];
  attentions = 0;
  connections = 0;

  readonly options: TdsServerOptions;
  readonly tls: { cert: string; key: string } | undefined;
  #listener: Deno.Listener | undefined;
  #acceptLoop: Promise<void> | undefined;
  #sessions = new Set<TdsSession>();
  #sessionTasks = new Set<Promise<void>>();
  #closing = false;
  #nextSpid = 51;

  constructor(
    options: TdsServerOptions,
    tls: { cert: string; key: string } | undefined,
  ) {
    this.options = options;
    this.tls = tls;
  }

  get port(): number {
    const addr = this.#listener?.addr;
    if (addr === undefined || addr.transport !== "tcp") {
      throw new TypeError(
        "The TDS test server is not listening; call start() first",
      );
    }
    return addr.port;
  }

  start(): void {
    this.#listener = Deno.listen({ hostname: this.hostname, port: 0 });
    this.#acceptLoop = this.#accept(this.#listener);
  }

  async #accept(listener: Deno.Listener): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return; // listener closed
      }
      if (this.#closing) {
        conn.close();
        return;
      }
      this.connections++;
      const session = new TdsSession(this, conn, this.#nextSpid++);
      this.#sessions.add(session);
      const task = session.run().finally(() => {
        this.#sessions.delete(session);
        this.#sessionTasks.delete(task);
      });
      this.#sessionTasks.add(task);
    }
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#listener?.close();
    await this.#acceptLoop;
    for (const session of this.#sessions) session.close();
    await Promise.allSettled([...this.#sessionTasks]);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** One client connection, from PRELOGIN to disconnect. */
class TdsSession {
  #server: TdsTestServer;
  #raw: Deno.Conn;
  #transport: Transport;
  #reader: PacketReader;
  #spid: number;
  #packetSize = 4096;
  #closed = false;
  #encrypted = false;
  #user = "";
  #database = "";
  #loginDatabase = "";
  #transactionId = 0n;
  #inTransaction = false;
  #tlsCleanup: (() => Promise<void>) | undefined;

  #queue: (TdsMessage | null)[] = [];
  #wake: (() => void) | undefined;
  #current: AbortController | undefined;

  constructor(server: TdsTestServer, conn: Deno.Conn, spid: number) {
    this.#server = server;
    this.#raw = conn;
    this.#transport = conn;
    this.#reader = new PacketReader(conn);
    this.#spid = spid;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#current?.abort();
    if (this.#transport !== this.#raw) closeQuietly(this.#transport);
    closeQuietly(this.#raw);
    this.#push(null);
  }

  async run(): Promise<void> {
    try {
      if (!(await this.#preLogin())) return;
      if (!(await this.#login())) return;
      await this.#serveRequests();
    } catch (error) {
      if (!this.#closed && !isConnectionGone(error)) {
        this.#server.errors.push(
          error instanceof Error ? error : new Error(String(error)),
        );
      }
    } finally {
      this.close();
      await this.#tlsCleanup?.();
    }
  }

  // --- PRELOGIN and TLS ----------------------------------------------------

  async #preLogin(): Promise<boolean> {
    const message = await this.#reader.readMessage();
    if (message === null) return false;
    if (message.type !== PACKET_PRELOGIN) {
      // TDS 7.0 and older clients skip PRELOGIN; this server does not serve them.
      return false;
    }
    const options = parsePreLoginOptions(message.payload);
    const version = options.get(PRELOGIN_VERSION);
    const clientEncryption = options.get(PRELOGIN_ENCRYPTION)?.[0] ??
      ENCRYPT_OFF;
    const tlsWanted = this.#server.tls !== undefined;
    let answer: number;
    if (!tlsWanted) {
      answer = ENCRYPT_NOT_SUP;
    } else if (clientEncryption === ENCRYPT_NOT_SUP) {
      answer = ENCRYPT_REQ; // the client then has to give up (MS-TDS 2.2.6.5)
    } else {
      answer = ENCRYPT_ON;
    }
    this.#server.preLogins.push({
      version: version === undefined || version.length < 6
        ? ""
        : `${version[0]}.${version[1]}.${readU16be(version, 2)}.${
          readU16be(version, 4)
        }`,
      encryption: encryptionName(clientEncryption),
      mars: (options.get(PRELOGIN_MARS)?.[0] ?? 0) === 1,
      answered: encryptionName(answer),
    });

    const build = SERVER_VERSION.build;
    const response = buildPreLoginOptions([
      [PRELOGIN_VERSION, [
        SERVER_VERSION.major,
        SERVER_VERSION.minor,
        build >> 8,
        build & 0xff,
        0,
        0,
      ]],
      [PRELOGIN_ENCRYPTION, [answer]],
      [PRELOGIN_INSTOPT, [0]],
      [PRELOGIN_THREADID, []],
      [PRELOGIN_MARS, [0]],
    ]);
    await this.#send(PACKET_TABULAR_RESULT, response);
    if (answer === ENCRYPT_REQ) {
      await this.#waitForClientToClose();
      return false;
    }
    if (answer === ENCRYPT_ON) await this.#startTls();
    return true;
  }

  /**
   * Runs the TLS handshake the way MS-TDS 2.2.6.5 describes: the TLS records
   * travel in PRELOGIN packets until the handshake ends, then flow raw. The
   * TLS engine is Deno's own, reached through a loopback socket: this relay
   * unwraps the client's records into it and wraps its answers back.
   */
  async #startTls(): Promise<void> {
    const tls = this.#server.tls;
    if (tls === undefined) throw new TypeError("TLS was not configured");
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: tls.cert,
      key: tls.key,
    });
    const addr = listener.addr as Deno.NetAddr;
    const [inner, accepted] = await Promise.all([
      Deno.connect({ hostname: "127.0.0.1", port: addr.port }),
      listener.accept(),
    ]);
    listener.close();
    const innerReader = new TlsRecordReader(inner);
    const handshake = accepted.handshake();
    handshake.catch(() => {}); // awaited below; this only marks it handled
    try {
      do {
        const message = await this.#reader.readMessage();
        if (message === null) throw new Deno.errors.ConnectionReset();
        if (message.type !== PACKET_PRELOGIN) {
          throw new TypeError(
            `Expected a PRELOGIN packet with TLS data, got packet type ${message.type}`,
          );
        }
        await writeAll(inner, message.payload);
        const flight = await innerReader.readFlight();
        await this.#send(PACKET_PRELOGIN, flight);
      } while (!innerReader.finished);
      await handshake;
    } catch (error) {
      closeQuietly(inner);
      closeQuietly(accepted);
      throw error;
    }
    this.#encrypted = true;
    this.#transport = accepted;
    // From now on the client sends raw TLS records; pump them both ways.
    const leftover = this.#reader.takeBuffered();
    const raw = this.#raw;
    const up = (async () => {
      try {
        if (leftover.length > 0) await writeAll(inner, leftover);
        await pump(raw, inner);
      } finally {
        closeQuietly(inner);
      }
    })();
    const down = (async () => {
      try {
        const pending = innerReader.takeBuffered();
        if (pending.length > 0) await writeAll(raw, pending);
        await pump(inner, raw);
      } finally {
        closeQuietly(raw);
      }
    })();
    this.#reader = new PacketReader(accepted);
    this.#tlsCleanup = async (): Promise<void> => {
      closeQuietly(inner);
      await Promise.allSettled([up, down]);
    };
  }

  /**
   * After refusing a client, leave the closing to it: tedious treats a
   * socket that ends before it has parsed the refusal as "socket hang up"
   * and would lose the error message.
   */
  async #waitForClientToClose(): Promise<void> {
    while ((await this.#reader.readMessage()) !== null) {
      // Nothing more is answered on a refused connection.
    }
  }

  // --- LOGIN7 ----------------------------------------------------------------

  async #login(): Promise<boolean> {
    const message = await this.#reader.readMessage();
    if (message === null) return false;
    if (message.type !== PACKET_LOGIN7) return false;
    const login = parseLogin7(message.payload);
    const users = this.#server.options.users;
    const databases = this.#server.options.databases;
    const expected = Object.hasOwn(users, login.userName)
      ? users[login.userName]
      : undefined;
    const passwordOk = expected !== undefined && expected === login.password;
    const database = login.database === ""
      ? databases[0] ?? ""
      : login.database;
    const record: TdsLoginRecord = {
      user: login.userName,
      database,
      appName: login.appName,
      hostName: login.hostName,
      libraryName: login.libraryName,
      serverName: login.serverName,
      tdsVersion: login.tdsVersion,
      packetSize: login.packetSize,
      passwordOk,
      succeeded: false,
      encrypted: this.#encrypted,
    };
    this.#server.logins.push(record);

    const w = new ByteWriter();
    let failure: TdsServerMessage | undefined;
    if (login.tdsVersion < TDS_7_2) {
      failure = {
        number: 18456,
        state: 1,
        class: 14,
        message:
          `Login failed for user '${login.userName}'. The TDS test server speaks TDS 7.2 and later only.`,
      };
    } else if (login.sspi.length > 0) {
      failure = {
        number: 18452,
        state: 1,
        class: 14,
        message:
          "Login failed. The login is from an untrusted domain and cannot be used with Integrated authentication.",
      };
    } else if (login.features.some((f) => f.id === FEATURE_FEDAUTH)) {
      failure = {
        number: 18456,
        state: 1,
        class: 14,
        message:
          `Login failed for user '${login.userName}'. The TDS test server does not support federated authentication.`,
      };
    } else if (!passwordOk) {
      failure = {
        number: 18456,
        state: 1,
        class: 14,
        message: `Login failed for user '${login.userName}'.`,
      };
    } else if (!databases.includes(database)) {
      // SQL Server follows 4060 with 18456, and tedious reports the last
      // error only; sending 4060 alone lets the driver report the cause.
      failure = {
        number: 4060,
        state: 1,
        class: 11,
        message:
          `Cannot open database "${database}" requested by the login. The login failed.`,
      };
    }
    if (failure !== undefined) {
      writeMessageToken(w, TOKEN_ERROR, failure, this.#serverName);
      writeDone(w, TOKEN_DONE, DONE_ERROR, 0, 0);
      await this.#send(PACKET_TABULAR_RESULT, w.finish());
      await this.#waitForClientToClose();
      return false;
    }

    record.succeeded = true;
    this.#user = login.userName;
    this.#database = database;
    this.#loginDatabase = database;
    const requested = this.#server.options.packetSize ?? login.packetSize;
    const packetSize = Math.min(32767, Math.max(512, requested || 4096));

    writeEnvChange(w, ENV_DATABASE, database, "master");
    writeMessageToken(w, TOKEN_INFO, {
      number: 5701,
      state: 2,
      class: 0,
      message: `Changed database context to '${database}'.`,
    }, this.#serverName);
    writeEnvChangeBytes(w, ENV_SQL_COLLATION, COLLATION, new Uint8Array(0));
    writeEnvChange(w, ENV_LANGUAGE, "us_english", "");
    writeMessageToken(w, TOKEN_INFO, {
      number: 5703,
      state: 1,
      class: 0,
      message: "Changed language setting to us_english.",
    }, this.#serverName);
    const loginAck = new ByteWriter();
    loginAck.u8(1); // SQL_TSQL
    loginAck.u32be(login.tdsVersion >= TDS_7_4 ? TDS_7_4 : login.tdsVersion);
    loginAck.bVarchar("Microsoft SQL Server");
    loginAck.u8(SERVER_VERSION.major);
    loginAck.u8(SERVER_VERSION.minor);
    loginAck.u8(SERVER_VERSION.build >> 8);
    loginAck.u8(SERVER_VERSION.build & 0xff);
    writeLengthPrefixedToken(w, TOKEN_LOGINACK, loginAck.finish());
    if (login.features.some((f) => f.id === FEATURE_UTF8_SUPPORT)) {
      w.u8(TOKEN_FEATUREEXTACK);
      w.u8(FEATURE_UTF8_SUPPORT);
      w.u32le(1);
      w.u8(1);
      w.u8(0xff);
    }
    writeEnvChange(
      w,
      ENV_PACKET_SIZE,
      String(packetSize),
      String(login.packetSize),
    );
    writeDone(w, TOKEN_DONE, DONE_FINAL, 0, 0);
    await this.#send(PACKET_TABULAR_RESULT, w.finish());
    this.#packetSize = packetSize;
    return true;
  }

  // --- Requests after login --------------------------------------------------

  async #serveRequests(): Promise<void> {
    const reading = this.#readMessages();
    try {
      for (;;) {
        const message = await this.#next();
        if (message === null) break;
        await this.#dispatch(message);
      }
    } finally {
      this.close();
      await reading;
    }
  }

  /** Reads ahead so an ATTENTION can interrupt the request being answered. */
  async #readMessages(): Promise<void> {
    try {
      for (;;) {
        const message = await this.#reader.readMessage();
        if (message === null) break;
        if (message.type === PACKET_ATTENTION) {
          this.#server.attentions++;
          this.#current?.abort(new AttentionSignal());
        }
        this.#push(message);
      }
    } catch (error) {
      if (!isConnectionGone(error) && !this.#closed) {
        this.#server.errors.push(
          error instanceof Error ? error : new Error(String(error)),
        );
      }
    } finally {
      this.#current?.abort();
      this.#push(null);
    }
  }

  #push(message: TdsMessage | null): void {
    this.#queue.push(message);
    this.#wake?.();
    this.#wake = undefined;
  }

  async #next(): Promise<TdsMessage | null> {
    while (this.#queue.length === 0) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    return this.#queue.shift() ?? null;
  }

  async #dispatch(message: TdsMessage): Promise<void> {
    if (message.type === PACKET_ATTENTION) {
      // The acknowledgement is its own message, after the response to the
      // request it interrupted (MS-TDS 2.2.1.7, 3.3.5.9).
      const w = new ByteWriter();
      writeDone(w, TOKEN_DONE, DONE_ATTN, 0, 0);
      await this.#send(PACKET_TABULAR_RESULT, w.finish());
      return;
    }
    if (message.ignored) {
      // The client abandoned a message it had not finished (status IGNORE).
      const w = new ByteWriter();
      writeDone(w, TOKEN_DONE, DONE_FINAL, 0, 0);
      await this.#send(PACKET_TABULAR_RESULT, w.finish());
      return;
    }
    const prefix = new ByteWriter();
    if (message.resetConnection) {
      if (this.#database !== this.#loginDatabase) {
        writeEnvChange(
          prefix,
          ENV_DATABASE,
          this.#loginDatabase,
          this.#database,
        );
        this.#database = this.#loginDatabase;
      }
      writeEnvChangeBytes(
        prefix,
        ENV_RESET_ACK,
        new Uint8Array(0),
        new Uint8Array(0),
      );
    }
    let body: Uint8Array;
    try {
      switch (message.type) {
        case PACKET_SQL_BATCH:
          body = await this.#sqlBatch(message.payload);
          break;
        case PACKET_RPC:
          body = await this.#rpc(message.payload);
          break;
        case PACKET_TRANSACTION_MANAGER:
          body = this.#transactionManager(message.payload);
          break;
        default:
          body = errorResponse({
            number: 50000,
            state: 1,
            class: 16,
            message: `The TDS test server does not handle packet type 0x${
              message.type.toString(16)
            }`,
          }, this.#serverName);
      }
    } catch (error) {
      if (this.#closed) return;
      body = errorResponse({
        number: 50000,
        state: 1,
        class: 16,
        message: `The TDS test server could not answer the request: ${
          error instanceof Error ? error.message : String(error)
        }`,
      }, this.#serverName);
    }
    if (this.#closed) return;
    prefix.bytes(body);
    await this.#send(PACKET_TABULAR_RESULT, prefix.finish());
  }

  async #sqlBatch(payload: Uint8Array): Promise<Uint8Array> {
    const r = new ByteReader(payload);
    skipAllHeaders(r);
    const sql = decodeUtf16(r.rest());
    return await this.#answer("sql_batch", sql, {});
  }

  async #rpc(payload: Uint8Array): Promise<Uint8Array> {
    const r = new ByteReader(payload);
    skipAllHeaders(r);
    const nameLength = r.u16le();
    let procedure: string;
    let procId = 0;
    if (nameLength === 0xffff) {
      procId = r.u16le();
      procedure = procId === SP_EXECUTESQL ? "sp_executesql" : `#${procId}`;
    } else {
      procedure = decodeUtf16(r.bytes(nameLength * 2));
    }
    r.u16le(); // OptionFlags
    if (
      procId !== SP_EXECUTESQL && procedure.toLowerCase() !== "sp_executesql"
    ) {
      this.#record("rpc", procedure, {}, "server");
      return rpcEnvelope(
        errorTokens({
          number: 2812,
          state: 62,
          class: 16,
          message:
            `Could not find stored procedure '${procedure}'. The TDS test server runs sp_executesql only.`,
        }, this.#serverName),
        true,
      );
    }
    const values: { name: string; value: unknown }[] = [];
    while (r.remaining > 0) {
      const nameChars = r.u8();
      const name = decodeUtf16(r.bytes(nameChars * 2));
      r.u8(); // StatusFlags
      const typeInfo = readTypeInfo(r, name);
      values.push({ name, value: readTypedValue(r, typeInfo) });
    }
    const statement = values[0];
    if (statement === undefined || typeof statement.value !== "string") {
      throw new TypeError("sp_executesql arrived without a @statement text");
    }
    const params: Record<string, unknown> = {};
    for (const { name, value } of values.slice(2)) {
      params[name.replace(/^@/, "")] = value;
    }
    return await this.#answer("rpc", statement.value, params);
  }

  async #answer(
    kind: "sql_batch" | "rpc",
    sql: string,
    params: Record<string, unknown>,
  ): Promise<Uint8Array> {
    const builtIn = this.#server.options.answerSessionStatements === false
      ? undefined
      : this.#sessionStatement(sql);
    if (builtIn !== undefined) {
      this.#record(kind, sql, params, "server");
      return kind === "rpc"
        ? rpcEnvelope(builtIn.tokens, builtIn.failed)
        : builtIn.tokens;
    }
    const record = this.#record(kind, sql, params, "handler");
    this.#server.batches.push(sql);
    const controller = new AbortController();
    this.#current = controller;
    try {
      const handler = this.#server.options.onQuery;
      let result: TdsQueryResult = handler === undefined
        ? {
          error: {
            number: 50000,
            state: 1,
            class: 16,
            message: "The TDS test server has no onQuery handler",
          },
        }
        : await untilAborted(
          Promise.resolve(handler(sql, {
            user: this.#user,
            database: this.#database,
            kind,
            params,
            signal: controller.signal,
          })),
          controller.signal,
        );
      while (isDelayed(result)) {
        await sleep(result.delayMs, controller.signal);
        result = result.result ?? [];
      }
      if (controller.signal.aborted) throw controller.signal.reason;
      const parts: readonly TdsResultPart[] = Array.isArray(result)
        ? result
        : [result as TdsResultPart];
      return encodeResponse(parts, {
        rpc: kind === "rpc",
        sql,
        serverName: this.#serverName,
      });
    } catch (error) {
      if (controller.signal.aborted) {
        // Interrupted by ATTENTION: this message ends the request; the
        // acknowledgement follows when the ATTENTION is dispatched.
        record.canceled = true;
        const w = new ByteWriter();
        writeDone(w, TOKEN_DONE, DONE_FINAL, 0, 0);
        return w.finish();
      }
      const message = error instanceof Error ? error.message : String(error);
      const tokens = errorTokens({
        number: 50000,
        state: 1,
        class: 16,
        message: `The TDS test server could not answer ${
          JSON.stringify(sql.slice(0, 60))
        }: ${message}`,
      }, this.#serverName);
      return kind === "rpc" ? rpcEnvelope(tokens, true) : withFinalDone(tokens);
    } finally {
      this.#current = undefined;
    }
  }

  /** Answers what drivers send on their own (see answerSessionStatements). */
  #sessionStatement(
    sql: string,
  ): { tokens: Uint8Array; failed: boolean } | undefined {
    const trimmed = sql.trim().replace(/;$/, "").trim();
    const statements = sql.split(/[\n;]/).map((s) => s.trim()).filter((s) =>
      s !== ""
    );
    if (
      statements.length > 0 && statements.every((s) => /^set\s/i.test(s))
    ) {
      const w = new ByteWriter();
      writeDone(w, TOKEN_DONE, DONE_FINAL, 0, 0);
      return { tokens: w.finish(), failed: false };
    }
    if (/^select\s+1$/i.test(trimmed)) {
      return {
        tokens: encodeResponse([{
          columns: [{ name: "", type: "int", nullable: false }],
          rows: [[1]],
        }], { rpc: false, sql, serverName: this.#serverName }),
        failed: false,
      };
    }
    const use = /^use\s+(?:\[([^\]]+)\]|(\S+))$/i.exec(trimmed);
    if (use !== null) {
      const target = use[1] ?? use[2] ?? "";
      const w = new ByteWriter();
      if (!this.#server.options.databases.includes(target)) {
        return {
          tokens: errorResponse({
            number: 911,
            state: 1,
            class: 16,
            message:
              `Database '${target}' does not exist. Make sure that the name is entered correctly.`,
          }, this.#serverName),
          failed: true,
        };
      }
      writeEnvChange(w, ENV_DATABASE, target, this.#database);
      writeMessageToken(w, TOKEN_INFO, {
        number: 5701,
        state: 1,
        class: 0,
        message: `Changed database context to '${target}'.`,
      }, this.#serverName);
      writeDone(w, TOKEN_DONE, DONE_FINAL, 0, 0);
      this.#database = target;
      return { tokens: w.finish(), failed: false };
    }
    return undefined;
  }

  /** TM_BEGIN_XACT, TM_COMMIT_XACT and TM_ROLLBACK_XACT (MS-TDS 2.2.6.9). */
  #transactionManager(payload: Uint8Array): Uint8Array {
    const r = new ByteReader(payload);
    skipAllHeaders(r);
    const requestType = r.u16le();
    const w = new ByteWriter();
    const descriptor = (id: bigint): Uint8Array => {
      const d = new ByteWriter();
      d.u64le(id);
      return d.finish();
    };
    const none = new Uint8Array(0);
    let name: string;
    switch (requestType) {
      case 5: { // TM_BEGIN_XACT
        name = "begin transaction";
        this.#transactionId++;
        this.#inTransaction = true;
        writeEnvChangeBytes(
          w,
          ENV_BEGIN_TRAN,
          descriptor(this.#transactionId),
          none,
        );
        break;
      }
      case 7: // TM_COMMIT_XACT
      case 8: { // TM_ROLLBACK_XACT
        name = requestType === 7
          ? "commit transaction"
          : "rollback transaction";
        if (this.#inTransaction) {
          writeEnvChangeBytes(
            w,
            requestType === 7 ? ENV_COMMIT_TRAN : ENV_ROLLBACK_TRAN,
            none,
            descriptor(this.#transactionId),
          );
        }
        this.#inTransaction = false;
        break;
      }
      default:
        this.#record("transaction", `request ${requestType}`, {}, "server");
        return errorResponse({
          number: 50000,
          state: 1,
          class: 16,
          message:
            `The TDS test server does not handle transaction manager request ${requestType}`,
        }, this.#serverName);
    }
    this.#record("transaction", name, {}, "server");
    writeDone(w, TOKEN_DONE, DONE_FINAL, 0, 0);
    return w.finish();
  }

  #record(
    kind: TdsRequestRecord["kind"],
    sql: string,
    params: Record<string, unknown>,
    answeredBy: TdsRequestRecord["answeredBy"],
  ): TdsRequestRecord {
    const record: TdsRequestRecord = {
      kind,
      sql,
      params,
      user: this.#user,
      database: this.#database,
      answeredBy,
      canceled: false,
    };
    this.#server.requests.push(record);
    return record;
  }

  get #serverName(): string {
    return this.#server.options.serverName ?? "TDSTEST";
  }

  /** Splits a message into packets of the negotiated size (MS-TDS 2.2.3). */
  async #send(type: number, payload: Uint8Array): Promise<void> {
    if (this.#closed) return;
    const chunk = this.#packetSize - HEADER_LENGTH;
    const count = Math.max(1, Math.ceil(payload.length / chunk));
    const out = new Uint8Array(payload.length + count * HEADER_LENGTH);
    let offset = 0;
    for (let i = 0; i < count; i++) {
      const part = payload.subarray(i * chunk, (i + 1) * chunk);
      const length = part.length + HEADER_LENGTH;
      out[offset] = type;
      out[offset + 1] = i === count - 1 ? STATUS_EOM : 0;
      out[offset + 2] = length >> 8;
      out[offset + 3] = length & 0xff;
      out[offset + 4] = this.#spid >> 8;
      out[offset + 5] = this.#spid & 0xff;
      out[offset + 6] = (i + 1) % 256;
      out[offset + 7] = 0;
      out.set(part, offset + HEADER_LENGTH);
      offset += length;
    }
    try {
      await writeAll(this.#transport, out);
    } catch (error) {
      if (!isConnectionGone(error)) throw error;
      this.close();
    }
  }
}

class AttentionSignal extends Error {
  override name = "AttentionSignal";
  constructor() {
    super("The client sent ATTENTION");
  }
}

// ---------------------------------------------------------------------------
// Packets and messages
// ---------------------------------------------------------------------------

/** Reads TDS packets and reassembles messages split across them. */
class PacketReader {
  #source: Transport;
  #buffer: Uint8Array = new Uint8Array(0);
  #chunk = new Uint8Array(16 * 1024);

  constructor(source: Transport) {
    this.#source = source;
  }

  /** Bytes read past the last packet, for a relay that takes over. */
  takeBuffered(): Uint8Array {
    const rest = this.#buffer;
    this.#buffer = new Uint8Array(0);
    return rest;
  }

  async #fill(n: number): Promise<boolean> {
    while (this.#buffer.length < n) {
      const read = await this.#source.read(this.#chunk);
      if (read === null) return false;
      this.#buffer = concat(this.#buffer, this.#chunk.subarray(0, read));
    }
    return true;
  }

  /** Returns the next whole message, or null at end of stream. */
  async readMessage(): Promise<TdsMessage | null> {
    const parts: Uint8Array[] = [];
    let size = 0;
    let type = -1;
    let resetConnection = false;
    for (;;) {
      if (!(await this.#fill(HEADER_LENGTH))) {
        if (type === -1 && this.#buffer.length === 0) return null;
        throw new Deno.errors.UnexpectedEof(
          "The client closed the connection in the middle of a TDS packet",
        );
      }
      const header = this.#buffer;
      const packetType = header[0] as number;
      const status = header[1] as number;
      const length = readU16be(header, 2);
      if (length < HEADER_LENGTH) {
        throw new RangeError(`A TDS packet declares length ${length}`);
      }
      if (!(await this.#fill(length))) {
        throw new Deno.errors.UnexpectedEof(
          "The client closed the connection in the middle of a TDS packet",
        );
      }
      const packet = this.#buffer.subarray(HEADER_LENGTH, length);
      this.#buffer = this.#buffer.slice(length);
      if (type === -1) {
        type = packetType;
        resetConnection = (status &
          (STATUS_RESET_CONNECTION | STATUS_RESET_CONNECTION_SKIP_TRAN)) !== 0;
      } else if (packetType !== type && packetType === PACKET_ATTENTION) {
        // Unreachable for conforming clients: ATTENTION follows a whole message.
        throw new TypeError("ATTENTION arrived in the middle of a message");
      }
      size += packet.length;
      if (size > MAX_MESSAGE_BYTES) {
        throw new RangeError(
          "A TDS message exceeds the test server's 64 MiB cap",
        );
      }
      parts.push(packet);
      if ((status & STATUS_EOM) !== 0) {
        return {
          type,
          payload: concat(...parts),
          ignored: (status & STATUS_IGNORE) !== 0,
          resetConnection,
        };
      }
    }
  }
}

/**
 * Reads what Deno's TLS server writes during the handshake and cuts it into
 * flights: each flight answers one client PRELOGIN message. A TLS 1.2 flight
 * ends with ServerHelloDone, with the Finished that follows
 * ChangeCipherSpec, or with an alert.
 */
class TlsRecordReader {
  #source: Transport;
  #buffer: Uint8Array = new Uint8Array(0);
  #chunk = new Uint8Array(16 * 1024);
  #sawChangeCipherSpec = false;
  finished = false;

  constructor(source: Transport) {
    this.#source = source;
  }

  takeBuffered(): Uint8Array {
    const rest = this.#buffer;
    this.#buffer = new Uint8Array(0);
    return rest;
  }

  async #fill(n: number): Promise<void> {
    while (this.#buffer.length < n) {
      const read = await this.#source.read(this.#chunk);
      if (read === null) {
        throw new Deno.errors.UnexpectedEof(
          "The TLS engine closed during the handshake",
        );
      }
      this.#buffer = concat(this.#buffer, this.#chunk.subarray(0, read));
    }
  }

  async readFlight(): Promise<Uint8Array> {
    const records: Uint8Array[] = [];
    for (;;) {
      await this.#fill(5);
      const contentType = this.#buffer[0] as number;
      const length = readU16be(this.#buffer, 3);
      await this.#fill(5 + length);
      const record = this.#buffer.slice(0, 5 + length);
      this.#buffer = this.#buffer.slice(5 + length);
      records.push(record);
      if (contentType === 0x15) { // alert
        this.finished = true;
        break;
      }
      if (contentType === 0x17) {
        // TLS 1.3 hides where a flight ends; SQL Server's TDS 7.x TLS (and
        // tedious, which caps maxVersion) use TLS 1.2.
        throw new TypeError(
          "The client negotiated TLS 1.3; the TDS test server relays TLS 1.2 handshakes only",
        );
      }
      if (contentType === 0x14) { // change_cipher_spec
        this.#sawChangeCipherSpec = true;
        continue;
      }
      if (contentType === 0x16 && this.#sawChangeCipherSpec) {
        this.finished = true; // the encrypted Finished
        break;
      }
      if (contentType === 0x16 && containsHandshake(record, 14)) break;
    }
    return concat(...records);
  }
}

function containsHandshake(record: Uint8Array, wanted: number): boolean {
  let offset = 5;
  while (offset + 4 <= record.length) {
    const type = record[offset] as number;
    const length = ((record[offset + 1] as number) << 16) |
      ((record[offset + 2] as number) << 8) | (record[offset + 3] as number);
    if (type === wanted) return true;
    offset += 4 + length;
  }
  return false;
}

function parsePreLoginOptions(payload: Uint8Array): Map<number, Uint8Array> {
  const options = new Map<number, Uint8Array>();
  let offset = 0;
  while (offset < payload.length && payload[offset] !== PRELOGIN_TERMINATOR) {
    if (offset + 5 > payload.length) {
      throw new RangeError("A PRELOGIN option header runs past the message");
    }
    const token = payload[offset] as number;
    const dataOffset = readU16be(payload, offset + 1);
    const dataLength = readU16be(payload, offset + 3);
    options.set(token, slice(payload, dataOffset, dataLength, "PRELOGIN"));
    offset += 5;
  }
  return options;
}

function buildPreLoginOptions(options: [number, number[]][]): Uint8Array {
  const headerLength = options.length * 5 + 1;
  const w = new ByteWriter();
  let dataOffset = headerLength;
  for (const [token, data] of options) {
    w.u8(token);
    w.u16be(dataOffset);
    w.u16be(data.length);
    dataOffset += data.length;
  }
  w.u8(PRELOGIN_TERMINATOR);
  for (const [, data] of options) w.bytes(new Uint8Array(data));
  return w.finish();
}

function encryptionName(value: number): TdsEncryptionOption {
  switch (value) {
    case ENCRYPT_OFF:
      return "off";
    case ENCRYPT_ON:
      return "on";
    case ENCRYPT_NOT_SUP:
      return "not_supported";
    default:
      return "required";
  }
}

/** ALL_HEADERS (MS-TDS 2.2.5.3): a DWORD total length, then the headers. */
function skipAllHeaders(r: ByteReader): void {
  const start = r.offset;
  const total = r.u32le();
  if (total < 4 || start + total > r.length) {
    throw new RangeError(`ALL_HEADERS declares ${total} bytes`);
  }
  r.offset = start + total;
}

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

function writeDone(
  w: ByteWriter,
  token: number,
  status: number,
  curCmd: number,
  rowCount: number,
): void {
  w.u8(token);
  w.u16le(status);
  w.u16le(curCmd);
  w.u64le(BigInt(rowCount));
}

function writeLengthPrefixedToken(
  w: ByteWriter,
  token: number,
  body: Uint8Array,
): void {
  w.u8(token);
  w.u16le(body.length);
  w.bytes(body);
}

function writeEnvChange(
  w: ByteWriter,
  type: number,
  newValue: string,
  oldValue: string,
): void {
  const body = new ByteWriter();
  body.u8(type);
  body.bVarchar(newValue);
  body.bVarchar(oldValue);
  writeLengthPrefixedToken(w, TOKEN_ENVCHANGE, body.finish());
}

function writeEnvChangeBytes(
  w: ByteWriter,
  type: number,
  newValue: Uint8Array,
  oldValue: Uint8Array,
): void {
  const body = new ByteWriter();
  body.u8(type);
  body.u8(newValue.length);
  body.bytes(newValue);
  body.u8(oldValue.length);
  body.bytes(oldValue);
  writeLengthPrefixedToken(w, TOKEN_ENVCHANGE, body.finish());
}

function writeMessageToken(
  w: ByteWriter,
  token: number,
  message: TdsServerMessage,
  serverName: string,
): void {
  const body = new ByteWriter();
  body.i32le(message.number);
  body.u8(message.state);
  body.u8(message.class);
  body.usVarchar(message.message);
  body.bVarchar(serverName);
  body.bVarchar(message.procName ?? "");
  body.i32le(message.lineNumber ?? 1);
  writeLengthPrefixedToken(w, token, body.finish());
}

function errorTokens(
  message: TdsServerMessage,
  serverName: string,
): Uint8Array {
  const w = new ByteWriter();
  writeMessageToken(w, TOKEN_ERROR, message, serverName);
  return w.finish();
}

function errorResponse(
  message: TdsServerMessage,
  serverName: string,
): Uint8Array {
  const w = new ByteWriter();
  writeMessageToken(w, TOKEN_ERROR, message, serverName);
  writeDone(w, TOKEN_DONE, DONE_ERROR, 0, 0);
  return w.finish();
}

function withFinalDone(tokens: Uint8Array): Uint8Array {
  const w = new ByteWriter();
  w.bytes(tokens);
  writeDone(w, TOKEN_DONE, DONE_ERROR, 0, 0);
  return w.finish();
}

/**
 * Wraps an RPC's result tokens: RETURNSTATUS and a final DONEPROC. Any DONE
 * tokens inside must already be DONEINPROC with DONE_MORE.
 */
function rpcEnvelope(tokens: Uint8Array, failed: boolean): Uint8Array {
  const w = new ByteWriter();
  w.bytes(convertDoneToDoneInProc(tokens));
  w.u8(TOKEN_RETURNSTATUS);
  w.i32le(failed ? 1 : 0);
  writeDone(w, TOKEN_DONEPROC, failed ? DONE_ERROR : DONE_FINAL, 0, 0);
  return w.finish();
}

/**
 * Session statements are built as batch responses; inside an RPC their
 * trailing DONE becomes DONEINPROC with DONE_MORE. Only whole responses
 * built by this file reach here, so the last 13 bytes are the DONE token.
 */
function convertDoneToDoneInProc(tokens: Uint8Array): Uint8Array {
  const out = tokens.slice();
  const doneAt = out.length - 13;
  if (doneAt >= 0 && out[doneAt] === TOKEN_DONE) {
    out[doneAt] = TOKEN_DONEINPROC;
    out[doneAt + 1] = (out[doneAt + 1] as number) | DONE_MORE;
  }
  return out;
}

interface EncodeOptions {
  rpc: boolean;
  sql: string;
  serverName: string;
}

function isDelayed(result: TdsQueryResult): result is TdsDelayedResult {
  return !Array.isArray(result) && typeof result === "object" &&
    result !== null && "delayMs" in result;
}

function commandFor(sql: string): number {
  const verb = /^\s*(\w+)/.exec(sql)?.[1]?.toLowerCase();
  switch (verb) {
    case "insert":
      return CMD_INSERT;
    case "delete":
      return CMD_DELETE;
    case "update":
      return CMD_UPDATE;
    default:
      return CMD_SELECT;
  }
}

/**
 * Encodes result parts as tokens. A batch ends each part with DONE (DONE_MORE
 * on all but the last); an RPC uses DONEINPROC and then RETURNSTATUS and
 * DONEPROC.
 */
function encodeResponse(
  parts: readonly TdsResultPart[],
  options: EncodeOptions,
): Uint8Array {
  interface Segment {
    tokens: Uint8Array;
    status: number;
    curCmd: number;
    rowCount: number;
  }
  const segments: Segment[] = [];
  let pending = new ByteWriter();
  let failed = false;
  for (const part of parts) {
    if ("columns" in part) {
      encodeResultSet(pending, part);
      segments.push({
        tokens: pending.finish(),
        status: DONE_COUNT,
        curCmd: CMD_SELECT,
        rowCount: part.rows.length,
      });
      pending = new ByteWriter();
    } else if ("rowsAffected" in part) {
      segments.push({
        tokens: pending.finish(),
        status: DONE_COUNT,
        curCmd: commandFor(options.sql),
        rowCount: part.rowsAffected,
      });
      pending = new ByteWriter();
    } else if ("error" in part) {
      failed = true;
      writeMessageToken(pending, TOKEN_ERROR, part.error, options.serverName);
      segments.push({
        tokens: pending.finish(),
        status: DONE_ERROR,
        curCmd: 0,
        rowCount: 0,
      });
      pending = new ByteWriter();
    } else if ("info" in part) {
      writeMessageToken(pending, TOKEN_INFO, part.info, options.serverName);
    } else {
      throw new TypeError(
        "A result part needs columns and rows, rowsAffected, error or info",
      );
    }
  }
  const trailing = pending.finish();
  if (trailing.length > 0 || segments.length === 0) {
    segments.push({
      tokens: trailing,
      status: DONE_FINAL,
      curCmd: 0,
      rowCount: 0,
    });
  }
  const w = new ByteWriter();
  segments.forEach((segment, i) => {
    w.bytes(segment.tokens);
    const last = i === segments.length - 1;
    if (options.rpc) {
      writeDone(
        w,
        TOKEN_DONEINPROC,
        segment.status | DONE_MORE,
        segment.curCmd,
        segment.rowCount,
      );
    } else {
      writeDone(
        w,
        TOKEN_DONE,
        segment.status | (last ? 0 : DONE_MORE),
        segment.curCmd,
        segment.rowCount,
      );
    }
  });
  if (options.rpc) {
    w.u8(TOKEN_RETURNSTATUS);
    w.i32le(failed ? 1 : 0);
    writeDone(w, TOKEN_DONEPROC, failed ? DONE_ERROR : DONE_FINAL, 0, 0);
  }
  return w.finish();
}

interface ColumnPlan {
  column: TdsColumn;
  nullable: boolean;
  /** PLP (`max`) streaming. */
  plp: boolean;
  /** Max bytes for variable-length types. */
  maxBytes: number;
  precision: number;
  scale: number;
}

function planColumn(column: TdsColumn): ColumnPlan {
  const nullable = column.nullable !== false;
  let maxBytes = 0;
  let plp = false;
  if (
    column.type === "nvarchar" || column.type === "varchar" ||
    column.type === "varbinary"
  ) {
    const unit = column.type === "nvarchar" ? 2 : 1;
    const limit = column.type === "nvarchar" ? 4000 : 8000;
    const length = column.length ?? limit;
    if (length === "max") {
      plp = true;
      maxBytes = 0xffff;
    } else if (!Number.isInteger(length) || length < 1 || length > limit) {
      throw new RangeError(
        `Column "${column.name}" of type ${column.type} has length ${length}; use 1-${limit} or "max"`,
      );
    } else {
      maxBytes = length * unit;
    }
  }
  const precision = column.precision ?? 18;
  const scale = column.scale ?? (column.type === "datetime2" ? 7 : 0);
  if (
    column.type === "decimal" &&
    (precision < 1 || precision > 38 || scale < 0 || scale > precision)
  ) {
    throw new RangeError(
      `Column "${column.name}" has decimal(${precision}, ${scale}); precision must be 1-38 and scale 0-precision`,
    );
  }
  if (column.type === "datetime2" && (scale < 0 || scale > 7)) {
    throw new RangeError(
      `Column "${column.name}" has datetime2(${scale}); the scale must be 0-7`,
    );
  }
  return { column, nullable, plp, maxBytes, precision, scale };
}

function decimalBytes(precision: number): number {
  if (precision <= 9) return 4;
  if (precision <= 19) return 8;
  if (precision <= 28) return 12;
  return 16;
}

function timeBytes(scale: number): number {
  if (scale <= 2) return 3;
  if (scale <= 4) return 4;
  return 5;
}

const FIXED_TYPES: Partial<Record<TdsColumnType, [number, number]>> = {
  tinyint: [0x30, 1],
  smallint: [0x34, 2],
  int: [0x38, 4],
  bigint: [0x7f, 8],
  bit: [0x32, 1],
  real: [0x3b, 4],
  float: [0x3e, 8],
  datetime: [0x3d, 8],
};

const NULLABLE_TYPES: Partial<Record<TdsColumnType, [number, number]>> = {
  tinyint: [0x26, 1],
  smallint: [0x26, 2],
  int: [0x26, 4],
  bigint: [0x26, 8],
  bit: [0x68, 1],
  real: [0x6d, 4],
  float: [0x6d, 8],
  datetime: [0x6f, 8],
  uniqueidentifier: [0x24, 16],
};

/** COLMETADATA (MS-TDS 2.2.7.4) and ROW/NBCROW tokens for one result set. */
function encodeResultSet(w: ByteWriter, set: TdsResultSet): void {
  if (set.columns.length === 0) {
    throw new TypeError("A result set needs at least one column");
  }
  const plans = set.columns.map(planColumn);
  w.u8(TOKEN_COLMETADATA);
  w.u16le(plans.length);
  for (const plan of plans) {
    w.u32le(0); // UserType
    w.u16le(plan.nullable ? 0x0001 : 0x0000); // Flags: fNullable
    writeTypeInfo(w, plan);
    w.bVarchar(plan.column.name);
  }
  set.rows.forEach((row, rowIndex) => {
    if (row.length !== plans.length) {
      throw new TypeError(
        `Row ${rowIndex} has ${row.length} values for ${plans.length} columns`,
      );
    }
    const hasNull = row.some((v) => v === null || v === undefined);
    if (hasNull) {
      // NBCROW (MS-TDS 2.2.7.15): a null bitmap, then the non-null values.
      w.u8(TOKEN_NBCROW);
      const bitmap = new Uint8Array(Math.ceil(plans.length / 8));
      row.forEach((v, i) => {
        if (v === null || v === undefined) {
          bitmap[i >> 3] = (bitmap[i >> 3] as number) | (1 << (i & 7));
        }
      });
      w.bytes(bitmap);
    } else {
      w.u8(TOKEN_ROW);
    }
    plans.forEach((plan, i) => {
      const value = row[i];
      if (value === null || value === undefined) {
        if (!plan.nullable) {
          throw new TypeError(
            `Row ${rowIndex} has NULL in column "${plan.column.name}", which is not nullable`,
          );
        }
        return; // omitted from NBCROW
      }
      writeValue(w, plan, value);
    });
  });
}

function writeTypeInfo(w: ByteWriter, plan: ColumnPlan): void {
  const type = plan.column.type;
  const fixed = plan.nullable ? undefined : FIXED_TYPES[type];
  if (fixed !== undefined) {
    w.u8(fixed[0]);
    return;
  }
  const byteLength = NULLABLE_TYPES[type];
  if (byteLength !== undefined) {
    w.u8(byteLength[0]);
    w.u8(byteLength[1]);
    return;
  }
  switch (type) {
    case "decimal":
      w.u8(0x6a); // DECIMALN
      w.u8(1 + decimalBytes(plan.precision));
      w.u8(plan.precision);
      w.u8(plan.scale);
      return;
    case "datetime2":
      w.u8(0x2a); // DATETIME2N
      w.u8(plan.scale);
      return;
    case "date":
      w.u8(0x28); // DATEN
      return;
    case "nvarchar":
      w.u8(0xe7);
      w.u16le(plan.maxBytes);
      w.bytes(COLLATION);
      return;
    case "varchar":
      w.u8(0xa7);
      w.u16le(plan.maxBytes);
      w.bytes(COLLATION);
      return;
    case "varbinary":
      w.u8(0xa5);
      w.u16le(plan.maxBytes);
      return;
    default:
      throw new TypeError(`Unsupported column type ${type}`);
  }
}

function writeValue(w: ByteWriter, plan: ColumnPlan, value: unknown): void {
  const { column } = plan;
  const where = `column "${column.name}" (${column.type})`;
  // Fixed-length types carry no length prefix; their nullable forms do.
  const prefix = (n: number): void => {
    if (plan.nullable || FIXED_TYPES[column.type] === undefined) w.u8(n);
  };
  switch (column.type) {
    case "tinyint":
    case "smallint":
    case "int": {
      const [min, max, size] = column.type === "tinyint"
        ? [0, 255, 1]
        : column.type === "smallint"
        ? [-32768, 32767, 2]
        : [-2147483648, 2147483647, 4];
      if (
        typeof value !== "number" || !Number.isInteger(value) || value < min ||
        value > max
      ) {
        throw new TypeError(`Cannot encode ${String(value)} in ${where}`);
      }
      prefix(size);
      if (size === 1) w.u8(value);
      else if (size === 2) w.i16le(value);
      else w.i32le(value);
      return;
    }
    case "bigint": {
      let big: bigint;
      try {
        big = BigInt(value as bigint | number | string);
      } catch {
        throw new TypeError(`Cannot encode ${String(value)} in ${where}`);
      }
      if (big < -(2n ** 63n) || big >= 2n ** 63n) {
        throw new RangeError(`Cannot encode ${big} in ${where}`);
      }
      prefix(8);
      w.i64le(big);
      return;
    }
    case "bit":
      if (typeof value !== "boolean" && value !== 0 && value !== 1) {
        throw new TypeError(`Cannot encode ${String(value)} in ${where}`);
      }
      prefix(1);
      w.u8(value === true || value === 1 ? 1 : 0);
      return;
    case "float":
    case "real":
      if (typeof value !== "number") {
        throw new TypeError(`Cannot encode ${String(value)} in ${where}`);
      }
      if (column.type === "float") {
        prefix(8);
        w.f64le(value);
      } else {
        prefix(4);
        w.f32le(value);
      }
      return;
    case "decimal": {
      const scaled = scaleDecimal(value, plan.scale, where);
      const magnitude = scaled < 0n ? -scaled : scaled;
      if (magnitude >= 10n ** BigInt(plan.precision)) {
        throw new RangeError(
          `Cannot encode ${
            String(value)
          } in ${where}: more than ${plan.precision} digits`,
        );
      }
      const size = decimalBytes(plan.precision);
      w.u8(1 + size);
      w.u8(scaled < 0n ? 0 : 1);
      let rest = magnitude;
      for (let i = 0; i < size; i++) {
        w.u8(Number(rest & 0xffn));
        rest >>= 8n;
      }
      return;
    }
    case "datetime": {
      const ms = toEpochMs(value, where);
      let days = Math.floor(ms / MS_PER_DAY);
      let ticks = Math.round((ms - days * MS_PER_DAY) * 3 / 10);
      if (ticks >= 25_920_000) {
        days += 1;
        ticks = 0;
      }
      prefix(8);
      w.i32le(days + DAYS_TO_UNIX_EPOCH_FROM_1900);
      w.u32le(ticks);
      return;
    }
    case "datetime2": {
      const ms = toEpochMs(value, where);
      const days = Math.floor(ms / MS_PER_DAY);
      const msOfDay = ms - days * MS_PER_DAY;
      const ticks = plan.scale >= 3
        ? msOfDay * 10 ** (plan.scale - 3)
        : Math.min(
          Math.round(msOfDay / 10 ** (3 - plan.scale)),
          86400 * 10 ** plan.scale - 1,
        );
      const size = timeBytes(plan.scale);
      w.u8(size + 3);
      w.uintLe(ticks, size);
      w.uintLe(days + DAYS_TO_UNIX_EPOCH_FROM_0001, 3);
      return;
    }
    case "date": {
      const ms = toEpochMs(value, where);
      w.u8(3);
      w.uintLe(Math.floor(ms / MS_PER_DAY) + DAYS_TO_UNIX_EPOCH_FROM_0001, 3);
      return;
    }
    case "uniqueidentifier": {
      const hex = typeof value === "string" ? value.replace(/[{}-]/g, "") : "";
      if (!/^[0-9a-fA-F]{32}$/.test(hex)) {
        throw new TypeError(`Cannot encode ${String(value)} in ${where}`);
      }
      const b = Array.from(
        { length: 16 },
        (_, i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16),
      );
      // Data1-3 are little-endian on the wire, Data4 is as written.
      const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
      w.u8(16);
      for (const i of order) w.u8(b[i] as number);
      return;
    }
    case "nvarchar":
    case "varchar":
    case "varbinary": {
      let bytes: Uint8Array;
      if (column.type === "varbinary") {
        if (!(value instanceof Uint8Array)) {
          throw new TypeError(`Cannot encode a non-Uint8Array in ${where}`);
        }
        bytes = value;
      } else {
        if (typeof value !== "string") {
          throw new TypeError(`Cannot encode ${String(value)} in ${where}`);
        }
        bytes = column.type === "nvarchar"
          ? encodeUtf16(value)
          : encodeCp1252(value);
      }
      if (plan.plp) {
        writePlp(w, bytes);
        return;
      }
      if (bytes.length > plan.maxBytes) {
        throw new RangeError(
          `Cannot encode ${bytes.length} bytes in ${where}, which holds ${plan.maxBytes}`,
        );
      }
      w.u16le(bytes.length);
      w.bytes(bytes);
      return;
    }
  }
}

/** PLP_BODY (MS-TDS 2.2.5.2.3): total length, chunks, zero terminator. */
function writePlp(w: ByteWriter, bytes: Uint8Array): void {
  w.u64le(BigInt(bytes.length));
  const chunk = 8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    const part = bytes.subarray(i, i + chunk);
    w.u32le(part.length);
    w.bytes(part);
  }
  w.u32le(0);
}

function scaleDecimal(value: unknown, scale: number, where: string): bigint {
  let text: string;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw new TypeError(`Cannot encode ${value} in ${where}`);
    }
    text = value.toFixed(scale);
  } else if (typeof value === "bigint") {
    text = value.toString();
  } else if (typeof value === "string") {
    text = value.trim();
  } else {
    throw new TypeError(`Cannot encode ${String(value)} in ${where}`);
  }
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (match === null) {
    throw new TypeError(`Cannot encode "${text}" in ${where}`);
  }
  const fraction = match[3] ?? "";
  if (fraction.length > scale) {
    throw new RangeError(
      `Cannot encode "${text}" in ${where}: more than ${scale} decimal places`,
    );
  }
  const digits = BigInt((match[2] ?? "0") + fraction.padEnd(scale, "0"));
  return match[1] === "-" ? -digits : digits;
}

function toEpochMs(value: unknown, where: string): number {
  const date = value instanceof Date
    ? value
    : typeof value === "string" || typeof value === "number"
    ? new Date(value)
    : undefined;
  const ms = date?.getTime();
  if (ms === undefined || Number.isNaN(ms)) {
    throw new TypeError(`Cannot encode ${String(value)} in ${where}`);
  }
  return ms;
}

// ---------------------------------------------------------------------------
// RPC parameter decoding (TYPE_INFO, MS-TDS 2.2.5.4-2.2.5.6)
// ---------------------------------------------------------------------------

interface TypeInfo {
  id: number;
  name: string;
  length: number;
  scale: number;
  plp: boolean;
  lengthBytes: 0 | 1 | 2;
}

const FIXED_LENGTHS: Record<number, number> = {
  0x1f: 0, // NULLTYPE
  0x30: 1, // INT1
  0x32: 1, // BIT
  0x34: 2, // INT2
  0x38: 4, // INT4
  0x3a: 4, // DATETIM4
  0x3b: 4, // FLT4
  0x3c: 8, // MONEY
  0x3d: 8, // DATETIME
  0x3e: 8, // FLT8
  0x7a: 4, // MONEY4
  0x7f: 8, // INT8
};

function readTypeInfo(r: ByteReader, name: string): TypeInfo {
  const id = r.u8();
  const info: TypeInfo = {
    id,
    name,
    length: 0,
    scale: 0,
    plp: false,
    lengthBytes: 0,
  };
  const fixed = FIXED_LENGTHS[id];
  if (fixed !== undefined) {
    info.length = fixed;
    return info;
  }
  switch (id) {
    case 0x24: // GUID
    case 0x26: // INTN
    case 0x68: // BITN
    case 0x6d: // FLTN
    case 0x6e: // MONEYN
    case 0x6f: // DATETIMN
      info.length = r.u8();
      info.lengthBytes = 1;
      return info;
    case 0x6a: // DECIMALN
    case 0x6c: // NUMERICN
      info.length = r.u8();
      r.u8(); // precision
      info.scale = r.u8();
      info.lengthBytes = 1;
      return info;
    case 0x28: // DATEN
      info.lengthBytes = 1;
      return info;
    case 0x29: // TIMEN
    case 0x2a: // DATETIME2N
    case 0x2b: // DATETIMEOFFSETN
      info.scale = r.u8();
      info.lengthBytes = 1;
      return info;
    case 0xa5: // BIGVARBINARY
    case 0xad: // BIGBINARY
      info.length = r.u16le();
      info.plp = info.length === 0xffff;
      info.lengthBytes = 2;
      return info;
    case 0xa7: // BIGVARCHAR
    case 0xaf: // BIGCHAR
    case 0xe7: // NVARCHAR
    case 0xef: // NCHAR
      info.length = r.u16le();
      r.bytes(5); // collation
      info.plp = info.length === 0xffff;
      info.lengthBytes = 2;
      return info;
    default:
      throw new TypeError(
        `The TDS test server cannot decode RPC parameter ${name} of type 0x${
          id.toString(16)
        }`,
      );
  }
}

function readTypedValue(r: ByteReader, info: TypeInfo): unknown {
  let data: Uint8Array;
  if (info.plp) {
    const total = r.u64le();
    if (total === 0xffffffffffffffffn) return null;
    const chunks: Uint8Array[] = [];
    for (;;) {
      const size = r.u32le();
      if (size === 0) break;
      chunks.push(r.bytes(size));
    }
    data = concat(...chunks);
  } else if (info.lengthBytes === 2) {
    const size = r.u16le();
    if (size === 0xffff) return null;
    data = r.bytes(size);
  } else if (info.lengthBytes === 1) {
    const size = r.u8();
    if (size === 0) return null;
    data = r.bytes(size);
  } else {
    if (info.id === 0x1f) return null;
    data = r.bytes(info.length);
  }
  const d = new ByteReader(data);
  switch (info.id) {
    case 0x30:
    case 0x34:
    case 0x38:
    case 0x7f:
    case 0x26:
      switch (data.length) {
        case 1:
          return d.u8();
        case 2:
          return d.i16le();
        case 4:
          return d.i32le();
        default:
          return d.i64le();
      }
    case 0x32:
    case 0x68:
      return d.u8() !== 0;
    case 0x3b:
    case 0x3e:
    case 0x6d:
      return data.length === 4 ? d.f32le() : d.f64le();
    case 0x3c:
    case 0x7a:
    case 0x6e:
      if (data.length === 4) return d.i32le() / 10000;
      return (d.i32le() * 2 ** 32 + d.u32le()) / 10000;
    case 0x3a:
    case 0x3d:
    case 0x6f:
      if (data.length === 4) {
        const days = d.u16le();
        const minutes = d.u16le();
        return new Date(
          (days - DAYS_TO_UNIX_EPOCH_FROM_1900) * MS_PER_DAY + minutes * 60_000,
        );
      } else {
        const days = d.i32le();
        const ticks = d.u32le();
        return new Date(
          (days - DAYS_TO_UNIX_EPOCH_FROM_1900) * MS_PER_DAY +
            Math.round(ticks * 10 / 3),
        );
      }
    case 0x6a:
    case 0x6c: {
      const positive = d.u8() === 1;
      let magnitude = 0n;
      for (let i = data.length - 1; i >= 1; i--) {
        magnitude = (magnitude << 8n) | BigInt(data[i] as number);
      }
      const digits = magnitude.toString().padStart(info.scale + 1, "0");
      const text = info.scale === 0
        ? digits
        : `${digits.slice(0, -info.scale)}.${digits.slice(-info.scale)}`;
      return positive ? text : `-${text}`;
    }
    case 0x24: {
      const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
      const hex = order.map((i) =>
        (data[i] as number).toString(16).padStart(2, "0")
      ).join("").toUpperCase();
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${
        hex.slice(16, 20)
      }-${hex.slice(20)}`;
    }
    case 0x28:
      return new Date(
        (d.uintLe(3) - DAYS_TO_UNIX_EPOCH_FROM_0001) * MS_PER_DAY,
      );
    case 0x29:
    case 0x2a:
    case 0x2b: {
      const size = timeBytes(info.scale);
      const ms = d.uintLe(size) / 10 ** (info.scale - 3);
      if (info.id === 0x29) return new Date(ms);
      const days = d.uintLe(3) - DAYS_TO_UNIX_EPOCH_FROM_0001;
      return new Date(days * MS_PER_DAY + ms);
    }
    case 0xa5:
    case 0xad:
      return data.slice();
    case 0xa7:
    case 0xaf:
      return String.fromCharCode(...data);
    default: // 0xe7, 0xef
      return decodeUtf16(data);
  }
}

// ---------------------------------------------------------------------------
// Bytes
// ---------------------------------------------------------------------------

/** A growable little-endian writer for TDS structures. */
class ByteWriter {
  #buffer = new Uint8Array(256);
  #view = new DataView(this.#buffer.buffer);
  #length = 0;

  // Callers must reserve before touching #view: `this.#view.setX(this.#reserve(n), v)`
  // reads #view first, and would write through the old view after a growth.
  #reserve(n: number): number {
    const at = this.#length;
    if (at + n > this.#buffer.length) {
      let size = this.#buffer.length * 2;
      while (size < at + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.#buffer.subarray(0, at));
      this.#buffer = next;
      this.#view = new DataView(next.buffer);
    }
    this.#length += n;
    return at;
  }

  u8(v: number): void {
    const at = this.#reserve(1);
    this.#view.setUint8(at, v);
  }
  u16le(v: number): void {
    const at = this.#reserve(2);
    this.#view.setUint16(at, v, true);
  }
  u16be(v: number): void {
    const at = this.#reserve(2);
    this.#view.setUint16(at, v, false);
  }
  i16le(v: number): void {
    const at = this.#reserve(2);
    this.#view.setInt16(at, v, true);
  }
  u32le(v: number): void {
    const at = this.#reserve(4);
    this.#view.setUint32(at, v, true);
  }
  u32be(v: number): void {
    const at = this.#reserve(4);
    this.#view.setUint32(at, v, false);
  }
  i32le(v: number): void {
    const at = this.#reserve(4);
    this.#view.setInt32(at, v, true);
  }
  u64le(v: bigint): void {
    const at = this.#reserve(8);
    this.#view.setBigUint64(at, v, true);
  }
  i64le(v: bigint): void {
    const at = this.#reserve(8);
    this.#view.setBigInt64(at, v, true);
  }
  f32le(v: number): void {
    const at = this.#reserve(4);
    this.#view.setFloat32(at, v, true);
  }
  f64le(v: number): void {
    const at = this.#reserve(8);
    this.#view.setFloat64(at, v, true);
  }
  /** An unsigned integer of `size` bytes (up to 6), little-endian. */
  uintLe(v: number, size: number): void {
    let rest = v;
    for (let i = 0; i < size; i++) {
      this.u8(rest % 256);
      rest = Math.floor(rest / 256);
    }
  }
  bytes(b: Uint8Array): void {
    const at = this.#reserve(b.length);
    this.#buffer.set(b, at);
  }
  /** B_VARCHAR: a character count byte, then UTF-16LE. */
  bVarchar(s: string): void {
    if (s.length > 255) {
      throw new RangeError("A B_VARCHAR holds 255 characters");
    }
    this.u8(s.length);
    this.bytes(encodeUtf16(s));
  }
  /** US_VARCHAR: a character count USHORT, then UTF-16LE. */
  usVarchar(s: string): void {
    if (s.length > 65535) {
      throw new RangeError("A US_VARCHAR holds 65535 characters");
    }
    this.u16le(s.length);
    this.bytes(encodeUtf16(s));
  }
  finish(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }
}

/** A bounds-checked little-endian reader. */
class ByteReader {
  #bytes: Uint8Array;
  #view: DataView;
  offset: number;

  constructor(bytes: Uint8Array, offset = 0) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = offset;
  }

  get length(): number {
    return this.#bytes.length;
  }
  get remaining(): number {
    return this.#bytes.length - this.offset;
  }
  #take(n: number): number {
    if (n < 0 || this.offset + n > this.#bytes.length) {
      throw new RangeError(
        `A TDS structure is truncated: needed ${n} bytes at offset ${this.offset} of ${this.#bytes.length}`,
      );
    }
    const at = this.offset;
    this.offset += n;
    return at;
  }
  u8(): number {
    return this.#view.getUint8(this.#take(1));
  }
  u16le(): number {
    return this.#view.getUint16(this.#take(2), true);
  }
  i16le(): number {
    return this.#view.getInt16(this.#take(2), true);
  }
  u32le(): number {
    return this.#view.getUint32(this.#take(4), true);
  }
  i32le(): number {
    return this.#view.getInt32(this.#take(4), true);
  }
  u64le(): bigint {
    return this.#view.getBigUint64(this.#take(8), true);
  }
  i64le(): bigint {
    return this.#view.getBigInt64(this.#take(8), true);
  }
  f32le(): number {
    return this.#view.getFloat32(this.#take(4), true);
  }
  f64le(): number {
    return this.#view.getFloat64(this.#take(8), true);
  }
  uintLe(size: number): number {
    const at = this.#take(size);
    let v = 0;
    for (let i = size - 1; i >= 0; i--) {
      v = v * 256 + (this.#bytes[at + i] as number);
    }
    return v;
  }
  bytes(n: number): Uint8Array {
    const at = this.#take(n);
    return this.#bytes.subarray(at, at + n);
  }
  rest(): Uint8Array {
    return this.bytes(this.remaining);
  }
}

function slice(
  bytes: Uint8Array,
  offset: number,
  length: number,
  what: string,
): Uint8Array {
  if (offset + length > bytes.length) {
    throw new RangeError(
      `Cannot parse ${what}: ${length} bytes at offset ${offset} run past the ${bytes.length}-byte message`,
    );
  }
  return bytes.subarray(offset, offset + length);
}

function readU16be(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] as number) << 8) | (bytes[offset + 1] as number);
}

function encodeUtf16(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    out[i * 2] = unit & 0xff;
    out[i * 2 + 1] = unit >> 8;
  }
  return out;
}

const UTF16_DECODER = new TextDecoder("utf-16le");

function decodeUtf16(bytes: Uint8Array): string {
  return UTF16_DECODER.decode(bytes);
}

/** Latin-1 subset of code page 1252; anything else becomes `?`. */
function encodeCp1252(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[i] = c < 0x80 || (c >= 0xa0 && c <= 0xff) ? c : 0x3f;
  }
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------
// I/O helpers
// ---------------------------------------------------------------------------

async function writeAll(to: Transport, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await to.write(bytes.subarray(offset));
  }
}

async function pump(from: Transport, to: Transport): Promise<void> {
  const chunk = new Uint8Array(16 * 1024);
  try {
    for (;;) {
      const n = await from.read(chunk);
      if (n === null) return;
      await writeAll(to, chunk.subarray(0, n));
    }
  } catch (error) {
    if (!isConnectionGone(error)) throw error;
  }
}

function closeQuietly(resource: { close(): void }): void {
  try {
    resource.close();
  } catch {
    // already closed
  }
}

function isConnectionGone(error: unknown): boolean {
  return error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.NotConnected ||
    (error instanceof Error && error.name === "Interrupted");
}

/** Settles like `promise`, or rejects when `signal` aborts first. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", onAbort)
    );
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

// ---------------------------------------------------------------------------
// Throwaway certificate
// ---------------------------------------------------------------------------

/** A self-signed RSA certificate for CN=localhost, valid for one day. */
function createThrowawayCertificate(): { cert: string; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
  });
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  const publicPem = publicKey.export({ type: "spki", format: "pem" }) as string;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  cert.serialNumber = "01";
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + MS_PER_DAY);
  const attrs = [{ name: "commonName", value: "localhost" }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: [{ type: 2, value: "localhost" }, { type: 7, ip: "127.0.0.1" }],
    },
  ]);
  cert.sign(
    forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey,
    forge.md.sha256.create(),
  );
  return { cert: forge.pki.certificateToPem(cert), key: keyPem };
}
