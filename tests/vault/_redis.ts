/**
 * What the vault tests that use the shared Redis server have in common.
 *
 * @module
 */
import { SHARED_REDIS } from "../support/redis.ts";
import {
  RedisHandleStore,
  type RedisHandleStoreOptions,
} from "../../vault/redis_handle_store.ts";

/** A handle store on the shared Redis server (db 0, no TLS) under `prefix`. */
export function sharedRedisStore(
  prefix: string,
  options: Partial<RedisHandleStoreOptions> = {},
): RedisHandleStore {
  return new RedisHandleStore({
    host: SHARED_REDIS.host,
    port: SHARED_REDIS.port,
    db: 0,
    tls: false,
    keyPrefix: prefix,
    ...options,
  });
}
