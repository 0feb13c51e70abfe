/**
 * What the connection guard logs, without letting a flood of bad
 * connections flood the log: the first refusal of a burst over
 * `HTTP_MAX_CONNECTIONS`, and the first connection closed for a header or
 * body timeout, each get a warning line naming the client and the setting;
 * the rest of the same kind within a minute are only counted, and one
 * `connection_guard_summary` line gives the counts when the minute is over.
 * An idle keep-alive connection closed after `HTTP_IDLE_TIMEOUT_SECONDS` is
 * normal and logged at debug level only.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { CloseReason } from "./guarded_connection.ts";

/** How long after a logged line the same kind is only counted (ms). */
export const GUARD_LOG_WINDOW_MS = 60_000;

/** The kinds of guard events that are counted. */
export type GuardEventKind = "refused" | "header_timeout" | "body_timeout";

/** The bounds the log lines name. */
export interface GuardLogLimits {
  readonly maxConnections: number;
  readonly headerTimeoutSeconds: number;
  readonly bodyTimeoutSeconds: number;
  readonly idleTimeoutSeconds: number;
}

/** The counts of everything the guard did since it started. */
export interface GuardCounts {
  /** Connections closed at once because `HTTP_MAX_CONNECTIONS` were open. */
  readonly refused: number;
  readonly headerTimeouts: number;
  readonly bodyTimeouts: number;
  readonly idleTimeouts: number;
}

const SETTING: Record<Exclude<CloseReason, "shutdown">, string> = {
  header_timeout: "HTTP_HEADER_TIMEOUT_SECONDS",
  body_timeout: "HTTP_BODY_TIMEOUT_SECONDS",
  idle_timeout: "HTTP_IDLE_TIMEOUT_SECONDS",
};

/** Rate-limited log lines and running counts of the guard's refusals and closes. */
export class GuardLog {
  readonly #log: Logger;
  readonly #limits: GuardLogLimits;
  readonly #windowMs: number;
  readonly #loggedAt = new Map<GuardEventKind, number>();
  readonly #suppressed = new Map<GuardEventKind, number>();
  #windowStart: number | undefined;
  #refused = 0;
  #headerTimeouts = 0;
  #bodyTimeouts = 0;
  #idleTimeouts = 0;

  /** Logs through `log`; `windowMs` defaults to {@linkcode GUARD_LOG_WINDOW_MS}. */
  constructor(log: Logger, limits: GuardLogLimits, windowMs?: number) {
    this.#log = log;
    this.#limits = limits;
    this.#windowMs = windowMs ?? GUARD_LOG_WINDOW_MS;
  }

  /** Everything counted so far. */
  get counts(): GuardCounts {
    return {
      refused: this.#refused,
      headerTimeouts: this.#headerTimeouts,
      bodyTimeouts: this.#bodyTimeouts,
      idleTimeouts: this.#idleTimeouts,
    };
  }

  /**
   * A connection closed at once: `limit` were open (`HTTP_MAX_CONNECTIONS`,
   * or the lower cap after descriptors ran out).
   */
  refused(clientIp: string, open: number, limit: number, now: number): void {
    this.#refused++;
    if (!this.#first("refused", now)) return;
    const lowered = limit < this.#limits.maxConnections
      ? `, lowered from HTTP_MAX_CONNECTIONS=${this.#limits.maxConnections} when file descriptors ran out`
      : ` (HTTP_MAX_CONNECTIONS)`;
    this.#log.warn("connection_refused", {
      reason: "max_connections",
      client_ip: clientIp,
      open,
      limit,
      setting: "HTTP_MAX_CONNECTIONS",
      message:
        `${open} client connections are open, the limit is ${limit}${lowered}; new ones are closed at once until some end. Further refusals within a minute are only counted`,
    });
  }

  /** The guard closed a connection for `reason`. */
  closed(reason: CloseReason, clientIp: string, now: number): void {
    if (reason === "shutdown") return;
    if (reason === "idle_timeout") {
      this.#idleTimeouts++;
      this.#log.debug("connection_closed", {
        reason,
        client_ip: clientIp,
        timeout_seconds: this.#limits.idleTimeoutSeconds,
        setting: SETTING[reason],
      });
      return;
    }
    if (reason === "header_timeout") this.#headerTimeouts++;
    else this.#bodyTimeouts++;
    if (!this.#first(reason, now)) return;
    const seconds = reason === "header_timeout"
      ? this.#limits.headerTimeoutSeconds
      : this.#limits.bodyTimeoutSeconds;
    this.#log.warn("connection_closed", {
      reason,
      client_ip: clientIp,
      timeout_seconds: seconds,
      setting: SETTING[reason],
      message: reason === "header_timeout"
        ? `A request's headers did not arrive within ${seconds} s (HTTP_HEADER_TIMEOUT_SECONDS): connection closed with 408. Further ones within a minute are only counted`
        : `A request's body did not arrive within ${seconds} s (HTTP_BODY_TIMEOUT_SECONDS): answered 408 and closed. Further ones within a minute are only counted`,
    });
  }

  /** File descriptors ran out with `open` connections; the cap is now `cap`. */
  outOfDescriptors(open: number, cap: number): void {
    this.#log.error("connection_limit_lowered", {
      reason: "out_of_file_descriptors",
      open,
      limit: cap,
      setting: "HTTP_MAX_CONNECTIONS",
      message:
        `The process ran out of file descriptors with ${open} client connections open (HTTP_MAX_CONNECTIONS=${this.#limits.maxConnections}); at most ${cap} are taken from now until a restart. Raise LimitNOFILE (systemd) or the container's nofile ulimit to 3 x HTTP_MAX_CONNECTIONS + 8 x EXECUTOR_MAX_CONCURRENT + 128, or lower HTTP_MAX_CONNECTIONS`,
    });
  }

  /** Writes the summary of what was only counted once its minute is over. */
  flush(now: number, force = false): void {
    if (this.#windowStart === undefined) return;
    if (!force && now - this.#windowStart < this.#windowMs) return;
    this.#log.warn("connection_guard_summary", {
      refused: this.#suppressed.get("refused") ?? 0,
      header_timeout: this.#suppressed.get("header_timeout") ?? 0,
      body_timeout: this.#suppressed.get("body_timeout") ?? 0,
      window_seconds: Math.round((now - this.#windowStart) / 1000),
    });
    this.#suppressed.clear();
    this.#windowStart = undefined;
  }

  /** Whether this event of `kind` gets its own line; counts it otherwise. */
  #first(kind: GuardEventKind, now: number): boolean {
    const last = this.#loggedAt.get(kind);
    if (last === undefined || now - last >= this.#windowMs) {
      this.#loggedAt.set(kind, now);
      return true;
    }
    this.#suppressed.set(kind, (this.#suppressed.get(kind) ?? 0) + 1);
    this.#windowStart ??= now;
    return false;
  }
}
