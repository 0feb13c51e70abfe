/**
 * The handle store section: `HANDLE_STORE`, and for `redis` the connection
 * from `REDIS_URL`, `REDIS_KEY_PREFIX` and `REDIS_CA_BUNDLE` (read here,
 * once).
 *
 * @module
 */
import type { RedisConnectionOptions } from "../../vault/redis_handle_store.ts";
import { Secret } from "../../vault/secret.ts";
import { isLoopback, parseIp, unbracket } from "../ip_address.ts";
import { readOptionalCaBundle } from "./ca_bundle.ts";
import type { HandleStoreConfig } from "./config.ts";
import { ConfigError } from "./config_error.ts";
import type { EnvValues } from "./env_schema.ts";
import type { ParseContext } from "./_parse_context.ts";

/** `REDIS_KEY_PREFIX` when unset. */
export const DEFAULT_REDIS_KEY_PREFIX = "mcp-privileged:handle:";
/** The Redis port when `REDIS_URL` names none. */
export const DEFAULT_REDIS_PORT = 6379;

const REDIS_URL_HINT =
  `set it to redis://HOST:${DEFAULT_REDIS_PORT}/0, or rediss://:PASSWORD@HOST:6380/0 for TLS (the value is not shown: it may hold a password)`;

/**
 * Builds the handle store section and its warnings.
 *
 * @throws {ConfigError} for a bad REDIS_URL, REDIS_KEY_PREFIX or REDIS_CA_BUNDLE; never shows the password
 */
export function parseHandleStoreConfig(
  values: EnvValues,
  context: ParseContext,
): HandleStoreConfig {
  const { home, warnings } = context;
  const rawUrl = values.REDIS_URL?.trim() ?? "";
  const rawPrefix = values.REDIS_KEY_PREFIX?.trim() ?? "";
  const rawCa = values.REDIS_CA_BUNDLE?.trim() ?? "";
  if (values.HANDLE_STORE === "memory") {
    const unused = [
      ["REDIS_URL", rawUrl],
      ["REDIS_KEY_PREFIX", rawPrefix],
      ["REDIS_CA_BUNDLE", rawCa],
    ].filter(([, value]) => value !== "").map(([name]) => name);
    if (unused.length > 0) {
      warnings.push(
        `${
          unused.join(", ")
        } set but HANDLE_STORE=memory, so not used; set HANDLE_STORE=redis to share handles between replicas`,
      );
    }
    return { kind: "memory" };
  }
  if (rawUrl === "") {
    throw new ConfigError(
      "REDIS_URL",
      `is not set but HANDLE_STORE=redis needs it; ${REDIS_URL_HINT}`,
    );
  }
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new ConfigError("REDIS_URL", `is not a URL; ${REDIS_URL_HINT}`);
  }
  const host = unbracket(url.hostname);
  const path = url.pathname;
  const problem = url.protocol !== "redis:" && url.protocol !== "rediss:"
    ? "must start with redis:// or rediss://"
    : host === ""
    ? "has no host name"
    : url.search !== "" || url.hash !== ""
    ? "must not contain a query string or fragment"
    : !/^(\/(\d{1,5})?)?$/.test(path)
    ? "has a path that is not a database number such as /0"
    : undefined;
  if (problem !== undefined) {
    throw new ConfigError("REDIS_URL", `${problem}; ${REDIS_URL_HINT}`);
  }
  const tls = url.protocol === "rediss:";
  let username: string;
  let password: string;
  try {
    username = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  } catch {
    throw new ConfigError(
      "REDIS_URL",
      `has a user name or password with a broken %-escape; percent-encode special characters (e.g. @ as %40); ${REDIS_URL_HINT}`,
    );
  }
  const keyPrefix = rawPrefix === "" ? DEFAULT_REDIS_KEY_PREFIX : rawPrefix;
  if (!/^[A-Za-z0-9:_.\/-]{1,128}$/.test(keyPrefix)) {
    throw new ConfigError(
      "REDIS_KEY_PREFIX",
      `is "${keyPrefix}"; use 1 to 128 letters, digits and : _ . / - (default ${DEFAULT_REDIS_KEY_PREFIX}); replicas that share handles need the same prefix`,
    );
  }
  const caPem = readOptionalCaBundle("REDIS_CA_BUNDLE", {
    value: values.REDIS_CA_BUNDLE,
    home,
  });
  if (caPem !== undefined && !tls) {
    warnings.push(
      "REDIS_CA_BUNDLE is set but REDIS_URL uses redis:// (no TLS), so it is not used; use rediss://",
    );
  }
  if (!tls && !isLocalHost(host)) {
    warnings.push(
      `REDIS_URL uses redis:// to ${host}: the Redis password and the (encrypted) handle entries cross the network in clear text; use rediss://`,
    );
  }
  return {
    kind: "redis",
    keyPrefix,
    connection: {
      host,
      port: url.port === "" ? DEFAULT_REDIS_PORT : Number(url.port),
      db: path.length > 1 ? Number(path.slice(1)) : 0,
      tls,
      ...(username === "" ? {} : { username }),
      ...(password === "" ? {} : { password: new Secret(password) }),
      ...(caPem !== undefined && tls ? { caPem } : {}),
    },
  };
}

/** `localhost` or a loopback address: plain redis:// never leaves this host. */
function isLocalHost(host: string): boolean {
  const address = parseIp(host);
  return host === "localhost" ||
    (address !== undefined && isLoopback(address));
}

/** A Redis shared by the replicas: where to connect and the key prefix. */
export type SharedRedis = RedisConnectionOptions & { keyPrefix: string };

/**
 * The Redis of `HANDLE_STORE=redis`, which every store the replicas share
 * uses (handles, rate limits, approvals, console sessions); undefined with
 * the memory store.
 */
export function sharedRedis(
  handleStore: HandleStoreConfig,
): SharedRedis | undefined {
  return handleStore.kind === "redis"
    ? { ...handleStore.connection, keyPrefix: handleStore.keyPrefix }
    : undefined;
}
