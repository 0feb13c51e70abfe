/**
 * Session tokens of the console: the random value in the cookie, the digest
 * the store keeps, and the CSRF token derived from it.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** A fresh session token: 256 random bits, base64url. */
export function newSessionToken(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** The store key of a token: lower-case hex SHA-256. */
export function sessionTokenDigest(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * The session's CSRF token, derived from its token so that nothing more is
 * stored: knowing the stored digest does not give it.
 */
export function csrfTokenOf(token: string): string {
  return base64url(
    new Uint8Array(
      createHash("sha256").update(`approvals-csrf\0${token}`).digest(),
    ),
  );
}

/** Whether a cookie value has the form of a session token (43 base64url characters). */
export function isSessionToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(token);
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}
