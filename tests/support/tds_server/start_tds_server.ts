/**
 * The listener: accepts connections on 127.0.0.1, runs one session per
 * connection, and holds what every session records.
 *
 * @module
 */

import { createThrowawayCertificate } from "./_certificate.ts";
import { TdsSession } from "./_session.ts";
import type {
  RunningTdsServer,
  TdsLoginRecord,
  TdsPreLoginRecord,
  TdsRequestRecord,
  TdsServerOptions,
} from "./types.ts";

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

/** Listens, accepts connections and keeps what every session records. */
export class TdsTestServer implements RunningTdsServer {
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
