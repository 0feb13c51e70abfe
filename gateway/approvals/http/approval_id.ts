/**
 * The form of an approval request id in a URL: 128 random bits in
 * base64url without padding, 22 characters.
 *
 * @module
 */

/** An approval request id: 22 base64url characters (128 bits). */
export const APPROVAL_ID_PATTERN: RegExp = /^[A-Za-z0-9_-]{22}$/;

/** Whether `id` has the form of an approval request id. */
export function isApprovalId(id: string): boolean {
  return APPROVAL_ID_PATTERN.test(id);
}
