/**
 * One client connection, from PRELOGIN through TLS and LOGIN7 to the request
 * loop: SQL batches, `sp_executesql` RPCs, transaction manager requests and
 * ATTENTION.
 *
 * @module
 */

import { ByteReader, ByteWriter, decodeUtf16 } from "./_bytes.ts";
import {
  DONE_ATTN,
  DONE_FINAL,
  ENV_DATABASE,
  ENV_RESET_ACK,
  PACKET_ATTENTION,
  PACKET_LOGIN7,
  PACKET_PRELOGIN,
  PACKET_RPC,
  PACKET_SQL_BATCH,
  PACKET_TABULAR_RESULT,
  PACKET_TRANSACTION_MANAGER,
  TOKEN_DONE,
} from "./_constants.ts";
import {
  closeQuietly,
  isConnectionGone,
  sleep,
  type Transport,
  untilAborted,
  writeAll,
} from "./_io.ts";
import { answerLogin7 } from "./_login_response.ts";
import {
  framePackets,
  PacketReader,
  readAllHeaders,
  type TdsMessage,
} from "./_packets.ts";
import { answerPreLogin } from "./_prelogin.ts";
import { encodeResponse, isDelayed } from "./_results.ts";
import { readRpcParameters } from "./_rpc_params.ts";
import { answerSessionStatement } from "./_session_statements.ts";
import { startTlsRelay } from "./_tls_relay.ts";
import {
  errorResponse,
  errorTokens,
  rpcEnvelope,
  withFinalDone,
  writeDone,
  writeEnvChange,
  writeEnvChangeBytes,
} from "./_tokens.ts";
import {
  answerTransactionRequest,
  type TransactionState,
} from "./_transactions.ts";
import { parseLogin7 } from "./login7.ts";
import type { TdsTestServer } from "./start_tds_server.ts";
import type {
  TdsQueryResult,
  TdsRequestRecord,
  TdsResultPart,
} from "./types.ts";

const SP_EXECUTESQL = 10;

/** One client connection, from PRELOGIN to disconnect. */
export class TdsSession {
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
  #transaction: TransactionState = { transactionId: 0n, inTransaction: false };
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

  /** Ends the session: aborts the request in progress and closes the connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#current?.abort();
    if (this.#transport !== this.#raw) closeQuietly(this.#transport);
    closeQuietly(this.#raw);
    this.#push(null);
  }

  /** Serves the connection from PRELOGIN to disconnect; never rejects. */
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
    const { record, response } = answerPreLogin(
      message.payload,
      this.#server.tls !== undefined,
    );
    this.#server.preLogins.push(record);
    await this.#send(PACKET_TABULAR_RESULT, response);
    if (record.answered === "required") {
      await this.#waitForClientToClose();
      return false;
    }
    if (record.answered === "on") await this.#startTls();
    return true;
  }

  /** Hands the connection to the TLS relay once the handshake is done. */
  async #startTls(): Promise<void> {
    const tls = this.#server.tls;
    if (tls === undefined) throw new TypeError("TLS was not configured");
    const relay = await startTlsRelay({
      raw: this.#raw,
      reader: this.#reader,
      tls,
      send: (type, payload) => this.#send(type, payload),
    });
    this.#encrypted = true;
    this.#transport = relay.transport;
    this.#reader = relay.reader;
    this.#tlsCleanup = relay.cleanup;
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
    const answer = answerLogin7(login, {
      options: this.#server.options,
      encrypted: this.#encrypted,
      serverName: this.#serverName,
    });
    this.#server.logins.push(answer.record);
    if (!answer.record.succeeded) {
      await this.#send(PACKET_TABULAR_RESULT, answer.response);
      await this.#waitForClientToClose();
      return false;
    }
    this.#user = login.userName;
    this.#database = answer.record.database;
    this.#loginDatabase = answer.record.database;
    await this.#send(PACKET_TABULAR_RESULT, answer.response);
    this.#packetSize = answer.packetSize;
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
    const { transactionDescriptor } = readAllHeaders(r);
    const sql = decodeUtf16(r.rest());
    return await this.#answer("sql_batch", sql, {}, transactionDescriptor);
  }

  async #rpc(payload: Uint8Array): Promise<Uint8Array> {
    const r = new ByteReader(payload);
    const { transactionDescriptor } = readAllHeaders(r);
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
      this.#record("rpc", procedure, {}, "server", transactionDescriptor);
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
    const values = readRpcParameters(r);
    const statement = values[0];
    if (statement === undefined || typeof statement.value !== "string") {
      throw new TypeError("sp_executesql arrived without a @statement text");
    }
    const params: Record<string, unknown> = {};
    for (const { name, value } of values.slice(2)) {
      params[name.replace(/^@/, "")] = value;
    }
    return await this.#answer(
      "rpc",
      statement.value,
      params,
      transactionDescriptor,
    );
  }

  async #answer(
    kind: "sql_batch" | "rpc",
    sql: string,
    params: Record<string, unknown>,
    transactionDescriptor: bigint,
  ): Promise<Uint8Array> {
    const builtIn = this.#server.options.answerSessionStatements === false
      ? undefined
      : this.#sessionStatement(sql);
    if (builtIn !== undefined) {
      this.#record(kind, sql, params, "server", transactionDescriptor);
      return kind === "rpc"
        ? rpcEnvelope(builtIn.tokens, builtIn.failed)
        : builtIn.tokens;
    }
    const record = this.#record(
      kind,
      sql,
      params,
      "handler",
      transactionDescriptor,
    );
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
            transaction: {
              active: this.#transaction.inTransaction,
              descriptor: this.#transaction.transactionId,
            },
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
        transaction: this.#transaction,
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
    const answer = answerSessionStatement(sql, {
      databases: this.#server.options.databases,
      database: this.#database,
      serverName: this.#serverName,
    });
    if (answer?.database !== undefined) this.#database = answer.database;
    return answer;
  }

  /** TM_BEGIN_XACT, TM_COMMIT_XACT and TM_ROLLBACK_XACT (MS-TDS 2.2.6.9). */
  #transactionManager(payload: Uint8Array): Uint8Array {
    const { transactionDescriptor } = readAllHeaders(new ByteReader(payload));
    const { name, tokens } = answerTransactionRequest(
      payload,
      this.#transaction,
      this.#serverName,
    );
    this.#record("transaction", name, {}, "server", transactionDescriptor);
    return tokens;
  }

  #record(
    kind: TdsRequestRecord["kind"],
    sql: string,
    params: Record<string, unknown>,
    answeredBy: TdsRequestRecord["answeredBy"],
    transactionDescriptor: bigint,
  ): TdsRequestRecord {
    const record: TdsRequestRecord = {
      kind,
      sql,
      params,
      user: this.#user,
      database: this.#database,
      answeredBy,
      canceled: false,
      transactionDescriptor,
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
    const out = framePackets(type, payload, this.#packetSize, this.#spid);
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
