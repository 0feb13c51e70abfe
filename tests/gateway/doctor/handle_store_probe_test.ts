import { assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { checkHandleStore } from "../../../gateway/doctor/mod.ts";
import { RedisHandleStore } from "../../../vault/redis_handle_store.ts";
import {
  announceRedisSkip,
  randomKeyPrefix,
  SHARED_REDIS,
} from "../../support/redis.ts";
import { statusOf } from "./_doctor.ts";
import { freePort } from "../../support/free_port.ts";

const redisSkip = await announceRedisSkip();

Deno.test("checkHandleStore() passes for the memory store", async () => {
  assertEquals(
    statusOf(await checkHandleStore({ kind: "memory" }, undefined)),
    "PASS handle-store",
  );
});

Deno.test({
  name:
    "checkHandleStore() passes when Redis answers and fails when it does not",
  ignore: redisSkip !== null,
  fn: async () => {
    const connection = {
      host: SHARED_REDIS.host,
      port: SHARED_REDIS.port,
      db: 0,
      tls: false,
    };
    const setting = {
      kind: "redis" as const,
      keyPrefix: randomKeyPrefix(),
      connection,
    };
    const store = new RedisHandleStore({
      ...connection,
      keyPrefix: setting.keyPrefix,
    });
    try {
      assertEquals(
        statusOf(await checkHandleStore(setting, store)),
        "PASS handle-store",
      );
    } finally {
      await store.close();
    }
    const closedPort = freePort();
    const down = new RedisHandleStore({
      ...connection,
      port: closedPort,
      keyPrefix: setting.keyPrefix,
      connectTimeoutMs: 1000,
      commandTimeoutMs: 1000,
    });
    try {
      const result = await checkHandleStore(setting, down);
      assertEquals(statusOf(result), "FAIL handle-store");
      assertStringIncludes(result.fix ?? "", "REDIS_URL");
    } finally {
      await down.close();
    }
  },
});
