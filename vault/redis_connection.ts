/**
 * What every Redis-backed store of the service shares about its
 * connection: Lua scripts run with EVALSHA and an EVAL fallback, and
 * {@linkcode RedisHealth}, which logs a connection's failures once per
 * cause and its recovery, and names the real cause (never the password)
 * when a command fails.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { Logger } from "@logtape/logtape";
import type { Redis } from "ioredis";

/** A Lua script and its SHA-1, as EVALSHA names it. */
export interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

/** A script ready for {@linkcode runLua}. */
export function luaScript(source: string): LuaScript {
  return { source, sha: createHash("sha1").update(source).digest("hex") };
}

/**
 * Runs a script by its SHA-1, sending its source only when Redis does not
 * know it yet (after a restart or a SCRIPT FLUSH).
 */
export async function runLua(
  client: Redis,
  { source, sha }: LuaScript,
  keys: readonly string[],
  args: readonly string[],
): Promise<unknown> {
  try {
    return await client.evalsha(sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!String((error as Error)?.message).startsWith("NOSCRIPT")) throw error;
    return await client.eval(source, keys.length, ...keys, ...args);
  }
}

/** Options of {@linkcode RedisHealth}. */
export interface RedisHealthOptions {
  /** What the store is called in log lines, e.g. `Handle store` (no braces). */
  readonly name: string;
  /** `redis[s]://host:port/db`, without credentials. */
  readonly endpoint: string;
  /** The connection's password, cut out of every message. */
  readonly password?: string;
  readonly log: Logger;
  /** True while failures are expected and not worth a warning (closing). */
  readonly quiet?: () => boolean;
}

/** The state of a store's connections, for its log lines and its errors. */
export class RedisHealth {
  readonly #options: RedisHealthOptions;
  #lastError = "";

  /** Creates the tracker; {@linkcode RedisHealth.watch} attaches it to connections. */
  constructor(options: RedisHealthOptions) {
    this.#options = options;
  }

  /**
   * Follows a connection's `error` and `ready` events: a warning the first
   * time a cause appears, an info line when the connection is back.
   */
  watch(client: Redis): void {
    client.on("error", (error: unknown) => this.failed(error));
    client.on("ready", () => {
      if (this.#lastError !== "") {
        this.#options.log.info(
          `${this.#options.name} at {endpoint} reachable again`,
          { endpoint: this.#options.endpoint },
        );
      }
      this.#lastError = "";
    });
  }

  /** Records a connection failure, warning once per cause. */
  failed(error: unknown): void {
    const message = this.clean(error);
    if (message !== this.#lastError && !(this.#options.quiet?.() ?? false)) {
      this.#options.log.warn(
        `${this.#options.name} at {endpoint} failed: {message}`,
        {
          endpoint: this.#options.endpoint,
          message,
        },
      );
    }
    this.#lastError = message;
  }

  /**
   * Why a command failed: ioredis reports why the connection failed in its
   * `error` event and only "max retries" on the command, so the real cause
   * is named where there is one.
   */
  cause(error: unknown): string {
    return /max retries per request/i.test(String(error)) &&
        this.#lastError !== ""
      ? this.#lastError
      : this.clean(error);
  }

  /** An error's message on one line, with the password cut out. */
  clean(error: unknown): string {
    let message = error instanceof Error ? error.message : String(error);
    const { password } = this.#options;
    if (password !== undefined && password !== "") {
      message = message.replaceAll(password, "[redacted]");
    }
    return message.replace(/\s+/g, " ").trim().replace(/\.$/, "").slice(
      0,
      300,
    );
  }
}
