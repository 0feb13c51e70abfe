/**
 * Redis for the handle store tests: the machine's shared server
 * (127.0.0.1:6379, no password), used under a random key prefix per test, and
 * a private TLS + password instance of the tests' own for the `rediss://`
 * cases.
 *
 * When the shared server is unreachable the tests skip loudly, or fail when
 * `CI` is set (see {@linkcode announceRedisSkip}).
 *
 * @module
 */
import { Redis } from "ioredis";
import { spawnDaemon, waitForPort } from "./daemon.ts";
import { freePort } from "./free_port.ts";
import { announceSkip, fileExists } from "./skip.ts";
import { createTlsFixtures } from "./tls_fixtures.ts";

/** Where the shared server listens. */
export const SHARED_REDIS = { host: "127.0.0.1", port: 6379 } as const;

const REDIS_SERVER = "/usr/bin/redis-server";

let skipReason: Promise<string | null> | undefined;

/** Why the Redis tests cannot run here, or null. Throws under `CI`. */
export function redisSkipReason(): Promise<string | null> {
  skipReason ??= (async () => {
    const client = rawRedis();
    try {
      await client.ping();
      if (!(await fileExists(REDIS_SERVER))) {
        throw new Error(
          `${REDIS_SERVER} is missing (apt-get install redis-server)`,
        );
      }
      return null;
    } catch (error) {
      const message =
        `Redis tests skipped: Redis is not usable at ${SHARED_REDIS.host}:${SHARED_REDIS.port} (${
          error instanceof Error ? error.message : String(error)
        }); start it (redis-server --daemonize yes)`;
      if (Deno.env.get("CI")) {
        throw new Error(`${message}; CI must provide this server`);
      }
      return message;
    } finally {
      client.disconnect();
    }
  })();
  return skipReason;
}

/**
 * Prints the skip reason to stderr so a skipped suite is never silent, and
 * returns it for `Deno.test({ ignore })`.
 */
export function announceRedisSkip(): Promise<string | null> {
  return announceSkip(redisSkipReason());
}

/** A fresh key prefix, so tests never see each other's keys. */
export function randomKeyPrefix(): string {
  const hex = Array.from(
    crypto.getRandomValues(new Uint8Array(8)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  return `mcp-test:${hex}:`;
}

/** A plain client of the shared server, for looking at raw keys (disconnect it after). */
export function rawRedis(): Redis {
  return new Redis({
    host: SHARED_REDIS.host,
    port: SHARED_REDIS.port,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    lazyConnect: true,
    retryStrategy: () => null,
  });
}

/** Every key under a prefix on the shared server. */
export async function keysUnder(prefix: string): Promise<string[]> {
  const client = rawRedis();
  try {
    const found = new Set<string>();
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(
        cursor,
        "MATCH",
        `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`,
        "COUNT",
        1000,
      );
      for (const key of keys) found.add(key);
      cursor = next;
    } while (cursor !== "0");
    return [...found].sort();
  } finally {
    client.disconnect();
  }
}

/** Deletes every key under a prefix on the shared server. */
export async function deleteKeysUnder(prefix: string): Promise<void> {
  const keys = await keysUnder(prefix);
  if (keys.length === 0) return;
  const client = rawRedis();
  try {
    await client.del(...keys);
  } finally {
    client.disconnect();
  }
}

/**
 * A private Redis that speaks only TLS and checks a password; it listens on
 * 127.0.0.1 and 127.0.0.2, and its certificate names only 127.0.0.1 and
 * localhost.
 */
export interface PrivateRedis {
  host: string;
  port: number;
  password: string;
  /** PEM of the CA that signed the server certificate (for 127.0.0.1 and localhost). */
  caPem: string;
  /** PEM of a CA that did not. */
  otherCaPem: string;
  /** Path of a file holding {@linkcode PrivateRedis.caPem}. */
  caPath: string;
  stop(): Promise<void>;
}

/** Starts `redis-server` with TLS only (`--port 0`) and `requirepass`, on a free port. */
export async function startPrivateTlsRedis(): Promise<PrivateRedis> {
  const tls = createTlsFixtures();
  const other = createTlsFixtures({ caCommonName: "some other CA" });
  const dir = await Deno.makeTempDir({ prefix: "mcp-redis-" });
  const write = (name: string, text: string): string => {
    Deno.writeTextFileSync(`${dir}/${name}`, text, { mode: 0o600 });
    return `${dir}/${name}`;
  };
  const cert = write("server.pem", tls.serverCertPem);
  const key = write("server.key", tls.serverKeyPem);
  const caPath = write("ca.pem", tls.caCertPem);
  // Characters that need percent-encoding in a URL, to test REDIS_URL parsing.
  const password = `Redis-pw@:/${crypto.randomUUID()}`;
  const port = freePort();
  const redis = spawnDaemon(REDIS_SERVER, {
    args: [
      "--port",
      "0",
      "--tls-port",
      String(port),
      "--bind",
      "127.0.0.1 127.0.0.2",
      "--tls-cert-file",
      cert,
      "--tls-key-file",
      key,
      "--tls-ca-cert-file",
      caPath,
      "--tls-auth-clients",
      "no",
      "--requirepass",
      password,
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      "--logfile",
      `${dir}/redis.log`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  });
  const stop = async (): Promise<void> => {
    await redis.stop();
    await Deno.remove(dir, { recursive: true });
  };
  try {
    await waitForPort(redis, port, {
      name: "redis-server",
      log: () => Deno.readTextFile(`${dir}/redis.log`),
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    host: "127.0.0.1",
    port,
    password,
    caPem: tls.caCertPem,
    otherCaPem: other.caCertPem,
    caPath,
    stop,
  };
}
