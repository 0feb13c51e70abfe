/**
 * A handle store in Redis, shared by every gateway replica: a handle issued by
 * one replica can be redeemed on any other, still exactly once.
 *
 * Keys, for a handle whose store key is `K` (64 hex characters, a hash of the
 * handle) under the prefix `P` (`REDIS_KEY_PREFIX`):
 *
 * - `P{K}` the live entry, encrypted (below), with `PX` = the handle TTL. Redis
 *   deletes it when the TTL ends, so an expired secret does not stay in Redis.
 * - `P{K}:state` the tombstone: `issued` from `put` on, with `PX` = TTL +
 *   tombstone time, so once the entry has expired it still answers `expired`
 *   (not `unknown`) for the tombstone time, like the in-memory store; `consumed`
 *   with `PX` = tombstone time from a single-use `take` on; `reserved:<id>`
 *   while a call holds the handle (below). When it expires too, the handle is
 *   `unknown`.
 * - `P{K}:expiry` only while the entry is reserved: its `PX` is what was left
 *   of the entry's TTL when it was reserved, so the original expiry is kept
 *   on Redis's clock without reading it.
 *
 * The `{K}` hash tag keeps a handle's keys in one cluster slot, as a script
 * needs.
 *
 * Atomicity: `put`, `peek`, `take`, `reserve`, `claim` and `release` are
 * each one Lua script (EVALSHA, EVAL on NOSCRIPT), and Redis runs a script as
 * one step. A single-use `take` reads the entry, deletes it and writes the
 * `consumed` tombstone in that step, so of any number of concurrent takes on
 * any replicas exactly one gets the entry (and of concurrent reserves exactly
 * one reserves it). The client never resends a command after a dropped
 * connection (`autoResendUnfulfilledCommands: false`): a take whose answer
 * was lost fails with {@linkcode HandleStoreError} and the handle counts as
 * used (fail closed), rather than a resent take answering "already consumed".
 *
 * Reservations (a call waiting for a second person's approval): `reserve`
 * sets the state to `reserved:<id>`, copies the entry's remaining TTL to
 * `P{K}:expiry` and extends the entry's `PX` to the hold time (never
 * shortening it), in one script. `peek` and `take` answer `reserved` and
 * touch nothing. `claim` and `release` (one script) act only when the state
 * names their id: a claimed single-use entry is consumed as by `take`;
 * otherwise the entry gets back the `PTTL` of `P{K}:expiry` (deleted, as is
 * the entry, when that has run out: `expired`). A hold that ends with neither
 * leaves the `reserved:` state as the tombstone: `expired`.
 *
 * Clock: Redis ends the TTLs on the Redis server's clock. Redis stores an
 * expiry as a wall-clock deadline, so a step of that host's clock moves it;
 * keep the Redis host on NTP. No replica's clock takes part.
 *
 * Encryption: Redis never holds a plaintext secret or account field. An entry
 * is serialized to JSON (the only place in this file where a secret is
 * revealed: {@linkcode serializeEntry}), its scope (protocol and ports) and
 * the reason given to get_credential included, and sealed with AES-256-GCM
 * under the handle's own 32-byte encryption key (derived from the handle by
 * the vault; this store never sees the handle), a random 96-bit IV, and the
 * value's header plus the store key as additional data. The stored value is
 * `v1.<s|r>.<iv>.<ciphertext>` (base64): `s`/`r` tells the take script
 * whether to consume (single-use or reusable); it is authenticated, so
 * flipping it fails decryption. A Redis dump, replica or backup therefore
 * holds only ciphertext that nobody can open without the handle.
 *
 * `size()` walks the keyspace with SCAN: O(keys in the Redis database), for
 * tests and diagnostics only, never on the request path.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { Redis } from "ioredis";
import {
  checkReservationArguments,
  type ClaimResult,
  type HandleEntry,
  type HandleKeys,
  type HandleStore,
  type LookupResult,
  type ReleaseStatus,
} from "./handle_store.ts";
import { HandleStoreError } from "./handle_store_error.ts";
import { isHandleScope } from "./handle_scope.ts";
import {
  type LuaScript,
  luaScript,
  RedisHealth,
  runLua,
} from "./redis_connection.ts";
import { Secret } from "./secret.ts";

const log = getLogger(["vault", "redis"]);

/** Where Redis is and how to log in; built from `REDIS_URL` by the config. */
export interface RedisConnectionOptions {
  host: string;
  port: number;
  /** Database number (the URL's path, default 0). */
  db: number;
  /** `rediss://`: TLS with certificate and host-name verification. */
  tls: boolean;
  /** ACL user name (Redis 6+), when the URL has one. */
  username?: string;
  password?: Secret;
  /** PEM CA bundle trusted for TLS in addition to the built-in roots (`REDIS_CA_BUNDLE`). */
  caPem?: string;
}

/** Options of {@linkcode RedisHandleStore}. */
export interface RedisHandleStoreOptions extends RedisConnectionOptions {
  /** Prefix of every key (`REDIS_KEY_PREFIX`); replicas that share handles use the same one. */
  keyPrefix: string;
  /** How long an expired or consumed tombstone answers before the handle is unknown (default 15 minutes). */
  tombstoneMs?: number;
  /** Time allowed to open the connection (default 5000). */
  connectTimeoutMs?: number;
  /** Time allowed for one command's answer (default 5000). */
  commandTimeoutMs?: number;
}

const FORMAT = "v1";
const CONSUMED = "consumed";
/** Prefix of the state of a reserved entry, followed by the reservation id. */
const RESERVED = "reserved:";
const DEFAULT_TOMBSTONE_MS = 15 * 60 * 1000;
/** SCAN calls `size()` makes at most (each looks at about 1000 keys). */
const MAX_SCAN_CALLS = 1000;

/** KEYS: entry, state. ARGV: sealed value, TTL ms, state TTL ms. */
const PUT_SCRIPT = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], 'issued', 'PX', ARGV[3])
return 1
`;

/**
 * KEYS: entry, state. ARGV: '1' to consume a single-use entry, tombstone ms.
 * Returns the sealed value, or 'reserved', 'consumed', 'expired' or 'unknown'.
 */
const LOOKUP_SCRIPT = `
local value = redis.call('GET', KEYS[1])
local state = redis.call('GET', KEYS[2])
if value then
  if state and string.sub(state, 1, ${RESERVED.length}) == '${RESERVED}' then
    return 'reserved'
  end
  if ARGV[1] == '1' and string.sub(value, 1, 5) == '${FORMAT}.s.' then
    redis.call('DEL', KEYS[1])
    redis.call('SET', KEYS[2], '${CONSUMED}', 'PX', ARGV[2])
  end
  return value
end
if state == '${CONSUMED}' then return '${CONSUMED}' end
if state then return 'expired' end
return 'unknown'
`;

/** What the reservation scripts answer when the entry is not live. */
const GONE = `
if state == '${CONSUMED}' then return '${CONSUMED}' end
if state then return 'expired' end
return 'unknown'
`;

/**
 * KEYS: entry, state, original expiry. ARGV: reservation id, hold ms,
 * tombstone ms. Returns the sealed value when reserved now, or 'reserved',
 * 'consumed', 'expired' or 'unknown'.
 */
const RESERVE_SCRIPT = `
local value = redis.call('GET', KEYS[1])
local state = redis.call('GET', KEYS[2])
if value then
  if state and string.sub(state, 1, ${RESERVED.length}) == '${RESERVED}' then
    return 'reserved'
  end
  local left = redis.call('PTTL', KEYS[1])
  if left < 1 then left = 1 end
  redis.call('SET', KEYS[3], '1', 'PX', left)
  local hold = math.max(left, tonumber(ARGV[2]))
  redis.call('PEXPIRE', KEYS[1], hold)
  redis.call('SET', KEYS[2], '${RESERVED}' .. ARGV[1], 'PX', hold + tonumber(ARGV[3]))
  return value
end
${GONE}`;

/**
 * KEYS: entry, state, original expiry. ARGV: reservation id, tombstone ms,
 * '1' to claim (else release). Ends a reservation held under the id: a
 * claimed single-use entry is consumed, anything else goes back to live for
 * what is left of its original TTL (expired when nothing is). Returns, for a
 * claim, the sealed value, for a release 'live' or 'expired'; or 'reserved'
 * (another id holds it), 'not_reserved', 'consumed', 'expired' or 'unknown'.
 */
const END_SCRIPT = `
local value = redis.call('GET', KEYS[1])
local state = redis.call('GET', KEYS[2])
if value then
  if state ~= '${RESERVED}' .. ARGV[1] then
    if state and string.sub(state, 1, ${RESERVED.length}) == '${RESERVED}' then
      return 'reserved'
    end
    return 'not_reserved'
  end
  local claim = ARGV[3] == '1'
  local left = redis.call('PTTL', KEYS[3])
  redis.call('DEL', KEYS[3])
  if claim and string.sub(value, 1, 5) == '${FORMAT}.s.' then
    redis.call('DEL', KEYS[1])
    redis.call('SET', KEYS[2], '${CONSUMED}', 'PX', ARGV[2])
    return value
  end
  local now = 'expired'
  if left > 0 then
    redis.call('PEXPIRE', KEYS[1], left)
    redis.call('SET', KEYS[2], 'issued', 'PX', left + tonumber(ARGV[2]))
    now = 'live'
  else
    redis.call('DEL', KEYS[1])
    redis.call('SET', KEYS[2], 'issued', 'PX', ARGV[2])
  end
  if claim then return value end
  return now
end
${GONE}`;

const PUT = luaScript(PUT_SCRIPT);
const LOOKUP = luaScript(LOOKUP_SCRIPT);
const RESERVE = luaScript(RESERVE_SCRIPT);
const END = luaScript(END_SCRIPT);

/** Handle entries in Redis, encrypted, with server-side expiry and atomic single use. */
export class RedisHandleStore implements HandleStore {
  readonly #client: Redis;
  readonly #prefix: string;
  readonly #tombstoneMs: number;
  readonly #endpoint: string;
  readonly #health: RedisHealth;
  #closed = false;

  /** Creates the store and starts connecting; commands wait for the connection. */
  constructor(options: RedisHandleStoreOptions) {
    if (!/^[\x21-\x7e]{1,128}$/.test(options.keyPrefix)) {
      throw new RangeError(
        "Redis key prefix must be 1 to 128 printable characters without spaces",
      );
    }
    this.#prefix = options.keyPrefix;
    this.#tombstoneMs = options.tombstoneMs ?? DEFAULT_TOMBSTONE_MS;
    this.#endpoint = redisEndpoint(options);
    this.#health = new RedisHealth({
      name: "Handle store",
      endpoint: this.#endpoint,
      ...(options.password === undefined
        ? {}
        : { password: options.password.reveal() }),
      log,
    });
    this.#client = new Redis({
      ...redisClientOptions(options),
      commandTimeout: options.commandTimeoutMs ?? 5000,
      // Fail a command at the first failed (re)connection instead of queueing it for long.
      maxRetriesPerRequest: 0,
      // Never resend a take whose answer was lost (see the module doc).
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt: number) => Math.min(attempt * 250, 2000),
    });
    this.#health.watch(this.#client);
  }

  /** `redis[s]://host:port/db`, without credentials, for log lines. */
  get endpoint(): string {
    return this.#endpoint;
  }

  /**
   * Stores a sealed entry with a server-side TTL and its `issued` tombstone.
   *
   * @throws {HandleStoreError} when Redis cannot be reached
   */
  async put(
    keys: HandleKeys,
    entry: HandleEntry,
    ttlMs: number,
  ): Promise<void> {
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) {
      throw new RangeError("Handle TTL must be a whole number of milliseconds");
    }
    const value = await sealEntry(keys, entry);
    await this.#run(PUT, this.#keys(keys), [
      value,
      String(ttlMs),
      String(ttlMs + this.#tombstoneMs),
    ]);
  }

  /**
   * Looks an entry up without consuming it.
   *
   * @throws {HandleStoreError} when Redis cannot be reached or the entry fails its integrity check
   */
  peek(keys: HandleKeys): Promise<LookupResult> {
    return this.#lookup(keys, false);
  }

  /**
   * Returns the entry; a single-use one is deleted and tombstoned in the same
   * server-side step.
   *
   * @throws {HandleStoreError} when Redis cannot be reached or the entry fails its integrity check
   */
  take(keys: HandleKeys): Promise<LookupResult> {
    return this.#lookup(keys, true);
  }

  /**
   * Reserves a live entry in one server-side step (see the module doc).
   *
   * @throws {RangeError} `holdMs` is not a positive whole number or the id is malformed
   * @throws {HandleStoreError} when Redis cannot be reached or the entry fails its integrity check
   */
  async reserve(
    keys: HandleKeys,
    reservationId: string,
    holdMs: number,
  ): Promise<LookupResult> {
    checkReservationArguments(reservationId, holdMs);
    const reply = await this.#run(RESERVE, this.#reservationKeys(keys), [
      reservationId,
      String(holdMs),
      String(this.#tombstoneMs),
    ]);
    const result = await this.#result(keys, reply);
    if (result.status === "not_reserved") throw unexpectedReply();
    return result;
  }

  /**
   * Returns a reserved entry and ends its reservation in one server-side
   * step: a single-use entry is deleted and tombstoned, a reusable one gets
   * back what was left of its TTL.
   *
   * @throws {HandleStoreError} when Redis cannot be reached or the entry fails its integrity check
   */
  async claim(keys: HandleKeys, reservationId: string): Promise<ClaimResult> {
    checkReservationArguments(reservationId);
    const reply = await this.#run(END, this.#reservationKeys(keys), [
      reservationId,
      String(this.#tombstoneMs),
      "1",
    ]);
    return await this.#result(keys, reply);
  }

  /**
   * Ends a reservation without using the entry, in one server-side step.
   *
   * @throws {HandleStoreError} when Redis cannot be reached
   */
  async release(
    keys: HandleKeys,
    reservationId: string,
  ): Promise<ReleaseStatus> {
    checkReservationArguments(reservationId);
    const reply = await this.#run(END, this.#reservationKeys(keys), [
      reservationId,
      String(this.#tombstoneMs),
      "0",
    ]);
    if (reply === "live") return "live";
    const result = await this.#result(keys, reply);
    if (result.status === "live") throw unexpectedReply();
    return result.status;
  }

  /**
   * Number of entries that hold a secret (live or reserved) under the prefix, counted with SCAN (see the module
   * doc); exact up to about a million keys in the database, a lower bound beyond.
   *
   * @throws {HandleStoreError} when Redis cannot be reached
   */
  async size(): Promise<number> {
    const pattern = `${globEscape(this.#prefix)}{*}`;
    const seen = new Set<string>();
    let cursor = "0";
    for (let calls = 0; calls < MAX_SCAN_CALLS; calls++) {
      const [next, found] = await this.#call(() =>
        this.#client.scan(cursor, "MATCH", pattern, "COUNT", 1000)
      );
      for (const key of found) seen.add(key);
      cursor = next;
      if (cursor === "0") break;
    }
    return seen.size;
  }

  /** Closes the connection; the entries stay in Redis for the other replicas. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#client.quit();
    } catch {
      // Not connected: nothing to say goodbye to.
    } finally {
      this.#client.disconnect();
    }
  }

  async #lookup(keys: HandleKeys, consume: boolean): Promise<LookupResult> {
    const reply = await this.#run(LOOKUP, this.#keys(keys), [
      consume ? "1" : "0",
      String(this.#tombstoneMs),
    ]);
    const result = await this.#result(keys, reply);
    if (result.status === "not_reserved") throw unexpectedReply();
    return result;
  }

  /** A script's reply as a result: a status word, or a sealed entry (opened). */
  async #result(keys: HandleKeys, reply: unknown): Promise<ClaimResult> {
    if (typeof reply !== "string") throw unexpectedReply();
    switch (reply) {
      case "reserved":
      case "not_reserved":
      case CONSUMED:
      case "expired":
      case "unknown":
        return { status: reply };
      default:
        return { status: "live", entry: await openEntry(keys, reply) };
    }
  }

  #keys(keys: HandleKeys): [string, string] {
    if (!/^[0-9a-f]{64}$/.test(keys.storeKey)) {
      throw new RangeError("Handle store key must be 64 hex characters");
    }
    const entry = `${this.#prefix}{${keys.storeKey}}`;
    return [entry, `${entry}:state`];
  }

  /** The entry and state keys, and the key whose TTL keeps a reserved entry's original expiry. */
  #reservationKeys(keys: HandleKeys): [string, string, string] {
    const [entry, state] = this.#keys(keys);
    return [entry, state, `${entry}:expiry`];
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
      throw new HandleStoreError(
        "unavailable",
        "Handle store unavailable: the Redis connection is closed (the service is shutting down); retry on another replica",
      );
    }
    try {
      return await command();
    } catch (error) {
      throw new HandleStoreError(
        "unavailable",
        `Handle store unavailable: Redis at ${this.#endpoint}: ${
          this.#health.cause(error)
        }; check REDIS_URL and that Redis is reachable`,
      );
    }
  }
}

function unexpectedReply(): HandleStoreError {
  return new HandleStoreError(
    "integrity",
    "Handle store answered an unexpected value; check that REDIS_URL points at Redis 6 or later and that nothing else writes under REDIS_KEY_PREFIX",
  );
}

/** What {@linkcode redisClientOptions} gives ioredis. */
export interface RedisClientOptions {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls?: { ca?: string[] };
  connectionName: string;
  connectTimeout: number;
}

/**
 * The ioredis connection options of a {@linkcode RedisConnectionOptions}:
 * address, database, login and TLS (certificate and host name verified).
 * Other users of the same Redis (the gateway's rate limits) connect with it.
 */
export function redisClientOptions(
  options: RedisConnectionOptions & { connectTimeoutMs?: number },
): RedisClientOptions {
  const password = options.password?.reveal();
  return {
    host: options.host,
    port: options.port,
    db: options.db,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(password === undefined ? {} : { password }),
    ...(options.tls
      ? { tls: options.caPem === undefined ? {} : { ca: [options.caPem] } }
      : {}),
    connectionName: "mcp-privileged",
    connectTimeout: options.connectTimeoutMs ?? 5000,
  };
}

/** `redis[s]://host:port/db` without credentials. */
export function redisEndpoint(options: RedisConnectionOptions): string {
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return `${
    options.tls ? "rediss" : "redis"
  }://${host}:${options.port}/${options.db}`;
}

/**
 * The one place where an entry's secrets are revealed: into the JSON that
 * {@linkcode sealEntry} encrypts at once.
 */
function serializeEntry(entry: HandleEntry): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(JSON.stringify({
    secret: entry.secret.reveal(),
    ...(entry.passphrase === undefined
      ? {}
      : { passphrase: entry.passphrase.reveal() }),
    username: entry.username,
    address: entry.address,
    safe: entry.safe,
    objectName: entry.objectName,
    folder: entry.folder,
    properties: entry.properties,
    singleUse: entry.singleUse,
    secretKind: entry.secretKind,
    ...(entry.scope === undefined ? {} : {
      scope: { protocol: entry.scope.protocol, ports: entry.scope.ports },
    }),
    ...(entry.principal === undefined ? {} : { principal: entry.principal }),
    ...(entry.reason === undefined ? {} : { reason: entry.reason }),
  }));
}

function parseEntry(json: string): HandleEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const strings = [
    "secret",
    "username",
    "address",
    "safe",
    "objectName",
    "folder",
  ];
  if (strings.some((name) => typeof v[name] !== "string")) return undefined;
  if (v.passphrase !== undefined && typeof v.passphrase !== "string") {
    return undefined;
  }
  if (typeof v.singleUse !== "boolean") return undefined;
  if (v.secretKind !== "password" && v.secretKind !== "private_key") {
    return undefined;
  }
  const properties = v.properties;
  if (
    typeof properties !== "object" || properties === null ||
    Array.isArray(properties) ||
    Object.values(properties).some((p) => typeof p !== "string")
  ) {
    return undefined;
  }
  // An entry written before handle scopes has none: it is read back without
  // one, and the vault refuses it ("unknown scope"). A scope that is there
  // must be whole.
  if (v.scope !== undefined && !isHandleScope(v.scope)) return undefined;
  // Likewise an entry written before principals has no principal (refused
  // by the vault); one that is there must be a string.
  if (v.principal !== undefined && typeof v.principal !== "string") {
    return undefined;
  }
  // A reason is optional, and entries written before reasons have none.
  if (v.reason !== undefined && typeof v.reason !== "string") {
    return undefined;
  }
  return {
    secret: new Secret(v.secret as string),
    ...(v.passphrase === undefined
      ? {}
      : { passphrase: new Secret(v.passphrase as string) }),
    username: v.username as string,
    address: v.address as string,
    safe: v.safe as string,
    objectName: v.objectName as string,
    folder: v.folder as string,
    properties: { ...(properties as Record<string, string>) },
    singleUse: v.singleUse,
    secretKind: v.secretKind,
    ...(v.scope === undefined
      ? {}
      : { scope: { protocol: v.scope.protocol, ports: [...v.scope.ports] } }),
    ...(v.principal === undefined ? {} : { principal: v.principal }),
    ...(v.reason === undefined ? {} : { reason: v.reason }),
  };
}

async function aesKey(
  keys: HandleKeys,
  usage: "encrypt" | "decrypt",
): Promise<CryptoKey> {
  if (keys.encryptionKey.length !== 32) {
    throw new RangeError("Handle encryption key must be 32 bytes");
  }
  return await crypto.subtle.importKey(
    "raw",
    new Uint8Array(keys.encryptionKey),
    "AES-GCM",
    false,
    [usage],
  );
}

function additionalData(
  header: string,
  storeKey: string,
): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${header}${storeKey}`);
}

/**
 * Encrypts an entry for Redis: `v1.<s|r>.<iv>.<ciphertext>`, AES-256-GCM
 * under the handle's encryption key, the header and store key authenticated.
 */
export async function sealEntry(
  keys: HandleKeys,
  entry: HandleEntry,
): Promise<string> {
  const key = await aesKey(keys, "encrypt");
  const header = `${FORMAT}.${entry.singleUse ? "s" : "r"}.`;
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plaintext = serializeEntry(entry);
  try {
    const sealed = await crypto.subtle.encrypt(
      {
        name: "AES-GCM",
        iv,
        additionalData: additionalData(header, keys.storeKey),
      },
      key,
      plaintext,
    );
    return `${header}${base64(iv)}.${base64(new Uint8Array(sealed))}`;
  } finally {
    plaintext.fill(0);
  }
}

/**
 * Decrypts a value written by {@linkcode sealEntry}.
 *
 * @throws {HandleStoreError} `integrity` when the value was altered, moved to another key, or sealed under another key
 */
export async function openEntry(
  keys: HandleKeys,
  value: string,
): Promise<HandleEntry> {
  const key = await aesKey(keys, "decrypt");
  const match = /^(v1\.([sr])\.)([A-Za-z0-9+/=]+)\.([A-Za-z0-9+/=]+)$/.exec(
    value,
  );
  let plaintext: Uint8Array | undefined;
  if (match !== null) {
    try {
      plaintext = new Uint8Array(
        await crypto.subtle.decrypt(
          {
            name: "AES-GCM",
            iv: unbase64(match[3]!),
            additionalData: additionalData(match[1]!, keys.storeKey),
          },
          key,
          unbase64(match[4]!),
        ),
      );
    } catch {
      plaintext = undefined;
    }
  }
  const entry = plaintext === undefined
    ? undefined
    : parseEntry(new TextDecoder().decode(plaintext));
  plaintext?.fill(0);
  if (entry === undefined || entry.singleUse !== (match?.[2] === "s")) {
    throw new HandleStoreError(
      "integrity",
      "Handle store entry failed its integrity check (altered in Redis, or written by an incompatible version); call get_credential again, and check who can write to Redis",
    );
  }
  return entry;
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function unbase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
