/**
 * HTTP to the issuer: TLS verified against the system roots plus the
 * optional `OAUTH_CA_BUNDLE`, a timeout on every request, redirects refused
 * (metadata and keys are fetched from the URLs the issuer names, nowhere else).
 *
 * @module
 */

/** A `fetch` bound to the issuer's TLS settings. */
export type IssuerFetchFunction = (
  url: string | URL,
  init?: RequestInit,
) => Promise<Response>;

/** How {@linkcode createIssuerFetch} talks to the issuer. */
export interface IssuerFetchOptions {
  /** PEM CA certificates trusted in addition to the system roots (`OAUTH_CA_BUNDLE`). */
  readonly caPem?: string;
  /** Per-request time limit (default 5000 ms). */
  readonly timeoutMs?: number;
}

/** A fetch function for the issuer and the HTTP client behind it. */
export interface IssuerFetch {
  readonly fetch: IssuerFetchFunction;
  /** Closes the HTTP client (idempotent). */
  close(): void;
}

/** Default time limit of one request to the issuer. */
export const DEFAULT_ISSUER_TIMEOUT_MS = 5000;

/** Builds the fetch function every request to the issuer goes through. */
export function createIssuerFetch(
  options: IssuerFetchOptions = {},
): IssuerFetch {
  const client = options.caPem === undefined
    ? undefined
    : Deno.createHttpClient({ caCerts: [options.caPem] });
  const timeoutMs = options.timeoutMs ?? DEFAULT_ISSUER_TIMEOUT_MS;
  let closed = false;
  return {
    fetch: (url, init = {}) => {
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = init.signal === undefined || init.signal === null
        ? timeout
        : AbortSignal.any([init.signal, timeout]);
      return fetch(url, {
        redirect: "error",
        ...init,
        signal,
        ...(client === undefined ? {} : { client }),
      });
    },
    close: () => {
      if (closed) return;
      closed = true;
      client?.close();
    },
  };
}
