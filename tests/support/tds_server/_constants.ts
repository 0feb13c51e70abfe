/**
 * Protocol constants that more than one part of the server uses (MS-TDS
 * 2.2.3.1 packet types, 2.2.7 tokens). Constants of one concern live in its
 * file.
 *
 * @module
 */

/** Packet type of a SQL batch. */
export const PACKET_SQL_BATCH = 0x01;
/** Packet type of an RPC request. */
export const PACKET_RPC = 0x03;
/** Packet type of every server response. */
export const PACKET_TABULAR_RESULT = 0x04;
/** Packet type of an ATTENTION (cancel). */
export const PACKET_ATTENTION = 0x06;
/** Packet type of a transaction manager request. */
export const PACKET_TRANSACTION_MANAGER = 0x0e;
/** Packet type of LOGIN7. */
export const PACKET_LOGIN7 = 0x10;
/** Packet type of PRELOGIN, and of TLS handshake records during PRELOGIN. */
export const PACKET_PRELOGIN = 0x12;

/** RETURNSTATUS token. */
export const TOKEN_RETURNSTATUS = 0x79;
/** COLMETADATA token. */
export const TOKEN_COLMETADATA = 0x81;
/** ERROR token. */
export const TOKEN_ERROR = 0xaa;
/** INFO token. */
export const TOKEN_INFO = 0xab;
/** LOGINACK token. */
export const TOKEN_LOGINACK = 0xad;
/** FEATUREEXTACK token. */
export const TOKEN_FEATUREEXTACK = 0xae;
/** ROW token. */
export const TOKEN_ROW = 0xd1;
/** NBCROW token (a row with a null bitmap). */
export const TOKEN_NBCROW = 0xd2;
/** ENVCHANGE token. */
export const TOKEN_ENVCHANGE = 0xe3;
/** DONE token. */
export const TOKEN_DONE = 0xfd;
/** DONEPROC token. */
export const TOKEN_DONEPROC = 0xfe;
/** DONEINPROC token. */
export const TOKEN_DONEINPROC = 0xff;

/** DONE status: the final DONE of a response. */
export const DONE_FINAL = 0x0000;
/** DONE status: more results follow. */
export const DONE_MORE = 0x0001;
/** DONE status: the statement failed. */
export const DONE_ERROR = 0x0002;
/** DONE status: the row count is valid. */
export const DONE_COUNT = 0x0010;
/** DONE status: acknowledges an ATTENTION. */
export const DONE_ATTN = 0x0020;

/** LOGIN7 TypeFlags: fReadOnlyIntent, the client's ApplicationIntent=ReadOnly (MS-TDS 2.2.6.4). */
export const TYPE_FLAG_READ_ONLY_INTENT = 0x20;

/** ALL_HEADERS header type: Transaction Descriptor (MS-TDS 2.2.5.3.2). */
export const HEADER_TRANSACTION_DESCRIPTOR = 0x0002;

/** ENVCHANGE type: database. */
export const ENV_DATABASE = 1;
/** ENVCHANGE type: language. */
export const ENV_LANGUAGE = 2;
/** ENVCHANGE type: packet size. */
export const ENV_PACKET_SIZE = 4;
/** ENVCHANGE type: SQL collation. */
export const ENV_SQL_COLLATION = 7;
/** ENVCHANGE type: transaction began. */
export const ENV_BEGIN_TRAN = 8;
/** ENVCHANGE type: transaction committed. */
export const ENV_COMMIT_TRAN = 9;
/** ENVCHANGE type: transaction rolled back. */
export const ENV_ROLLBACK_TRAN = 10;
/** ENVCHANGE type: acknowledges a connection reset. */
export const ENV_RESET_ACK = 18;

/** SQL_Latin1_General_CP1_CI_AS: LCID 0x0409, CI/AI-less flags, sort id 52. */
export const COLLATION = new Uint8Array([0x09, 0x04, 0xd0, 0x00, 0x34]);
/** SQL Server 2022 (16.0.1000). */
export const SERVER_VERSION = { major: 16, minor: 0, build: 1000 };

/** Days from 0001-01-01 to 1970-01-01. */
export const DAYS_TO_UNIX_EPOCH_FROM_0001 = 719162;
/** Days from 1900-01-01 to 1970-01-01. */
export const DAYS_TO_UNIX_EPOCH_FROM_1900 = 25567;
/** Milliseconds in a day. */
export const MS_PER_DAY = 86_400_000;
