/**
 * The handle vault: trades a retrieved secret for an opaque, short-lived,
 * (by default) single-use handle, and back.
 *
 * A handle is `secret://` + 256 random bits (base64url). The store is keyed by
 * a hash of the handle, a shared store encrypts the entry under a second hash
 * of it, and logs carry a `handle_id` derived by a third: none can be redeemed
 * or turned back into the handle, so only the holder of the handle can find
 * and decrypt its entry.
 *
 * A handle is bound to the principal that fetched it, to its account's
 * Address (`host_binding.ts`) and to the protocol and ports of its account's
 * platform (`handle_scope.ts`), decided once at issue and stored with the
 * entry. Every binding is checked on a non-consuming look-up before the
 * consuming one, so a refused call spends nothing.
 *
 * A call that waits for a second person's approval reserves its handle
 * ({@linkcode HandleVault.reserve}): while reserved, nobody else can redeem
 * it and its TTL does not run out; the call then claims it (approved) or
 * releases it (denied, timed out), and a released handle works again for its
 * owner until its original expiry.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { getLogger } from "@logtape/logtape";
import type {
  ClaimResult,
  HandleEntry,
  HandleKeys,
  HandleStore,
  SecretKind,
} from "./handle_store.ts";
import { HandleStoreError } from "./handle_store_error.ts";
import {
  DEFAULT_SCOPE_RULES,
  type HandleProtocol,
  type HandleScope,
  type HandleScopeRules,
  scopeAllows,
  scopeOfAccount,
  scopeRefusal,
} from "./handle_scope.ts";
import type { Secret } from "./secret.ts";
import { hostMatchesAddress } from "./host_binding.ts";
import { MemoryHandleStore } from "./memory_handle_store.ts";

export type { HandleProtocol, HandleScope } from "./handle_scope.ts";
export { UnmappedPlatformError } from "./handle_scope.ts";

const log = getLogger(["vault", "handles"]);

/** Prefix of every handle. */
export const HANDLE_PREFIX = "secret://";
const HANDLE_PATTERN = /^secret:\/\/[A-Za-z0-9_-]{43}$/;
const HANDLE_BYTES = 32;
/** Random bytes of a reservation id (known only to the reserving call). */
const RESERVATION_BYTES = 16;

/** Why a handle cannot be redeemed. */
export type HandleFailureReason =
  | "expired"
  | "already_consumed"
  | "unknown"
  | "host_mismatch"
  | "scope"
  | "principal_mismatch"
  | "reserved";

/** Options of {@linkcode HandleError}. */
export interface HandleErrorOptions {
  /** For `scope`: what the handle is for (absent when the entry has no scope). */
  scope?: HandleScope;
  /** For `principal_mismatch`: the principal the handle was issued to (for the audit line only). */
  issuedTo?: string;
}

/** A handle that cannot be redeemed; `reason` feeds the audit log. */
export class HandleError extends Error {
  /** Why the handle was refused. */
  readonly reason: HandleFailureReason;
  /** The non-redeemable id of the presented handle (empty when malformed). */
  readonly handleId: string;
  /** For `scope`: the protocol and ports the handle is for, for the audit line. */
  readonly scope?: HandleScope;
  /** For `principal_mismatch`: the principal the handle was issued to (audit only, never shown). */
  readonly issuedTo?: string;

  /** Creates the error; the message starts with the manual's wording. */
  constructor(
    reason: HandleFailureReason,
    handleId: string,
    message: string,
    options: HandleErrorOptions = {},
  ) {
    super(message);
    this.name = "HandleError";
    this.reason = reason;
    this.handleId = handleId;
    if (options.scope !== undefined) this.scope = options.scope;
    if (options.issuedTo !== undefined) this.issuedTo = options.issuedTo;
  }
}

/** Options of {@linkcode HandleVault}. */
export interface HandleVaultOptions {
  ttlSeconds: number;
  singleUse: boolean;
  /** Refuse a handle used against a host other than the account's Address. */
  hostBinding: boolean;
  /**
   * Refuse a handle used by a tool of another protocol or on a port outside
   * its scope (default true; `HANDLE_SCOPE_BINDING`).
   */
  scopeBinding?: boolean;
  /** How an account's platform and ports become its scope (default: the built-in table, unmapped platforms refused). */
  scopeRules?: HandleScopeRules;
  store?: HandleStore;
}

/** Where a tool wants to use a handle. */
export interface RedeemTarget {
  /** The host the tool connects to. */
  readonly host: string;
  /** The port the tool connects to. */
  readonly port: number;
  /** The protocol the tool speaks (`ssh` for ssh_execute, `winrm` for ps_execute, the db_type for db_query). */
  readonly protocol: HandleProtocol;
  /** The principal making the call; only the one that fetched the handle may use it. */
  readonly principal: string;
}

/**
 * The account a handle is issued for, the principal that asked for it and
 * the reason it gave, if any (single use, kind and scope come from the vault).
 */
export type IssueInput =
  & Omit<
    HandleEntry,
    "singleUse" | "secretKind" | "scope" | "principal" | "reason"
  >
  & {
    readonly principal: string;
    /** The reason given to get_credential; absent or empty when none was given. */
    readonly reason?: string | undefined;
  };

/**
 * What a live handle is for, without its secret: what the policy checks a
 * call against before the handle is taken.
 */
export interface HandleFacts {
  /** The non-redeemable id of the handle. */
  readonly handleId: string;
  /** The Safe the account came from (as CyberArk named it). */
  readonly safe: string;
  /** The account object name get_credential was called with. */
  readonly objectName: string;
  /** The account's folder. */
  readonly folder: string;
  /** The account's Address. */
  readonly address: string;
  /** The credential's user name (shown to an approver). */
  readonly username: string;
  /** The reason given to get_credential, when one was given (shown to an approver). */
  readonly reason?: string;
}

/**
 * A handle held for one call while it waits for a second person's approval
 * (from {@linkcode HandleVault.reserve}): nobody else can redeem it, and it
 * does not expire while held. Exactly one of `claim` and `release` ends it.
 */
export interface HandleReservation {
  /** The non-redeemable id of the handle. */
  readonly handleId: string;
  /**
   * Redeems the held handle (approved): returns the credential and consumes
   * a single-use handle; a reusable one is live again until its original
   * expiry. Works even when that expiry has passed while the call waited, as
   * long as the hold lasts. Once only.
   *
   * @throws {HandleError} the hold ran out before the claim (`expired`), or the handle was used otherwise
   * @throws {HandleStoreError} the shared store is unreachable or the entry fails its integrity check
   * @throws {TypeError} claimed or released already
   */
  claim(): Promise<RedeemedCredential>;
  /**
   * Gives the handle back unspent (denied, timed out, not run): it works
   * again for its owner until its original expiry (or is expired, if that
   * has passed). Idempotent, and a no-op after a claim. Never rejects: a
   * store that cannot be reached is logged, and the handle stays held until
   * the hold ends, then is expired.
   */
  release(): Promise<void>;
}

const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** Tells a private key from a password; looks at the plaintext inside the vault only. */
function secretKindOf(secret: Secret): SecretKind {
  return PRIVATE_KEY.test(secret.reveal()) ? "private_key" : "password";
}

/** What `get_credential` returns to the model (no secret). */
export interface IssuedHandle {
  handle: string;
  handleId: string;
  username: string;
  address: string;
  ttlSeconds: number;
  singleUse: boolean;
  /** Wall-clock expiry, for display only; the TTL itself runs on a monotonic clock. */
  expiresAt: Date;
  /** The protocol and ports the handle is for. */
  scope: HandleScope;
  /** False when `HANDLE_SCOPE_BINDING=false`: the scope is not enforced. */
  scopeBinding: boolean;
}

/** A redeemed handle: the secret and its account. */
export interface RedeemedCredential extends HandleEntry {
  handleId: string;
}

/** Issues and redeems handles. */
export class HandleVault {
  readonly #options: HandleVaultOptions;
  readonly #store: HandleStore;

  /** Creates a vault over a store (in-memory by default). */
  constructor(options: HandleVaultOptions) {
    this.#options = options;
    this.#store = options.store ?? new MemoryHandleStore();
  }

  /** Handle settings in force. */
  get settings(): {
    ttlSeconds: number;
    singleUse: boolean;
    hostBinding: boolean;
    scopeBinding: boolean;
  } {
    const { ttlSeconds, singleUse, hostBinding } = this.#options;
    return { ttlSeconds, singleUse, hostBinding, scopeBinding: this.#scoped };
  }

  get #scoped(): boolean {
    return this.#options.scopeBinding ?? true;
  }

  /**
   * Stores a secret and returns its new handle, bound to the protocol and
   * ports of the account's platform. An account whose platform maps to no
   * protocol gets no handle (unless `UNMAPPED_PLATFORM=standard-ports`), and
   * its secret is not stored.
   *
   * @throws {UnmappedPlatformError} the account's platform maps to no protocol this service speaks
   * @throws {HandleStoreError} the shared store is unreachable
   */
  async issue(input: IssueInput): Promise<IssuedHandle> {
    const { scope, badPort, platformId } = scopeOfAccount(
      input,
      this.#options.scopeRules ?? DEFAULT_SCOPE_RULES,
    );
    if (badPort !== undefined) {
      log.warn(
        "Account {object_name} in safe {safe} has Port property {port}, not a port from 1 to 65535; using the ports of platform {platform} instead; fix the account's Port in CyberArk",
        {
          object_name: input.objectName,
          safe: input.safe,
          port: badPort,
          platform: platformId,
        },
      );
    }
    const handle = HANDLE_PREFIX +
      base64url(crypto.getRandomValues(new Uint8Array(HANDLE_BYTES)));
    const { ttlSeconds, singleUse } = this.#options;
    const { reason, ...account } = input;
    await this.#store.put(
      keysOf(handle),
      {
        ...account,
        singleUse,
        secretKind: secretKindOf(input.secret),
        scope,
        ...(reason === undefined || reason === "" ? {} : { reason }),
      },
      ttlSeconds * 1000,
    );
    return {
      handle,
      handleId: handleIdOf(handle),
      username: input.username,
      address: input.address,
      ttlSeconds,
      singleUse,
      expiresAt: new Date(Date.now() + ttlSeconds * 1000),
      scope,
      scopeBinding: this.#scoped,
    };
  }

  /**
   * Checks that a handle could be redeemed for `target` now (it exists, has
   * not expired or been consumed, and its host and scope allow the target)
   * without consuming it: the pipeline calls this before it waits for an
   * executor slot, and {@linkcode redeem} after.
   *
   * @returns what the handle is for (Safe, object, Address), for the policy,
   * and its user name and reason, for an approver
   * @throws {HandleError} expired, already consumed, unknown, reserved by a call waiting for approval (left reserved), fetched by another principal, bound to another host, or out of scope
   * @throws {HandleStoreError} the shared store is unreachable or an entry fails its integrity check
   */
  async check(handle: string, target: RedeemTarget): Promise<HandleFacts> {
    const key = keysOfValid(handle);
    const handleId = handleIdOf(handle);
    const peeked = await this.#store.peek(key);
    if (peeked.status !== "live") throw this.#lookupError(peeked, handleId);
    const { entry } = peeked;
    this.#checkBinding(entry, target, handleId);
    return {
      handleId,
      safe: entry.safe,
      objectName: entry.objectName,
      folder: entry.folder,
      address: entry.address,
      username: entry.username,
      ...(entry.reason === undefined ? {} : { reason: entry.reason }),
    };
  }

  /**
   * Holds a handle for one call on `target` while the call waits for a
   * second person's approval: from now on no other redemption can take it,
   * and it stays in the store for at least `holdMs` even when its TTL ends
   * sooner. The bindings (principal, host, scope) are checked first, on a
   * non-consuming look-up, so a refused reserve holds nothing. Of concurrent
   * reserves of one handle exactly one succeeds; the others are refused as
   * `reserved`.
   *
   * @param holdMs how long the hold lasts at most: the approval timeout plus the operation's time limit and a margin
   * @throws {HandleError} expired, already consumed, unknown, reserved by another call, fetched by another principal, bound to another host, or out of scope
   * @throws {HandleStoreError} the shared store is unreachable or an entry fails its integrity check
   * @throws {RangeError} `holdMs` is not a positive number
   */
  async reserve(
    handle: string,
    target: RedeemTarget,
    holdMs: number,
  ): Promise<HandleReservation> {
    if (!Number.isFinite(holdMs) || holdMs <= 0) {
      throw new RangeError(
        "Handle hold time must be a positive number of milliseconds",
      );
    }
    const keys = keysOfValid(handle);
    const handleId = handleIdOf(handle);
    const peeked = await this.#store.peek(keys);
    if (peeked.status !== "live") throw this.#lookupError(peeked, handleId);
    this.#checkBinding(peeked.entry, target, handleId);
    const reservationId = base64url(
      crypto.getRandomValues(new Uint8Array(RESERVATION_BYTES)),
    );
    const reserved = await this.#store.reserve(
      keys,
      reservationId,
      Math.ceil(holdMs),
    );
    if (reserved.status !== "live") {
      throw this.#lookupError(reserved, handleId);
    }
    log.debug("Handle {handle_id} reserved for up to {hold_ms} ms", {
      handle_id: handleId,
      hold_ms: Math.ceil(holdMs),
    });
    return this.#reservation(keys, handleId, reservationId, target);
  }

  /** The HandleReservation of a handle this vault has just reserved. */
  #reservation(
    keys: HandleKeys,
    handleId: string,
    reservationId: string,
    target: RedeemTarget,
  ): HandleReservation {
    // "held" until a claim or release starts; a claim that fails in the
    // store gives the reservation back so that release() still tries.
    let state: "held" | "claiming" | "claimed" | "released" = "held";
    return {
      handleId,
      claim: async () => {
        if (state !== "held") {
          throw new TypeError(
            `Cannot claim the reservation of handle ${handleId}: it was ${
              state === "released" ? "released" : "claimed"
            } already; reserve the handle again`,
          );
        }
        state = "claiming";
        let result: ClaimResult;
        try {
          result = await this.#store.claim(keys, reservationId);
        } catch (error) {
          state = "held";
          throw error;
        }
        state = "claimed";
        if (result.status === "not_reserved") {
          // Only this object knows the id, and it has not ended the
          // reservation: the store lost it, so refuse as the hold ending would.
          throw this.#lookupError({ status: "expired" }, handleId);
        }
        if (result.status !== "live") throw this.#lookupError(result, handleId);
        this.#warnUnscoped(handleId, target);
        return { ...result.entry, handleId };
      },
      release: async () => {
        if (state !== "held") return;
        state = "released";
        try {
          const now = await this.#store.release(keys, reservationId);
          log.debug("Handle {handle_id} released: {status}", {
            handle_id: handleId,
            status: now,
          });
        } catch (error) {
          if (!(error instanceof HandleStoreError)) throw error;
          log.warn(
            "Handle {handle_id} could not be released ({message}); it stays reserved until its hold ends, then expires",
            { handle_id: handleId, message: error.message },
          );
        }
      },
    };
  }

  /**
   * Redeems a handle for an operation on `target`, consuming it when
   * single-use. A refusal for the principal, the host or the scope does not
   * consume the handle: it is decided on a non-consuming look-up first
   * (entries never change once stored, so the take that follows sees the
   * same entry).
   *
   * @throws {HandleError} expired, already consumed, unknown, reserved by a call waiting for approval (left reserved), fetched by another principal, bound to another host, or out of scope
   * @throws {HandleStoreError} the shared store is unreachable or an entry fails its integrity check
   */
  async redeem(
    handle: string,
    target: RedeemTarget,
  ): Promise<RedeemedCredential> {
    const key = keysOfValid(handle);
    const handleId = handleIdOf(handle);
    // The principal binding is always on, so the look-up always comes first.
    const peeked = await this.#store.peek(key);
    if (peeked.status === "live") {
      this.#checkBinding(peeked.entry, target, handleId);
    }
    const result = await this.#store.take(key);
    if (result.status !== "live") throw this.#lookupError(result, handleId);
    this.#warnUnscoped(handleId, target);
    return { ...result.entry, handleId };
  }

  #warnUnscoped(handleId: string, target: RedeemTarget): void {
    if (this.#scoped) return;
    log.warn(
      "HANDLE_SCOPE_BINDING=false: handle {handle_id} used by a {protocol} tool on port {port} without the protocol and port check",
      { handle_id: handleId, protocol: target.protocol, port: target.port },
    );
  }

  /** Throws the HandleError for a live entry that the principal, the host or the scope refuses. */
  #checkBinding(
    entry: HandleEntry,
    target: RedeemTarget,
    handleId: string,
  ): void {
    // First, so that another principal learns nothing about the account.
    if (entry.principal === undefined) {
      throw new HandleError(
        "principal_mismatch",
        handleId,
        "Refused: this handle does not record who fetched it (it was issued by an older version of the service); the handle was not used; call get_credential again",
      );
    }
    if (entry.principal !== target.principal) {
      throw new HandleError(
        "principal_mismatch",
        handleId,
        "Handle refused: it was fetched by another principal, and a handle works only for the principal that called get_credential; call get_credential with your own API key",
        { issuedTo: entry.principal },
      );
    }
    if (
      this.#options.hostBinding &&
      !hostMatchesAddress(target.host, entry.address)
    ) {
      throw new HandleError(
        "host_mismatch",
        handleId,
        entry.address === ""
          ? `Handle refused for host "${target.host}": the CyberArk account "${entry.objectName}" has no Address, so the handle cannot be bound to a host; set the account's Address in CyberArk`
          : `Handle refused for host "${target.host}": the credential belongs to "${entry.address}" (account "${entry.objectName}" in safe "${entry.safe}"); use it against that host, or get the credential for "${target.host}"`,
      );
    }
    if (!this.#scoped) return;
    if (entry.scope === undefined) {
      throw new HandleError(
        "scope",
        handleId,
        "Refused: this handle has an unknown scope (it was issued by an older version of the service); the handle was not used; call get_credential again",
      );
    }
    if (!scopeAllows(entry.scope, target)) {
      const address = entry.address === "" ? target.host : entry.address;
      throw new HandleError(
        "scope",
        handleId,
        scopeRefusal({ scope: entry.scope, address }, target),
        { scope: entry.scope },
      );
    }
  }

  /** The HandleError for a look-up that found no live entry. */
  #lookupError(
    result: Exclude<ClaimResult, { status: "live" | "not_reserved" }>,
    handleId: string,
  ): HandleError {
    switch (result.status) {
      case "reserved":
        return new HandleError(
          "reserved",
          handleId,
          "Handle reserved: a call that uses it is waiting for a second person's approval; wait for that call to finish, or call get_credential again for another operation",
        );
      case "expired":
        return new HandleError(
          "expired",
          handleId,
          `Handle expired: handles live ${this.#options.ttlSeconds} seconds; call get_credential again (or raise HANDLE_TTL_SECONDS)`,
        );
      case "consumed":
        return new HandleError(
          "already_consumed",
          handleId,
          "Handle already consumed: handles are single-use (HANDLE_SINGLE_USE=true); call get_credential again for each operation",
        );
      case "unknown":
        return new HandleError(
          "unknown",
          handleId,
          "Unknown handle: it was never issued by this service, or expired long ago or before a restart; call get_credential again",
        );
    }
  }

  /** Number of live handles (in a shared store: of every replica). */
  size(): Promise<number> {
    return this.#store.size();
  }

  /** Closes the store: an in-memory one drops every handle, a shared one only disconnects. */
  close(): Promise<void> {
    return this.#store.close();
  }
}

/** The id logged for a handle: 16 hex characters that cannot be redeemed. */
export function handleIdOf(handle: string): string {
  return createHash("sha256").update(`mcp-privileged/handle-id\0${handle}`)
    .digest("hex")
    .slice(0, 16);
}

/**
 * The keys of a well-formed handle.
 *
 * @throws {HandleError} `unknown` when it is not a handle at all
 */
function keysOfValid(handle: string): HandleKeys {
  if (!HANDLE_PATTERN.test(handle)) {
    throw new HandleError(
      "unknown",
      "",
      "Unknown handle: this is not a handle issued by get_credential (expected secret:// followed by 43 characters); call get_credential and pass its Handle value unchanged",
    );
  }
  return keysOf(handle);
}

function keysOf(handle: string): HandleKeys {
  return {
    storeKey: createHash("sha256")
      .update(`mcp-privileged/handle-key\0${handle}`)
      .digest("hex"),
    encryptionKey: new Uint8Array(
      createHash("sha256").update(`mcp-privileged/handle-enc\0${handle}`)
        .digest(),
    ),
  };
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}
