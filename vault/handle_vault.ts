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
 * @module
 */
import { createHash } from "node:crypto";
import type {
  HandleEntry,
  HandleKeys,
  HandleStore,
  SecretKind,
} from "./handle_store.ts";
import type { Secret } from "./secret.ts";
import { hostMatchesAddress } from "./host_binding.ts";
import { MemoryHandleStore } from "./memory_handle_store.ts";

/** Prefix of every handle. */
export const HANDLE_PREFIX = "secret://";
const HANDLE_PATTERN = /^secret:\/\/[A-Za-z0-9_-]{43}$/;
const HANDLE_BYTES = 32;

/** Why a handle cannot be redeemed. */
export type HandleFailureReason =
  | "expired"
  | "already_consumed"
  | "unknown"
  | "host_mismatch";

/** A handle that cannot be redeemed; `reason` feeds the audit log. */
export class HandleError extends Error {
  /** Why the handle was refused. */
  readonly reason: HandleFailureReason;
  /** The non-redeemable id of the presented handle (empty when malformed). */
  readonly handleId: string;

  /** Creates the error; the message starts with the manual's wording. */
  constructor(reason: HandleFailureReason, handleId: string, message: string) {
    super(message);
    this.name = "HandleError";
    this.reason = reason;
    this.handleId = handleId;
  }
}

/** Options of {@linkcode HandleVault}. */
export interface HandleVaultOptions {
  ttlSeconds: number;
  singleUse: boolean;
  /** Refuse a handle used against a host other than the account's Address. */
  hostBinding: boolean;
  store?: HandleStore;
}

/** The account a handle is issued for (single use comes from the vault's settings). */
export type IssueInput = Omit<HandleEntry, "singleUse" | "secretKind">;

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
  } {
    const { ttlSeconds, singleUse, hostBinding } = this.#options;
    return { ttlSeconds, singleUse, hostBinding };
  }

  /**
   * Stores a secret and returns its new handle.
   *
   * @throws {HandleStoreError} the shared store is unreachable
   */
  async issue(input: IssueInput): Promise<IssuedHandle> {
    const handle = HANDLE_PREFIX +
      base64url(crypto.getRandomValues(new Uint8Array(HANDLE_BYTES)));
    const { ttlSeconds, singleUse } = this.#options;
    await this.#store.put(
      keysOf(handle),
      { ...input, singleUse, secretKind: secretKindOf(input.secret) },
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
    };
  }

  /**
   * Redeems a handle for an operation on `host`, consuming it when single-use.
   * A host-binding refusal does not consume the handle.
   *
   * @throws {HandleError} expired, already consumed, unknown, or bound to another host
   * @throws {HandleStoreError} the shared store is unreachable or an entry fails its integrity check
   */
  async redeem(
    handle: string,
    target: { host: string },
  ): Promise<RedeemedCredential> {
    if (!HANDLE_PATTERN.test(handle)) {
      throw new HandleError(
        "unknown",
        "",
        "Unknown handle: this is not a handle issued by get_credential (expected secret:// followed by 43 characters); call get_credential and pass its Handle value unchanged",
      );
    }
    const key = keysOf(handle);
    const handleId = handleIdOf(handle);
    if (this.#options.hostBinding) {
      const peeked = await this.#store.peek(key);
      if (
        peeked.status === "live" &&
        !hostMatchesAddress(target.host, peeked.entry.address)
      ) {
        const address = peeked.entry.address;
        throw new HandleError(
          "host_mismatch",
          handleId,
          address === ""
            ? `Handle refused for host "${target.host}": the CyberArk account "${peeked.entry.objectName}" has no Address, so the handle cannot be bound to a host; set the account's Address in CyberArk`
            : `Handle refused for host "${target.host}": the credential belongs to "${address}" (account "${peeked.entry.objectName}" in safe "${peeked.entry.safe}"); use it against that host, or get the credential for "${target.host}"`,
        );
      }
    }
    const result = await this.#store.take(key);
    switch (result.status) {
      case "live":
        return { ...result.entry, handleId };
      case "expired":
        throw new HandleError(
          "expired",
          handleId,
          `Handle expired: handles live ${this.#options.ttlSeconds} seconds; call get_credential again (or raise HANDLE_TTL_SECONDS)`,
        );
      case "consumed":
        throw new HandleError(
          "already_consumed",
          handleId,
          "Handle already consumed: handles are single-use (HANDLE_SINGLE_USE=true); call get_credential again for each operation",
        );
      case "unknown":
        throw new HandleError(
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
