/**
 * Approval requests in Redis (`HANDLE_STORE=redis`), shared by every
 * replica: an approver on replica B decides a request a call waits for on
 * replica A, and A hears of it at once through pub/sub.
 *
 * Keys, under `P` = `REDIS_KEY_PREFIX` + `approvals:`, for a request `ID`
 * (22 base64url characters):
 *
 * - `P{ID}` a hash: `request` (JSON of what does not change: the subject,
 *   id, createdAt, expiresAt), `state`, `expiresAt`, and once decided
 *   `decidedAt`, `approver`, `comment`. Its TTL is the time left to wait plus
 *   the retention time (24 h), reset to the retention time by a decision.
 * - `P{ID}:waiter` the waiting call's lease (`PX` = lease time, renewed by
 *   the waiter). A decision finds it gone when the waiter's replica died or
 *   restarted, and expires the request instead: a restart approves nothing.
 * - `Pindex` a sorted set of ids scored by creation time, for the list:
 *   entries older than the retention time are dropped, and the oldest beyond
 *   the cap (500).
 * - channel `Pchanged`: `{"id": ..., "state": ...}` on every creation and
 *   change; nothing else travels on it.
 *
 * Atomicity: create, transition and renew are each one Lua script (EVALSHA,
 * EVAL on NOSCRIPT): of any number of concurrent decisions and an expiry,
 * on any replicas, exactly one finds the request pending. The script that
 * changes the state returns the whole request as it left it, so the loser
 * learns what won in the same step. A decision's deadline is checked against
 * the deciding replica's clock (`decidedAt` > `expiresAt` refuses it); keep
 * replicas on NTP.
 *
 * Connections: one for commands (never resending a command whose answer was
 * lost: a resent decision would report "not pending" for its own success),
 * and a separate subscriber, which ioredis resubscribes after a reconnect.
 * The broker also polls each waiting request, so a message lost while the
 * subscriber was down delays a wake-up but never loses it. Not for Redis
 * Cluster (the scripts touch the index and a request's keys together).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { Redis } from "ioredis";
import {
  redisClientOptions,
  type RedisConnectionOptions,
  redisEndpoint,
} from "../../vault/redis_handle_store.ts";
import {
  type LuaScript,
  luaScript,
  RedisHealth,
  runLua,
} from "../../vault/redis_connection.ts";
import type { ApprovalRequest, ApprovalState } from "./approval.ts";
import {
  APPROVAL_RETENTION_MS,
  type ApprovalChange,
  type ApprovalStore,
  ApprovalStoreError,
  type ApprovalStoreEvent,
  MAX_LISTED_APPROVALS,
  type TransitionResult,
} from "./approval_store.ts";

const log = getLogger(["gateway", "approvals"]);

/** Options of {@linkcode RedisApprovalStore}. */
export interface RedisApprovalStoreOptions extends RedisConnectionOptions {
  /** `REDIS_KEY_PREFIX`; the store's keys are under it + `approvals:`. */
  readonly keyPrefix: string;
  /** How long decided requests stay listed (default 24 hours). */
  readonly retentionMs?: number;
  /** Most requests listed (default 500). */
  readonly maxListed?: number;
  /** Time allowed to open a connection (default 5000). */
  readonly connectTimeoutMs?: number;
  /** Time allowed for one command's answer (default 5000). */
  readonly commandTimeoutMs?: number;
}

/** A request id as the broker makes them: 128 bits in base64url. */
const ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;
const STATES: readonly ApprovalState[] = [
  "pending",
  "approved",
  "denied",
  "expired",
];

/**
 * KEYS: request, waiter, index. ARGV: request JSON, expiresAt, createdAt, id,
 * lease ms, request TTL ms, cap, oldest score kept, index TTL ms, channel,
 * message. Returns 0 when the id exists.
 */
const CREATE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'request', ARGV[1], 'state', 'pending', 'expiresAt', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[8])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[7]) + 1))
redis.call('PEXPIRE', KEYS[3], ARGV[9])
redis.call('PUBLISH', ARGV[10], ARGV[11])
return 1
`;

/**
 * KEYS: request, waiter. ARGV: state, decidedAt, approver, comment,
 * '1' for a decision, retention ms, channel, id. Returns
 * {outcome, field, value, ...} with the request's hash after the step.
 */
const TRANSITION_SCRIPT = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'not_found'} end
if state ~= 'pending' then
  local out = {'not_pending'}
  for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do out[#out + 1] = v end
  return out
end
local target = ARGV[1]
local outcome = 'changed'
if ARGV[5] == '1' then
  local expiresAt = tonumber(redis.call('HGET', KEYS[1], 'expiresAt'))
  if tonumber(ARGV[2]) > expiresAt or redis.call('EXISTS', KEYS[2]) == 0 then
    target = 'expired'
    outcome = 'expired'
  end
end
redis.call('HSET', KEYS[1], 'state', target, 'decidedAt', ARGV[2])
if outcome == 'changed' then
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'approver', ARGV[3]) end
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'comment', ARGV[4]) end
end
redis.call('DEL', KEYS[2])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PUBLISH', ARGV[7], '{"id":"' .. ARGV[8] .. '","state":"' .. target .. '"}')
local out = {outcome}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do out[#out + 1] = v end
return out
`;

/** KEYS: request, waiter. ARGV: lease ms. Returns the state, or nil when gone. */
const RENEW_SCRIPT = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return false end
if state == 'pending' then redis.call('SET', KEYS[2], '1', 'PX', ARGV[1]) end
return state
`;

const CREATE = luaScript(CREATE_SCRIPT);
const TRANSITION = luaScript(TRANSITION_SCRIPT);
const RENEW = luaScript(RENEW_SCRIPT);

/** Approval requests in Redis; see the module doc. */
export class RedisApprovalStore implements ApprovalStore {
  readonly #client: Redis;
  readonly #subscriber: Redis;
  readonly #prefix: string;
  readonly #channel: string;
  readonly #retentionMs: number;
  readonly #maxListed: number;
  readonly #endpoint: string;
  readonly #health: RedisHealth;
  readonly #listeners = new Set<(event: ApprovalStoreEvent) => void>();
  #closed = false;

  /** Creates the store and starts connecting (commands wait for the connection). */
  constructor(options: RedisApprovalStoreOptions) {
    if (!/^[\x21-\x7e]{1,128}$/.test(options.keyPrefix)) {
      throw new RangeError(
        "Redis key prefix must be 1 to 128 printable characters without spaces",
      );
    }
    this.#prefix = `${options.keyPrefix}approvals:`;
    this.#channel = `${this.#prefix}changed`;
    this.#retentionMs = options.retentionMs ?? APPROVAL_RETENTION_MS;
    this.#maxListed = options.maxListed ?? MAX_LISTED_APPROVALS;
    this.#endpoint = redisEndpoint(options);
    this.#health = new RedisHealth({
      name: "Approval store",
      endpoint: this.#endpoint,
      ...(options.password === undefined
        ? {}
        : { password: options.password.reveal() }),
      log,
      // Closing drops the connections: nothing to warn about.
      quiet: () => this.#closed,
    });
    const common = {
      ...redisClientOptions(options),
      retryStrategy: (attempt: number) => Math.min(attempt * 250, 2000),
    };
    this.#client = new Redis({
      ...common,
      commandTimeout: options.commandTimeoutMs ?? 5000,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    });
    this.#subscriber = new Redis(common);
    this.#health.watch(this.#client);
    this.#health.watch(this.#subscriber);
    this.#subscriber.on("message", (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      const event = parseEvent(message);
      if (event !== undefined) this.#emit(event);
    });
    this.#subscriber.subscribe(this.#channel).catch((error: unknown) =>
      this.#health.failed(error)
    );
  }

  /** `redis[s]://host:port/db`, without credentials. */
  get endpoint(): string {
    return this.#endpoint;
  }

  /** Stores a new pending request and publishes it. */
  async create(request: ApprovalRequest, leaseMs: number): Promise<void> {
    const keys = this.#keys(request.id);
    if (keys === undefined) {
      throw new RangeError(
        "Approval request id must be 22 base64url characters",
      );
    }
    const now = Date.now();
    const created = await this.#run(
      CREATE,
      [...keys, `${this.#prefix}index`],
      [
        JSON.stringify(fixedPart(request)),
        String(request.expiresAt),
        String(request.createdAt),
        request.id,
        String(wholeMs(leaseMs)),
        String(
          wholeMs(Math.max(0, request.expiresAt - now) + this.#retentionMs),
        ),
        String(this.#maxListed),
        String(now - this.#retentionMs),
        String(wholeMs(2 * this.#retentionMs)),
        this.#channel,
        JSON.stringify({ id: request.id, state: request.state }),
      ],
    );
    if (created !== 1) {
      throw new RangeError(`Approval request ${request.id} exists already`);
    }
  }

  /** One request, or undefined. */
  async get(id: string): Promise<ApprovalRequest | undefined> {
    const keys = this.#keys(id);
    if (keys === undefined) return undefined;
    const hash = await this.#call(() => this.#client.hgetall(keys[0]));
    return fromHash(hash);
  }

  /** Requests of the index, newest first. */
  async list(): Promise<ApprovalRequest[]> {
    const index = `${this.#prefix}index`;
    const ids = await this.#call(() =>
      this.#client.zrevrange(index, 0, this.#maxListed - 1)
    );
    if (ids.length === 0) return [];
    const replies = await this.#call(async () => {
      const pipeline = this.#client.pipeline();
      for (const id of ids) pipeline.hgetall(`${this.#prefix}{${id}}`);
      return await pipeline.exec();
    });
    const requests: ApprovalRequest[] = [];
    for (const [error, hash] of replies ?? []) {
      if (error !== null) continue;
      const request = fromHash(hash as Record<string, string>);
      if (request !== undefined) requests.push(request);
    }
    return requests;
  }

  /** Moves a pending request to a final state in one script. */
  async transition(
    id: string,
    change: ApprovalChange,
  ): Promise<TransitionResult> {
    const keys = this.#keys(id);
    if (keys === undefined) return { outcome: "not_found" };
    const reply = await this.#run(TRANSITION, keys, [
      change.state,
      String(change.decidedAt),
      change.approver ?? "",
      change.comment ?? "",
      change.decision ? "1" : "0",
      String(wholeMs(this.#retentionMs)),
      this.#channel,
      id,
    ]);
    if (!Array.isArray(reply) || typeof reply[0] !== "string") {
      throw this.#unexpected();
    }
    const outcome = reply[0];
    if (outcome === "not_found") return { outcome };
    const hash: Record<string, string> = {};
    for (let i = 1; i + 1 < reply.length; i += 2) {
      hash[String(reply[i])] = String(reply[i + 1]);
    }
    const request = fromHash(hash);
    if (
      request === undefined ||
      (outcome !== "changed" && outcome !== "expired" &&
        outcome !== "not_pending")
    ) {
      throw this.#unexpected();
    }
    return { outcome, request };
  }

  /** Extends the waiter's lease of a pending request. */
  async renew(id: string, leaseMs: number): Promise<ApprovalState | undefined> {
    const keys = this.#keys(id);
    if (keys === undefined) return undefined;
    const reply = await this.#run(RENEW, keys, [String(wholeMs(leaseMs))]);
    if (reply === null) return undefined;
    if (!STATES.includes(reply as ApprovalState)) throw this.#unexpected();
    return reply as ApprovalState;
  }

  /** Calls `listener` for every message on the channel (from every replica, this one included). */
  onChange(listener: (event: ApprovalStoreEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Closes both connections; the requests stay in Redis. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    for (const connection of [this.#subscriber, this.#client]) {
      try {
        // quit() on a connection that is down waits for it to come back.
        if (connection.status === "ready") await connection.quit();
      } catch {
        // Not connected: nothing to say goodbye to.
      } finally {
        connection.disconnect();
      }
    }
  }

  /** The request and waiter keys of an id; undefined for an id the broker never makes. */
  #keys(id: string): [string, string] | undefined {
    if (!ID_PATTERN.test(id)) return undefined;
    const key = `${this.#prefix}{${id}}`;
    return [key, `${key}:waiter`];
  }

  #emit(event: ApprovalStoreEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  #run(
    script: LuaScript,
    keys: string[],
    args: string[],
  ): Promise<unknown> {
    return this.#call(() => runLua(this.#client, script, keys, args));
  }

  async #call<T>(command: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      throw new ApprovalStoreError(
        "Approval store unavailable: the Redis connection is closed (the service is shutting down); retry on another replica",
      );
    }
    try {
      return await command();
    } catch (error) {
      throw new ApprovalStoreError(
        `Approval store unavailable: Redis at ${this.#endpoint}: ${
          this.#health.cause(error)
        }; check REDIS_URL and that Redis is reachable`,
      );
    }
  }

  #unexpected(): ApprovalStoreError {
    return new ApprovalStoreError(
      "Approval store answered an unexpected value; check that REDIS_URL points at Redis 6 or later and that nothing else writes under REDIS_KEY_PREFIX",
    );
  }
}

function wholeMs(ms: number): number {
  return Math.max(1, Math.ceil(ms));
}

/** What does not change over a request's life: all but the decision fields. */
function fixedPart(request: ApprovalRequest): Record<string, unknown> {
  const {
    state: _state,
    decidedAt: _decidedAt,
    approver: _approver,
    comment: _comment,
    ...fixed
  } = request;
  return fixed;
}

/** A request from its hash; undefined when gone or malformed. */
function fromHash(
  hash: Record<string, string> | null | undefined,
): ApprovalRequest | undefined {
  if (hash === null || hash === undefined || hash.request === undefined) {
    return undefined;
  }
  let fixed: unknown;
  try {
    fixed = JSON.parse(hash.request);
  } catch {
    return undefined;
  }
  if (typeof fixed !== "object" || fixed === null) return undefined;
  const f = fixed as Record<string, unknown>;
  const state = hash.state as ApprovalState;
  if (
    typeof f.id !== "string" || typeof f.principal !== "string" ||
    typeof f.tool !== "string" || typeof f.createdAt !== "number" ||
    typeof f.expiresAt !== "number" || !STATES.includes(state)
  ) {
    return undefined;
  }
  const decidedAt = Number(hash.decidedAt);
  return {
    ...(fixed as Omit<ApprovalRequest, "state">),
    state,
    ...(hash.decidedAt === undefined || !Number.isFinite(decidedAt)
      ? {}
      : { decidedAt }),
    ...(hash.approver === undefined ? {} : { approver: hash.approver }),
    ...(hash.comment === undefined ? {} : { comment: hash.comment }),
  };
}

function parseEvent(message: string): ApprovalStoreEvent | undefined {
  try {
    const value = JSON.parse(message) as Record<string, unknown>;
    if (
      typeof value.id === "string" && ID_PATTERN.test(value.id) &&
      STATES.includes(value.state as ApprovalState)
    ) {
      return { id: value.id, state: value.state as ApprovalState };
    }
  } catch {
    // Not ours.
  }
  return undefined;
}
