/**
 * What the vault tests share: an account, a vault over either store (memory
 * on a fake clock, or the shared Redis under a fresh prefix), one test per
 * store, and the HandleError a refused redemption rejects with.
 *
 * @module
 */
import { assertRejects } from "../support/assert.ts";
import {
  announceRedisSkip,
  deleteKeysUnder,
  randomKeyPrefix,
} from "../support/redis.ts";
import {
  HandleError,
  HandleVault,
  type IssueInput,
  type RedeemTarget,
} from "../../vault/handle_vault.ts";
import type { HandleScopeRules } from "../../vault/handle_scope.ts";
import { MemoryHandleStore } from "../../vault/memory_handle_store.ts";
import type { RedisHandleStore } from "../../vault/redis_handle_store.ts";
import { Secret } from "../../vault/secret.ts";
import { sharedRedisStore } from "./_redis.ts";

/** Why the Redis cases are skipped, or null. */
export const redisSkip = await announceRedisSkip();

/** A monotonic clock that moves only when told. */
export function fakeClock(): {
  now: () => number;
  advance: (ms: number) => void;
} {
  let t = 1_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** A UnixSSH account (no Port property): ssh_execute on port 22. */
export const ACCOUNT: IssueInput = {
  secret: new Secret("S3cr3t-value-for-tests"),
  username: "root",
  address: "server01.internal",
  safe: "PROD-LINUX",
  objectName: "linux-root",
  folder: "Root",
  properties: { PolicyID: "UnixSSH" },
  principal: "alice",
};

/** A redemption for the host the account belongs to, by ssh_execute on port 22. */
export const AT_HOME: RedeemTarget = {
  host: ACCOUNT.address,
  port: 22,
  protocol: "ssh",
  principal: "alice",
};

/** What a refused redemption is for and what its message says. */
export interface Refused extends Partial<RedeemTarget> {
  /** A part of the message. */
  says?: string;
}

/** The HandleError that redeeming `handle` rejects with. */
export function refusal(
  vault: HandleVault,
  handle: string,
  refused: Refused = {},
): Promise<HandleError> {
  return assertRejects(
    () => vault.redeem(handle, targetOf(refused)),
    HandleError,
    refused.says,
  );
}

/** Vault settings a test asks for. */
export interface VaultOptions {
  singleUse?: boolean;
  hostBinding?: boolean;
  ttlSeconds?: number;
  tombstoneMs?: number;
  scopeBinding?: boolean;
  scopeRules?: HandleScopeRules;
}

/** A vault over one kind of store, and that store's clock. */
export interface Harness {
  vault: HandleVault;
  /**
   * Lets `ms` pass on the store's clock: the memory store's fake clock (then
   * a sweep). Redis runs TTLs on its own clock, so for Redis this returns at
   * once and the test waits for the outcome with `eventually()`.
   */
  elapse(ms: number): Promise<void>;
  close(): Promise<void>;
}

const STORES: {
  kind: string;
  ignore: boolean;
  make: (options: VaultOptions) => Harness;
}[] = [
  {
    kind: "memory",
    ignore: false,
    make: (options) => {
      const { vault, store, clock } = memoryVault(options);
      return {
        vault,
        elapse: (ms) => {
          clock.advance(ms);
          store.sweep();
          return Promise.resolve();
        },
        close: () => vault.close(),
      };
    },
  },
  {
    kind: "redis",
    ignore: redisSkip !== null,
    make: (options) => {
      const prefix = randomKeyPrefix();
      const store = sharedRedisStore(prefix, {
        tombstoneMs: options.tombstoneMs ?? 60_000,
      });
      const vault = vaultOver(store, options);
      return {
        vault,
        elapse: () => Promise.resolve(),
        close: async () => {
          await vault.close();
          await deleteKeysUnder(prefix);
        },
      };
    },
  },
];

export function vaultOver(
  store: MemoryHandleStore | RedisHandleStore,
  options: VaultOptions,
): HandleVault {
  return new HandleVault({
    ttlSeconds: options.ttlSeconds ?? 300,
    singleUse: options.singleUse ?? true,
    hostBinding: options.hostBinding ?? true,
    ...(options.scopeBinding === undefined
      ? {}
      : { scopeBinding: options.scopeBinding }),
    ...(options.scopeRules === undefined
      ? {}
      : { scopeRules: options.scopeRules }),
    store,
  });
}

/** Registers one test per store; `open` makes a vault that is closed after the test. */
export function vaultTest(
  name: string,
  fn: (open: (options?: VaultOptions) => Harness) => Promise<void>,
): void {
  for (const { kind, ignore, make } of STORES) {
    Deno.test({
      name: `${name} [${kind} store]`,
      ignore,
      sanitizeResources: kind === "memory",
      sanitizeOps: kind === "memory",
      fn: async () => {
        const opened: Harness[] = [];
        try {
          await fn((options = {}) => {
            const harness = make(options);
            opened.push(harness);
            return harness;
          });
        } finally {
          await Promise.all(opened.map((h) => h.close()));
        }
      },
    });
  }
}

/** A vault over a memory store that runs on a fake clock and sweeps only when asked. */
export function memoryVault(options: VaultOptions = {}): {
  vault: HandleVault;
  store: MemoryHandleStore;
  clock: ReturnType<typeof fakeClock>;
} {
  const clock = fakeClock();
  const store = new MemoryHandleStore({
    now: clock.now,
    sweepIntervalMs: 0,
    tombstoneMs: options.tombstoneMs ?? 60_000,
  });
  return { vault: vaultOver(store, options), store, clock };
}

/** The target of a refusal: {@linkcode AT_HOME} with what `refused` changes. */
export function targetOf(refused: Partial<RedeemTarget>): RedeemTarget {
  return {
    host: refused.host ?? AT_HOME.host,
    port: refused.port ?? AT_HOME.port,
    protocol: refused.protocol ?? AT_HOME.protocol,
    principal: refused.principal ?? AT_HOME.principal,
  };
}
