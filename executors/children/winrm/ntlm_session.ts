/**
 * Both directions of an authenticated NTLM security context: what WinRM over
 * plain HTTP needs to seal each request and unseal each response.
 *
 * @module
 */
import {
  NtlmError,
  type SealedMessage,
  SealingChannel,
  sealKey,
  SESSION_FLAGS,
  signKey,
} from "./ntlm_crypto.ts";

export type { SealedMessage } from "./ntlm_crypto.ts";

/** Which end of the context this session is. */
export type NtlmRole = "client" | "server";

/** Inputs of an {@linkcode NtlmSession}; see `buildAuthenticate` / `verifyAuthenticate`. */
export interface NtlmSessionOptions {
  /** The 16-byte ExportedSessionKey agreed during authentication (copied, not kept). */
  exportedSessionKey: Uint8Array;
  /** The NegotiateFlags of the AUTHENTICATE message. */
  flags: number;
  /** "client" seals with the client-to-server keys and unseals with the server-to-client ones. */
  role: NtlmRole;
}

/**
 * Sealing state of one NTLM context (MS-NLMP 3.4): one RC4 handle and one
 * sequence number per direction, each starting at 0. Requires extended
 * session security, SIGN and SEAL. After a failed `unseal` the session is
 * unusable, because the inbound RC4 keystream can no longer match the peer.
 */
export class NtlmSession {
  #outbound: SealingChannel;
  #inbound: SealingChannel;
  #broken = false;

  /**
   * Derives the sign and seal keys of both directions.
   *
   * @throws {NtlmError} if the flags lack extended session security, SIGN or SEAL.
   * @throws {RangeError} if the session key is not 16 bytes.
   */
  constructor(options: NtlmSessionOptions) {
    const { exportedSessionKey: key, flags, role } = options;
    if (key.length !== 16) {
      throw new RangeError(
        `Cannot create an NTLM session from a ${key.length}-byte session key; pass the 16-byte ExportedSessionKey`,
      );
    }
    const needed = SESSION_FLAGS.SIGN | SESSION_FLAGS.SEAL |
      SESSION_FLAGS.EXTENDED_SESSIONSECURITY;
    if ((flags & needed) !== needed) {
      throw new NtlmError(
        "Cannot seal NTLM messages: SIGN, SEAL and EXTENDED_SESSIONSECURITY were not all negotiated; the server must allow NTLM message encryption",
      );
    }
    const keyExchange = (flags & SESSION_FLAGS.KEY_EXCH) !== 0;
    const channel = (
      direction: "client-to-server" | "server-to-client",
    ): SealingChannel =>
      new SealingChannel({
        signKey: signKey(key, flags, direction),
        sealKey: sealKey(key, flags, direction),
        keyExchange,
      });
    const clientToServer = channel("client-to-server");
    const serverToClient = channel("server-to-client");
    this.#outbound = role === "client" ? clientToServer : serverToClient;
    this.#inbound = role === "client" ? serverToClient : clientToServer;
  }

  /** Sequence number of the next message this side seals. */
  get outboundSequence(): number {
    return this.#outbound.sequence;
  }

  /** Sequence number this side expects on the next message it unseals. */
  get inboundSequence(): number {
    return this.#inbound.sequence;
  }

  #assertUsable(): void {
    if (this.#broken) {
      throw new NtlmError(
        "Cannot use this NTLM session after a rejected message; open a new connection and authenticate again",
      );
    }
  }

  /**
   * Seals one outbound message.
   *
   * @throws {NtlmError} if the session is unusable after a rejected message.
   */
  seal(plaintext: Uint8Array): SealedMessage {
    this.#assertUsable();
    return this.#outbound.seal(plaintext);
  }

  /**
   * Decrypts one inbound message and verifies its signature and sequence number.
   *
   * @throws {NtlmError} if the message does not verify; the session is then unusable.
   */
  unseal(sealed: Uint8Array, signature: Uint8Array): Uint8Array {
    this.#assertUsable();
    try {
      return this.#inbound.unseal(sealed, signature);
    } catch (error) {
      this.#broken = true;
      throw error;
    }
  }
}
