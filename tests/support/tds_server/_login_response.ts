/**
 * The server's answer to LOGIN7: the checks a SQL Server login makes (TDS
 * version, SQL authentication only, password, database) and the LOGINACK
 * response with its ENVCHANGE and INFO tokens.
 *
 * @module
 */

import { ByteWriter } from "./_bytes.ts";
import {
  COLLATION,
  DONE_ERROR,
  DONE_FINAL,
  ENV_DATABASE,
  ENV_LANGUAGE,
  ENV_PACKET_SIZE,
  ENV_SQL_COLLATION,
  SERVER_VERSION,
  TOKEN_DONE,
  TOKEN_ERROR,
  TOKEN_FEATUREEXTACK,
  TOKEN_INFO,
  TOKEN_LOGINACK,
  TYPE_FLAG_READ_ONLY_INTENT,
} from "./_constants.ts";
import {
  writeDone,
  writeEnvChange,
  writeEnvChangeBytes,
  writeLengthPrefixedToken,
  writeMessageToken,
} from "./_tokens.ts";
import type { Login7Message } from "./login7.ts";
import type {
  TdsLoginRecord,
  TdsServerMessage,
  TdsServerOptions,
} from "./types.ts";

const TDS_7_2 = 0x72090002;
const TDS_7_4 = 0x74000004;
const FEATURE_FEDAUTH = 0x02;
const FEATURE_UTF8_SUPPORT = 0x0a;

/** What the session knows when a LOGIN7 arrives. */
export interface LoginContext {
  /** The server's users, databases and packet size override. */
  options: TdsServerOptions;
  /** Whether the login arrived over TLS. */
  encrypted: boolean;
  /** The server name in messages. */
  serverName: string;
}

/** The outcome of a login. */
export interface LoginAnswer {
  /** What to record; `succeeded` says whether the session may go on. */
  record: TdsLoginRecord;
  /** The response: LOGINACK and friends, or ERROR and DONE. */
  response: Uint8Array;
  /** The packet size the session uses from now on (after a success). */
  packetSize: number;
}

/** Checks a parsed LOGIN7 and builds the response to it. */
export function answerLogin7(
  login: Login7Message,
  context: LoginContext,
): LoginAnswer {
  const users = context.options.users;
  const databases = context.options.databases;
  const serverName = context.serverName;
  const expected = Object.hasOwn(users, login.userName)
    ? users[login.userName]
    : undefined;
  const passwordOk = expected !== undefined && expected === login.password;
  const database = login.database === "" ? databases[0] ?? "" : login.database;
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
    encrypted: context.encrypted,
    readOnlyIntent: (login.typeFlags & TYPE_FLAG_READ_ONLY_INTENT) !== 0,
  };
  const requested = context.options.packetSize ?? login.packetSize;
  const packetSize = Math.min(32767, Math.max(512, requested || 4096));

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
    writeMessageToken(w, TOKEN_ERROR, failure, serverName);
    writeDone(w, TOKEN_DONE, DONE_ERROR, 0, 0);
    return { record, response: w.finish(), packetSize };
  }

  record.succeeded = true;
  writeEnvChange(w, ENV_DATABASE, database, "master");
  writeMessageToken(w, TOKEN_INFO, {
    number: 5701,
    state: 2,
    class: 0,
    message: `Changed database context to '${database}'.`,
  }, serverName);
  writeEnvChangeBytes(w, ENV_SQL_COLLATION, COLLATION, new Uint8Array(0));
  writeEnvChange(w, ENV_LANGUAGE, "us_english", "");
  writeMessageToken(w, TOKEN_INFO, {
    number: 5703,
    state: 1,
    class: 0,
    message: "Changed language setting to us_english.",
  }, serverName);
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
  return { record, response: w.finish(), packetSize };
}
