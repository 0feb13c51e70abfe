/**
 * The one place where a credential's plaintext leaves its wrapper: the
 * request for a child's stdin is built here, and the same plaintext builds
 * the scrubber for what the child sends back.
 *
 * @module
 */
import {
  type Credential,
  type ExecutorRequest,
  PROTOCOL_VERSION,
} from "./messages.ts";
import { createScrubber, MIN_SCRUB_LENGTH, type Scrubber } from "./scrub.ts";
import { encodeRequest } from "./wire.ts";

/** Anything that hides a plaintext until asked, like `vault/secret.ts`'s `Secret`. */
export interface SecretLike {
  /** Returns the plaintext. */
  reveal(): string;
}

/** A resolved credential whose secret parts stay hidden until stdin. */
export interface ExecutorCredential {
  /** Account name. */
  readonly username: string;
  /** What `secret` holds. */
  readonly kind: Credential["kind"];
  /** Password, or private key in OpenSSH/PEM form. */
  readonly secret: SecretLike;
  /** Passphrase of an encrypted private key. */
  readonly passphrase?: SecretLike;
  /** Windows logon domain. */
  readonly domain?: string;
}

/** A request ready for a child's stdin. */
export interface SealedRequest {
  /** The request as UTF-8 JSON; zero it once written. */
  readonly bytes: Uint8Array;
  /** Redacts the secrets this request carries. */
  readonly scrubber: Scrubber;
  /** True when a secret is too short to be scrubbed ({@linkcode MIN_SCRUB_LENGTH}). */
  readonly unscrubbable: boolean;
}

/**
 * Serializes the request for the child's stdin.
 *
 * @throws {RangeError} when the request is larger than the protocol allows
 */
export function sealRequest(
  credential: ExecutorCredential,
  parts: Omit<ExecutorRequest, "protocol" | "credential">,
): SealedRequest {
  const secret = credential.secret.reveal();
  const passphrase = credential.passphrase?.reveal();
  const bytes = encodeRequest({
    protocol: PROTOCOL_VERSION,
    target: parts.target,
    credential: {
      username: credential.username,
      secret,
      kind: credential.kind,
      ...(passphrase === undefined ? {} : { passphrase }),
      ...(credential.domain === undefined ? {} : { domain: credential.domain }),
    },
    operation: parts.operation,
    limits: parts.limits,
  });
  const secrets = passphrase === undefined ? [secret] : [secret, passphrase];
  return {
    bytes,
    scrubber: createScrubber(secrets),
    unscrubbable: secrets.some((s) =>
      s.length > 0 && s.length < MIN_SCRUB_LENGTH
    ),
  };
}
