/**
 * Console sessions in this process's memory (one replica, or tests).
 *
 * @module
 */
import {
  type ConsoleSession,
  type ConsoleSessions,
  type NewConsoleSession,
} from "./console_sessions.ts";
import { newSessionToken, sessionTokenDigest } from "./session_token.ts";

/** Options of {@linkcode MemoryConsoleSessions}. */
export interface MemoryConsoleSessionsOptions {
  /** The clock, epoch ms; default `Date.now`. */
  now?: () => number;
}

/** Sessions keyed by the SHA-256 of their token; expired ones are dropped as they are met. */
export class MemoryConsoleSessions implements ConsoleSessions {
  readonly #sessions = new Map<string, ConsoleSession>();
  readonly #now: () => number;

  /** An empty store. */
  constructor(options: MemoryConsoleSessionsOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Starts a session of `approver` that ends after `ttlSeconds`. */
  create(approver: string, ttlSeconds: number): Promise<NewConsoleSession> {
    this.#purge();
    const token = newSessionToken();
    const session = { approver, expiresAt: this.#now() + ttlSeconds * 1000 };
    this.#sessions.set(sessionTokenDigest(token), session);
    return Promise.resolve({ token, session });
  }

  /** The live session of `token`, or undefined. */
  get(token: string): Promise<ConsoleSession | undefined> {
    const key = sessionTokenDigest(token);
    const session = this.#sessions.get(key);
    if (session === undefined) return Promise.resolve(undefined);
    if (session.expiresAt <= this.#now()) {
      this.#sessions.delete(key);
      return Promise.resolve(undefined);
    }
    return Promise.resolve(session);
  }

  /** Ends the session of `token`. */
  delete(token: string): Promise<void> {
    this.#sessions.delete(sessionTokenDigest(token));
    return Promise.resolve();
  }

  /** Forgets every session. */
  close(): Promise<void> {
    this.#sessions.clear();
    return Promise.resolve();
  }

  /** How many sessions are held, expired ones included until purged (tests). */
  get size(): number {
    return this.#sessions.size;
  }

  #purge(): void {
    const now = this.#now();
    for (const [key, session] of this.#sessions) {
      if (session.expiresAt <= now) this.#sessions.delete(key);
    }
  }
}
