/**
 * A free TCP port for test servers that must be told their port before they
 * start (Redis, PostgreSQL, MariaDB, sshd, nginx). The kernel picks the port
 * and it is released at once, so another process could take it before the
 * server binds; a server that can listen on port 0 itself should do that
 * instead.
 *
 * @module
 */

/** Options of {@linkcode freePort}. */
export interface FreePortOptions {
  /** The address the port is free on; default `127.0.0.1`. */
  hostname?: string;
}

/** A TCP port that nothing listens on right now. */
export function freePort(options: FreePortOptions = {}): number {
  const listener = Deno.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: 0,
  });
  const { port } = listener.addr;
  listener.close();
  return port;
}
